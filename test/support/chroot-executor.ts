/**
 * An Executor for tests that need no Docker engine: the "primary" is a fresh folder holding a
 * static busybox (the layout of deckhand-test/busybox, made by images/busybox/make-rootfs.sh),
 * and every command runs in it through `chroot`. Real processes, files and signals, in process
 * groups of their own: what the runner and the steps do can be tested against it as against
 * the engine (test/executor/executor-contract.ts holds both to the same contract).
 *
 * Needs root (chroot(2), mknod for /dev/null & co.) and Debian's busybox-static (the script
 * installs it when missing). There is no /proc in the root, no network of its own and no
 * resource limits: it is a test double, not a sandbox. Interactive commands get their terminal
 * from util-linux's `script` on the host, which runs the chroot on a pseudo-terminal of its own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect as tcpConnect } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, realpath, rm } from 'node:fs/promises';
import { constants as osConstants, tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, pipeline, type Duplex, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ExecutorError,
  failedExec,
  failedInteractive,
  type ExecRequest,
  type ExecResult,
  type Executor,
  type InteractiveExec,
  type InteractiveRequest,
  type RunningExec,
  type StartupOutcome,
  type StartupScript,
} from '../../agent/executor/executor.js';
import { packagePath } from '../../agent/package-root.js';

export interface ChrootExecutorOptions {
  /** Between SIGTERM and SIGKILL when an exec is aborted. Default 10 s. */
  killGraceMs?: number;
  /** Where the root folder is made. Default: the host's temporary folder. */
  parent?: string;
}

/** The PATH of deckhand-test/busybox (scripts/build-test-images.sh), which a command gets unless its env says otherwise. */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Runs inside the root: $1 is the working directory (or empty), the rest the command. `exec`
 *  keeps the PID, so the process group's leader is the command itself. */
const WRAPPER = 'if [ -n "$1" ]; then cd -- "$1" || exit 126; fi; shift; exec "$@"';

/** The device files a job expects (redirections to /dev/null, reads of /dev/urandom). */
const DEVICES = 'mkdir -p "$1/dev" && cd "$1/dev" && mknod -m 666 null c 1 3 && mknod -m 666 zero c 1 5 && mknod -m 666 full c 1 7 && mknod -m 666 random c 1 8 && mknod -m 666 urandom c 1 9';

/** How long an aborted command's output may stay open after SIGKILL (a process that left the group holds it). */
const AFTER_KILL_MS = 5_000;

const MAKE_ROOTFS = packagePath('images', 'busybox', 'make-rootfs.sh');

let chrootBinary: string | undefined;
function chrootPath(): string {
  chrootBinary ??= ['/usr/sbin/chroot', '/usr/bin/chroot', '/sbin/chroot', '/bin/chroot'].find((p) => existsSync(p));
  if (!chrootBinary) throw new ExecutorError('the chroot executor needs the chroot command (coreutils); none in /usr/sbin, /usr/bin, /sbin or /bin');
  return chrootBinary;
}

export class ChrootExecutor implements Executor {
  private rootDir: string | undefined;
  /** The root folder made by prepare(), remembered after teardown removed it. */
  private madeRoot: string | undefined;
  private preparing: Promise<StartupOutcome | undefined> | undefined;
  private ready = false;
  private tornDown = false;
  private tearingDown: Promise<void> | undefined;
  private readonly closing = new AbortController();
  /** Every process started and not yet closed (each leads a process group of its own), with its end. */
  private readonly live = new Map<number, Promise<void>>();

  constructor(private readonly options: ChrootExecutorOptions = {}) {}

  /** The root folder on the host, once prepare() made it; still known after teardown (for tests that check it is gone). */
  get root(): string | undefined {
    return this.madeRoot;
  }

  prepare(signal?: AbortSignal, startup?: StartupScript): Promise<StartupOutcome | undefined> {
    if (this.preparing) return Promise.reject(new ExecutorError('prepare() was called twice on one executor; create a new executor per job'));
    if (this.tornDown) return Promise.reject(new ExecutorError('prepare() after teardown(); create a new executor per job'));
    const stop = signal ? AbortSignal.any([signal, this.closing.signal]) : this.closing.signal;
    this.preparing = this.start(stop, startup).catch(async (error: unknown) => {
      await this.removeEverything().catch(() => undefined);
      throw toExecutorError(error, stop.aborted ? 'cannot make the chroot: cancelled' : 'cannot make the chroot');
    });
    return this.preparing;
  }

  exec(request: ExecRequest): RunningExec {
    if (!this.ready || !this.rootDir) {
      const why = this.tornDown ? 'exec() after teardown(); create a new executor per job' : 'exec() before prepare() finished; await prepare() first';
      return failedExec(new ExecutorError(why));
    }
    return this.run(this.rootDir, request);
  }

  /**
   * Unpacked by the root's own (busybox) tar, run in the chroot as the engine unpacks in the
   * container's scope: the host's tar, run as root, would follow a symlink already in the root
   * that an entry's path passes through, and an absolute one leads out of the root.
   */
  /**
   * With a terminal, `script` (util-linux) holds the pseudo-terminal's master on the host and runs
   * the chroot in a session on its slave; resizes are `stty -F` on that slave from the host, which
   * makes the kernel send SIGWINCH as a terminal emulator's resize does. The command records its
   * PID in the root, and signals go to that PID's process group.
   */
  interact(request: InteractiveRequest): InteractiveExec {
    const stdin = new PassThrough();
    if (!this.ready || !this.rootDir) {
      const why = this.tornDown ? 'interact() after teardown(); create a new executor per job' : 'interact() before prepare() finished; await prepare() first';
      return failedInteractive(new ExecutorError(why));
    }
    const root = this.rootDir;
    const stdout = new PassThrough({ highWaterMark: 1 << 20 });
    const stderr = new PassThrough({ highWaterMark: 1 << 20 });
    const never = { stdin, resize: async () => undefined, close: async () => undefined };
    if (request.command.length === 0) return failedInteractive(new ExecutorError('cannot run an empty command; give at least the program to run'));
    let user: Account;
    try {
      user = lookUpUser(root, request.user);
    } catch (error) {
      stderr.write(`${(error as Error).message}\n`);
      return { ...finished(stdout, stderr, Promise.resolve({ exitCode: 126, aborted: false })), ...never };
    }
    const pidFile = `/tmp/.deckhand-interactive-${randomBytes(6).toString('hex')}.pid`;
    const tty = request.tty;
    const stty = tty ? `stty rows ${Math.trunc(tty.rows)} cols ${Math.trunc(tty.columns)} 2>/dev/null; ` : '';
    const chrootArgs = [
      ...(user.uid === 0 && user.gid === 0 ? [] : [`--userspec=${user.uid}:${user.gid}`, `--groups=${user.gid}`]),
      root,
      '/bin/sh',
      '-c',
      `echo $$ > ${pidFile}; ${stty}${WRAPPER}`,
      'sh',
      request.workingDirectory ?? '',
      ...request.command,
    ];
    const env = { PATH: DEFAULT_PATH, HOME: user.home, ...request.env, ...(tty ? { TERM: tty.term } : {}) };
    const child = tty
      ? this.spawnTracked('script', ['-q', '-e', '-c', `exec ${[chrootPath(), ...chrootArgs].map(shellWord).join(' ')}`, '/dev/null'], { ...env, SHELL: '/bin/sh' }, true)
      : this.spawnTracked(chrootPath(), chrootArgs, env, true);
    if (child.stdin) stdin.pipe(child.stdin);
    child.stdout?.pipe(stdout, { end: false });
    child.stderr?.pipe(stderr, { end: false });
    let done = false;
    const exit = new Promise<ExecResult>((resolve, reject) => {
      child.once('error', (error) => reject(new ExecutorError(`cannot run "${request.command.join(' ')}" in the chroot: ${error.message}`)));
      child.once('close', (code, signalName) => resolve({ exitCode: code ?? (signalName ? 128 + (osConstants.signals[signalName] ?? 0) : -1), aborted: false }));
    }).finally(() => {
      done = true;
      stdin.unpipe();
    });
    // the process group the command leads (its own session under `script`)
    const group = async (): Promise<number | undefined> => {
      for (let i = 0; i < 50 && !done; i++) {
        const pid = Number((await readFile(path.join(root, pidFile), 'utf8').catch(() => '')).trim());
        if (pid > 0) {
          const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
          // fields after the command's name in parentheses: state, ppid, pgrp
          const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
          return pgrp > 0 ? pgrp : undefined;
        }
        await sleep(20);
      }
      return undefined;
    };
    const signal = async (name: NodeJS.Signals): Promise<void> => {
      const pgrp = done ? undefined : await group();
      if (pgrp !== undefined && !done) killGroup(pgrp, name);
    };
    let closing: Promise<void> | undefined;
    const grace = this.options.killGraceMs ?? 10_000;
    const settled = finished(stdout, stderr, exit, signal);
    return {
      ...settled,
      stdin,
      async resize(size) {
        if (!tty || done) return;
        const pid = Number((await readFile(path.join(root, pidFile), 'utf8').catch(() => '')).trim());
        if (!(pid > 0)) return;
        await new Promise<void>((resolve) => {
          spawn('stty', ['-F', `/proc/${pid}/fd/0`, 'rows', String(Math.trunc(size.rows)), 'cols', String(Math.trunc(size.columns))], { stdio: 'ignore' })
            .once('close', () => resolve())
            .once('error', () => resolve());
        });
      },
      close() {
        closing ??= (async () => {
          const ended = settled.exit.then(
            () => true,
            () => true,
          );
          await signal('SIGHUP');
          if (await Promise.race([ended, sleep(grace, false)])) return;
          await signal('SIGKILL');
          killGroup(child.pid, 'SIGKILL');
          await ended;
        })();
        return closing;
      },
    };
  }

  /** The chroot shares the host's network: the job's ports are the host's loopback ports. */
  async connect(host: string, port: number, signal?: AbortSignal): Promise<Duplex> {
    this.requireRoot('connect');
    if (!['localhost', '127.0.0.1', '::1'].includes(host)) throw new ExecutorError(`cannot connect to ${host}:${port}: the chroot reaches only localhost`);
    return new Promise((resolve, reject) => {
      const socket = tcpConnect({ host: '127.0.0.1', port });
      const onAbort = (): void => {
        socket.destroy();
        reject(new ExecutorError(`cannot connect to ${host}:${port}: cancelled`));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      socket.once('connect', () => {
        signal?.removeEventListener('abort', onAbort);
        socket.removeAllListeners('error');
        socket.on('error', () => undefined);
        resolve(socket);
      });
      socket.once('error', (error) => {
        signal?.removeEventListener('abort', onAbort);
        reject(new ExecutorError(`cannot connect to ${host}:${port} in the chroot: ${error.message}`));
      });
    });
  }

  async copyIn(destinationDir: string, tar: Readable, signal?: AbortSignal): Promise<void> {
    const root = this.requireRoot('copyIn');
    // Take hold of the stream before the first await: a child process's stdout that nobody
    // reads is drained and discarded when it exits.
    const body = new PassThrough({ highWaterMark: 1 << 20 });
    const sourceFailed = new AbortController();
    pipeline(tar, body, (error) => {
      if (error) sourceFailed.abort(error);
    });
    const where = `cannot copy into ${destinationDir} of the chroot`;
    try {
      const target = await resolveInRoot(root, destinationDir, true);
      await mkdir(target, { recursive: true }).catch((error: NodeJS.ErrnoException) => {
        throw new ExecutorError(`${where}: ${error.code === 'EEXIST' || error.code === 'ENOTDIR' ? 'not a directory' : error.message}`);
      });
      const inside = `/${path.relative(root, target)}`;
      await this.host(chrootPath(), [root, '/bin/tar', '-x', '--numeric-owner', '-f', '-', '-C', inside], {
        stdin: body,
        signal: signal ? AbortSignal.any([signal, sourceFailed.signal, this.closing.signal]) : AbortSignal.any([sourceFailed.signal, this.closing.signal]),
        what: where,
      });
    } catch (error) {
      body.destroy();
      if (sourceFailed.signal.aborted && !signal?.aborted) {
        const reason: unknown = sourceFailed.signal.reason;
        throw new ExecutorError(`${where}: the archive could not be read: ${reason instanceof Error ? reason.message : String(reason)}`);
      }
      throw toExecutorError(error, where);
    }
  }

  async copyOut(sourcePath: string, signal?: AbortSignal): Promise<Readable> {
    const root = this.requireRoot('copyOut');
    const where = `cannot copy ${sourcePath} out of the chroot`;
    const target = await resolveInRoot(root, sourcePath, false);
    try {
      await lstat(target);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new ExecutorError(`${where}: no such file or directory`);
      throw toExecutorError(error, where);
    }
    const [dir, base] = target === root ? [root, '.'] : [path.dirname(target), path.basename(target)];
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    const child = this.spawnTracked('tar', ['-c', '--numeric-owner', '-C', dir, '--', base], { LC_ALL: 'C' });
    const errors: Buffer[] = [];
    child.stderr?.on('data', (chunk: Buffer) => errors.push(chunk));
    child.stdout?.pipe(out, { end: false });
    const stop = signal ? AbortSignal.any([signal, this.closing.signal]) : this.closing.signal;
    const onAbort = (): void => killGroup(child.pid, 'SIGKILL');
    stop.addEventListener('abort', onAbort, { once: true });
    child.on('error', (error) => out.destroy(new ExecutorError(`${where}: ${error.message}`)));
    child.on('close', (code) => {
      stop.removeEventListener('abort', onAbort);
      // GNU tar: 1 is "a file changed as it was read", not a failure
      if (stop.aborted) out.destroy(new ExecutorError(`${where}: cancelled`));
      else if (code !== 0 && code !== 1) out.destroy(new ExecutorError(`${where}: ${oneLine(Buffer.concat(errors)) || `tar exited with ${code}`}`));
      else out.end();
    });
    return out;
  }

  async exists(containerPath: string): Promise<boolean> {
    const root = this.requireRoot('exists');
    try {
      await lstat(await resolveInRoot(root, containerPath, false));
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return false;
      throw toExecutorError(error, `cannot look up ${containerPath} in the chroot`);
    }
  }

  teardown(): Promise<void> {
    this.tearingDown ??= this.tearDown().finally(() => {
      this.tearingDown = undefined;
    });
    return this.tearingDown;
  }

  private async tearDown(): Promise<void> {
    this.tornDown = true;
    this.ready = false;
    this.closing.abort();
    // everything goes: no grace period for a startup script still running
    for (const pid of this.live.keys()) killGroup(pid, 'SIGKILL');
    await this.preparing?.catch(() => undefined);
    await this.removeEverything();
  }

  /** Kills every process this executor started or that runs in its root, waits for them, removes the root. */
  private async removeEverything(): Promise<void> {
    this.ready = false;
    const root = this.rootDir;
    for (let round = 0; ; round++) {
      for (const pid of this.live.keys()) killGroup(pid, 'SIGKILL');
      // a process that made a session of its own has left its group, but not the root
      const strays = root ? await processesRootedAt(root) : [];
      for (const pid of strays) killPid(pid, 'SIGKILL');
      const ends = [...this.live.values()];
      if (ends.length === 0 && strays.length === 0) break;
      if (round >= 100) throw new ExecutorError(`cannot remove the chroot ${root ?? ''}: processes ${[...this.live.keys(), ...strays].join(', ')} survive SIGKILL`);
      await Promise.race([Promise.all(ends), sleep(100)]);
    }
    if (root) {
      await rm(root, { recursive: true, force: true, maxRetries: 3 });
      this.rootDir = undefined;
    }
  }

  private async start(signal: AbortSignal, startup: StartupScript | undefined): Promise<StartupOutcome | undefined> {
    if (process.getuid?.() !== 0) throw new ExecutorError('the chroot executor needs root (chroot and mknod); run the tests as root');
    chrootPath();
    signal.throwIfAborted();
    const root = await realpath(await mkdtemp(path.join(this.options.parent ?? tmpdir(), 'deckhand-chroot-')));
    this.rootDir = root;
    this.madeRoot = root;
    signal.throwIfAborted();
    // mkdtemp makes it 0700: other users of `user:` could not even reach /bin/sh
    await chmod(root, 0o755);
    await this.host('bash', [MAKE_ROOTFS, root], { signal, what: `cannot lay out a busybox root in ${root} (${MAKE_ROOTFS})` });
    await this.host('sh', ['-c', DEVICES, 'sh', root], { signal, what: `cannot make the device files in ${root}/dev` });
    signal.throwIfAborted();
    let outcome: StartupOutcome | undefined;
    if (startup) {
      // stdout and stderr together, as the Docker executor reads them from the container's output
      const run = this.run(root, { command: ['/bin/sh', '-c', '/bin/sh -c "$0" sh "$@" 2>&1', startup.script, ...startup.args], signal });
      const [output] = await Promise.all([readText(run.stdout), readText(run.stderr)]);
      const result = await run.exit;
      if (result.aborted) throw new ExecutorError('cannot make the chroot: cancelled');
      outcome = { exitCode: result.exitCode, output };
    }
    signal.throwIfAborted();
    this.ready = true;
    return outcome;
  }

  private run(root: string, request: ExecRequest): RunningExec {
    if (request.command.length === 0) return failedExec(new ExecutorError('cannot run an empty command; give at least the program to run'));
    const stdout = new PassThrough({ highWaterMark: 1 << 20 });
    const stderr = new PassThrough({ highWaterMark: 1 << 20 });
    if (request.signal?.aborted) return finished(stdout, stderr, Promise.resolve({ exitCode: -1, aborted: true }));

    let user: Account;
    try {
      user = lookUpUser(root, request.user);
    } catch (error) {
      // as the engine does: the command fails with 126 and says why
      stderr.write(`${(error as Error).message}\n`);
      return finished(stdout, stderr, Promise.resolve({ exitCode: 126, aborted: false }));
    }
    const args = [
      ...(user.uid === 0 && user.gid === 0 ? [] : [`--userspec=${user.uid}:${user.gid}`, `--groups=${user.gid}`]),
      root,
      '/bin/sh',
      '-c',
      WRAPPER,
      'sh',
      request.workingDirectory ?? '',
      ...request.command,
    ];
    const child = this.spawnTracked(chrootPath(), args, { PATH: DEFAULT_PATH, HOME: user.home, ...request.env });
    const pid = child.pid;
    child.stdout?.pipe(stdout, { end: false });
    child.stderr?.pipe(stderr, { end: false });

    let done = false;
    let aborted = false;
    const timers: NodeJS.Timeout[] = [];
    const onAbort = (): void => {
      if (done) return;
      aborted = true;
      killGroup(pid, 'SIGTERM');
      timers.push(
        setTimeout(() => {
          killGroup(pid, 'SIGKILL');
          // a process that left the group may hold the output open: stop waiting for it
          timers.push(
            setTimeout(() => {
              child.stdout?.destroy();
              child.stderr?.destroy();
            }, AFTER_KILL_MS).unref(),
          );
        }, this.options.killGraceMs ?? 10_000).unref(),
      );
    };
    request.signal?.addEventListener('abort', onAbort, { once: true });

    const exit = new Promise<ExecResult>((resolve, reject) => {
      child.once('error', (error) => reject(new ExecutorError(`cannot run "${request.command.join(' ')}" in the chroot: ${error.message}`)));
      child.once('close', (code, signalName) => {
        const exitCode = code ?? (signalName ? 128 + (osConstants.signals[signalName] ?? 0) : -1);
        resolve({ exitCode, aborted });
      });
    }).finally(() => {
      done = true;
      request.signal?.removeEventListener('abort', onAbort);
      timers.forEach(clearTimeout);
    });

    const signal = async (name: NodeJS.Signals): Promise<void> => {
      if (!done) killGroup(pid, name);
    };
    return finished(stdout, stderr, exit, signal);
  }

  /** A process of the host, in a process group of its own, remembered until it has closed. Its
   *  stdin is /dev/null unless `input` (as an exec's in a container, which gets no stdin). */
  private spawnTracked(command: string, args: string[], env: Record<string, string>, input = false): ChildProcess {
    const child = spawn(command, args, { detached: true, env, stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    child.stdin?.on('error', () => undefined);
    const pid = child.pid;
    if (pid !== undefined) {
      this.live.set(
        pid,
        new Promise<void>((resolve) => {
          child.once('close', () => {
            this.live.delete(pid);
            resolve();
          });
          child.once('error', () => {
            this.live.delete(pid);
            resolve();
          });
        }),
      );
    } else {
      child.on('error', () => undefined);
    }
    return child;
  }

  /** Runs a host command to its end; rejects with ExecutorError (its stderr in one line) unless it exits 0. */
  private async host(command: string, args: string[], opts: { signal: AbortSignal; what: string; stdin?: Readable }): Promise<void> {
    opts.signal.throwIfAborted();
    const child = this.spawnTracked(command, args, { PATH: process.env.PATH ?? DEFAULT_PATH, LC_ALL: 'C' }, opts.stdin !== undefined);
    const errors: Buffer[] = [];
    child.stdout?.resume();
    child.stderr?.on('data', (chunk: Buffer) => errors.push(chunk));
    if (opts.stdin && child.stdin) opts.stdin.pipe(child.stdin);
    const onAbort = (): void => killGroup(child.pid, 'SIGKILL');
    opts.signal.addEventListener('abort', onAbort, { once: true });
    try {
      const code = await new Promise<number | null>((resolve, reject) => {
        child.once('error', reject);
        child.once('close', resolve);
      });
      if (opts.signal.aborted) throw new ExecutorError(`${opts.what}: cancelled`);
      if (code !== 0) throw new ExecutorError(`${opts.what}: ${oneLine(Buffer.concat(errors)) || `${command} exited with ${code}`}`);
    } finally {
      opts.signal.removeEventListener('abort', onAbort);
      opts.stdin?.unpipe();
    }
  }

  private requireRoot(operation: string): string {
    if (!this.ready || !this.rootDir) {
      throw new ExecutorError(this.tornDown ? `${operation}() after teardown(); create a new executor per job` : `${operation}() before prepare() finished; await prepare() first`);
    }
    return this.rootDir;
  }
}

/** The processes whose root folder is `root` or lies inside it (what runs in a chroot there). */
export async function processesRootedAt(root: string): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const link = await readlink(`/proc/${name}/root`);
      if (link === root || link.startsWith(`${root}/`) || link === `${root} (deleted)`) found.push(Number(name));
    } catch {
      // gone meanwhile, or a kernel thread
    }
  }
  return found;
}

interface Account {
  uid: number;
  gid: number;
  home: string;
}

/**
 * `user`, `uid`, `user:group` or `uid:gid`, looked up in the root's /etc/passwd and /etc/group
 * (numbers need no entry). Default root. The home folder is the passwd entry's, else `/`.
 */
function lookUpUser(root: string, spec: string | undefined): Account {
  if (!spec) return { uid: 0, gid: 0, home: '/root' };
  const [userPart, groupPart] = spec.split(':', 2) as [string, string | undefined];
  const passwd = readTable(path.join(root, 'etc/passwd'));
  const entry = passwd.find((fields) => (/^\d+$/.test(userPart) ? fields[2] === userPart : fields[0] === userPart));
  if (!entry && !/^\d+$/.test(userPart)) throw new ExecutorError(`unable to find user ${userPart}: no matching entries in passwd file`);
  const uid = Number(entry ? entry[2] : userPart);
  let gid = entry ? Number(entry[3]) : uid;
  if (groupPart !== undefined) {
    if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else {
      const group = readTable(path.join(root, 'etc/group')).find((fields) => fields[0] === groupPart);
      if (!group) throw new ExecutorError(`unable to find group ${groupPart}: no matching entries in group file`);
      gid = Number(group[2]);
    }
  }
  return { uid, gid, home: entry?.[5] || '/' };
}

function readTable(file: string): string[][] {
  let text: string;
  try {
    // synchronous on purpose: exec() starts its command before it returns
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => line.split(':'));
}

/**
 * The host path of `containerPath` in `root`, resolving symlinks as the chroot would: an
 * absolute link starts again from `root`, and `..` never climbs above it. The last component
 * is followed only when `followLast` (exists/copyOut look at a link itself, as the engine does).
 * Components that do not exist are kept as written.
 */
export async function resolveInRoot(root: string, containerPath: string, followLast: boolean): Promise<string> {
  const pending = containerPath.split('/').filter((part) => part !== '' && part !== '.');
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    if (pending.length === 0 && !followLast) {
      resolved.push(part);
      break;
    }
    const host = path.join(root, ...resolved, part);
    let target: string | undefined;
    try {
      if ((await lstat(host)).isSymbolicLink()) target = await readlink(host);
    } catch {
      // missing: the rest is taken as written
    }
    if (target === undefined) {
      resolved.push(part);
      continue;
    }
    if (++links > 40) throw new ExecutorError(`cannot resolve ${containerPath} in the chroot: too many levels of symbolic links`);
    if (target.startsWith('/')) resolved.length = 0;
    pending.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
  }
  return path.join(root, ...resolved);
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid !== undefined) killPid(-pid, signal);
}

function killPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Streams that end once `exit` settles; the caller reads them before it looks at `exit`. */
function finished(stdout: PassThrough, stderr: PassThrough, exit: Promise<ExecResult>, signal: RunningExec['signal'] = async () => undefined): RunningExec {
  const settled = exit.finally(() => {
    stdout.end();
    stderr.end();
  });
  settled.catch(() => undefined);
  return { stdout, stderr, exit: settled, signal };
}


async function readText(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** A word for the host's sh (script runs its command through one). */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

function oneLine(text: Buffer): string {
  return text.toString('utf8').replace(/\s+/g, ' ').trim();
}

function toExecutorError(error: unknown, what: string): ExecutorError {
  if (error instanceof ExecutorError) return error;
  if (error instanceof Error && error.name === 'AbortError') return new ExecutorError(`${what}: cancelled`);
  return new ExecutorError(`${what}: ${error instanceof Error ? error.message : String(error)}`);
}
