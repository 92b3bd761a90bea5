/**
 * The Executor contract (agent/executor/executor.ts) as tests, run against every implementation:
 * the Docker executor on a real engine (docker/contract.test.ts), the machine executor over SSH
 * (machine/contract.test.ts) and the chroot test double (chroot-contract.test.ts), so that what the runner's tests learn from the double holds for
 * the engine. Exit codes, byte-exact and separate output streams, env and working directory,
 * signals and abort with its grace period, tar in and out, exists, interactive commands (stdin,
 * a terminal, resize, Ctrl-C, hang-up), TCP connections into the job, the lifecycle around
 * prepare/teardown, and the startup script.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import tar from 'tar-stream';
import { ExecutorError, type Executor, type RunningExec, type StartupScript } from '../../agent/executor/executor.js';

/** The grace period between SIGTERM and SIGKILL that the factory must give its executor. */
export const CONTRACT_KILL_GRACE_MS = 1500;
/** What an abort may take beyond the grace period (a loaded machine, the engine's round trips). */
const SLACK_MS = 5000;

export interface ExecutorUnderTest {
  executor: Executor;
  /** What of the executor is still on the machine (containers, folders, processes), one line
   *  each; empty when nothing. Meaningful once prepare() has been called. */
  leftovers(): Promise<string[]>;
  /** Where the executor knowingly differs from a container's defaults; absent: as Docker does. */
  differences?: ExecutorDifferences;
}

export interface ExecutorDifferences {
  /** the folder a command starts in without a workingDirectory (Docker: the image's, `/` for busybox) */
  defaultDirectory?: string;
  /** `user: 'uid:gid'` keeps the user's own supplementary groups (sudo does), where Docker gives gid alone */
  userGroupKeepsOwnGroups?: boolean;
}

export interface ContractSettings {
  killGraceMs: number;
}

interface Collected {
  exitCode: number;
  aborted: boolean;
  stdout: Buffer;
  stderr: Buffer;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Both streams to their end, then the exit. */
async function collect(run: RunningExec): Promise<Collected> {
  const [stdout, stderr] = await Promise.all([readAll(run.stdout), readAll(run.stderr)]);
  return { ...(await run.exit), stdout, stderr };
}

const sh = (script: string): string[] => ['/bin/sh', '-c', script];

async function shell(executor: Executor, script: string): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const r = await collect(executor.exec({ command: sh(script) }));
  return { exitCode: r.exitCode, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
}

/** Reads `stream` until `text` has appeared, keeping what came; the rest is read by `rest()`. */
function watch(stream: Readable): { seen(text: string): Promise<void>; rest(): Promise<string> } {
  let buffer = '';
  const waiters: (() => void)[] = [];
  const ended = new Promise<void>((resolve) => {
    stream.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      waiters.splice(0).forEach((wake) => wake());
    });
    stream.once('end', resolve);
    stream.once('close', resolve);
  });
  return {
    async seen(text) {
      const deadline = Date.now() + 20_000;
      while (!buffer.includes(text)) {
        if (Date.now() > deadline) assert.fail(`"${text}" did not appear in 20 s; got ${JSON.stringify(buffer)}`);
        await Promise.race([new Promise<void>((resolve) => waiters.push(resolve)), ended, new Promise((resolve) => setTimeout(resolve, 200))]);
      }
    },
    async rest() {
      await ended;
      return buffer;
    },
  };
}

/** Settles `promise` or fails the test after `ms`, so that a broken signal path fails rather than hangs. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not end within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

async function rejectsWithExecutorError(promise: Promise<unknown>, pattern?: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ExecutorError, `expected an ExecutorError, got ${String(error)}`);
    assert.doesNotMatch(error.message, /\n/, 'the message is one line');
    if (pattern) assert.match(error.message, pattern);
    return true;
  });
}

interface TarEntry {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  linkname?: string;
  body: Buffer;
}

async function untar(stream: Readable): Promise<Map<string, TarEntry>> {
  const extract = tar.extract();
  const entries = new Map<string, TarEntry>();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, body, next) => {
      const chunks: Buffer[] = [];
      body.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
      body.on('end', () => {
        const name = header.name.replace(/\/$/, '');
        entries.set(name, {
          name,
          type: header.type ?? 'file',
          mode: (header.mode ?? 0) & 0o7777,
          uid: header.uid ?? -1,
          gid: header.gid ?? -1,
          ...(header.linkname ? { linkname: header.linkname } : {}),
          body: Buffer.concat(chunks),
        });
        next();
      });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
    stream.on('error', reject);
  });
  stream.pipe(extract);
  await done;
  return entries;
}

/** A tar stream made with tar-stream: a file, a directory with an executable in it, a symlink,
 *  an owned file, and modes other than the defaults. */
function sampleTar(): Readable {
  const pack = tar.pack();
  const common = { uid: 0, gid: 0, mtime: new Date('2024-01-02T03:04:05Z') };
  const file = (name: string, text: string, mode: number, owner = {}): void => {
    pack.entry({ ...common, ...owner, name, type: 'file', mode, size: Buffer.byteLength(text) }, text);
  };
  file('hello.txt', 'hello, executor\n', 0o640);
  pack.entry({ ...common, name: 'bin/', type: 'directory', mode: 0o750 });
  file('bin/run.sh', '#!/bin/sh\necho ran "$@"\n', 0o755);
  pack.entry({ ...common, name: 'link', type: 'symlink', mode: 0o777, linkname: 'hello.txt' });
  file('owned.txt', 'mine\n', 0o600, { uid: 1000, gid: 1000 });
  pack.finalize();
  return Readable.from(pack, { objectMode: false });
}

/** 5 MiB of every byte value in a fixed pseudo-random order, as a shell would get it from a file. */
function binaryBlob(): Buffer {
  const blob = Buffer.alloc(5 * 1024 * 1024);
  for (let at = 0, n = 0; at < blob.length; n++) at += createHash('sha512').update(String(n)).digest().copy(blob, at);
  return blob;
}

function tarOf(name: string, body: Buffer): Readable {
  const pack = tar.pack();
  pack.entry({ name, type: 'file', mode: 0o644, size: body.length, uid: 0, gid: 0 }, body);
  pack.finalize();
  return Readable.from(pack, { objectMode: false });
}

/**
 * Registers the contract tests. `make()` gives a fresh, unprepared executor of the kind under
 * test, built with the settings given (its abort grace period), and a way to see what it leaves.
 */
export function executorContract(make: (settings: ContractSettings) => ExecutorUnderTest): void {
  const settings: ContractSettings = { killGraceMs: CONTRACT_KILL_GRACE_MS };

  describe('a prepared executor', () => {
    let subject: ExecutorUnderTest;
    let executor: Executor;
    let differences: ExecutorDifferences = {};
    before(async () => {
      subject = make(settings);
      executor = subject.executor;
      differences = subject.differences ?? {};
      await executor.prepare();
    });
    after(async () => {
      await executor?.teardown();
      assert.deepEqual(await subject.leftovers(), []);
    });

    test('exec reports exit codes 0, 1 and 42, and what echo printed', async () => {
      const echo = await collect(executor.exec({ command: ['echo', 'hello', 'two words'] }));
      assert.deepEqual([echo.stdout.toString(), echo.stderr.toString(), echo.exitCode, echo.aborted], ['hello two words\n', '', 0, false]);
      assert.equal((await collect(executor.exec({ command: ['false'] }))).exitCode, 1);
      assert.equal((await collect(executor.exec({ command: sh('exit 42') }))).exitCode, 42);
      const missing = await collect(executor.exec({ command: ['no-such-program-here'] }));
      assert.equal(missing.exitCode, 127);
      assert.match(missing.stderr.toString(), /no-such-program-here/);
    });

    test('a command reads an empty stdin rather than waiting for one', async () => {
      const r = await within(SLACK_MS * 2, 'a command reading stdin', collect(executor.exec({ command: sh('wc -c | tr -d " "; echo "read $?"') })));
      assert.deepEqual([r.stdout.toString(), r.exitCode], ['0\nread 0\n', 0]);
    });

    test('stdout and stderr are kept apart, byte for byte, with no newline added', async () => {
      const r = await collect(executor.exec({ command: sh('printf out; printf err >&2; printf " more"; printf "\\001\\000\\377" >&2') }));
      assert.deepEqual(r.stdout, Buffer.from('out more'));
      assert.deepEqual(r.stderr, Buffer.from([0x65, 0x72, 0x72, 1, 0, 255]));
      assert.equal(r.exitCode, 0);
    });

    test('5 MiB of binary output on each stream arrives unchanged', async () => {
      const blob = binaryBlob();
      await executor.copyIn('/tmp/contract-blob', tarOf('blob.bin', blob));
      const r = await collect(executor.exec({ command: sh('cat /tmp/contract-blob/blob.bin; cat /tmp/contract-blob/blob.bin >&2; printf end') }));
      assert.equal(r.exitCode, 0);
      const digest = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
      assert.equal(r.stdout.length, blob.length + 3);
      assert.equal(digest(r.stdout), digest(Buffer.concat([blob, Buffer.from('end')])));
      assert.equal(r.stderr.length, blob.length);
      assert.equal(digest(r.stderr), digest(blob));
    });

    test("a request's env and workingDirectory apply to that command only", async () => {
      process.env.DECKHAND_CONTRACT_HOST_ONLY = 'host';
      try {
        const r = await collect(
          executor.exec({
            command: sh('printf "%s|%s|%s|%s|%s" "$GREETING" "$ODD" "$(pwd)" "$HOME" "${DECKHAND_CONTRACT_HOST_ONLY-unset}"'),
            env: { GREETING: 'hello there', ODD: 'a=b\nc "d" $e' },
            workingDirectory: '/etc',
          }),
        );
        assert.equal(r.stdout.toString(), 'hello there|a=b\nc "d" $e|/etc|/root|unset', "the host's environment must not leak in");
        const plain = await collect(executor.exec({ command: sh('printf "%s|%s" "${GREETING-unset}" "$(pwd)"') }));
        assert.equal(plain.stdout.toString(), `unset|${differences.defaultDirectory ?? '/'}`);
        const path = await collect(executor.exec({ command: sh('printf %s "$PATH"'), env: { PATH: '/bin:/opt/x' } }));
        assert.equal(path.stdout.toString(), '/bin:/opt/x', 'a PATH in env replaces the default');
      } finally {
        delete process.env.DECKHAND_CONTRACT_HOST_ONLY;
      }
    });

    test("a request's user runs the command, with that user's home", async () => {
      const asUser = await collect(executor.exec({ command: sh('printf "%s|%s|%s" "$(id -u)" "$(id -g)" "$HOME"'), user: 'user' }));
      assert.equal(asUser.stdout.toString(), '1000|1000|/home/user');
      const withGroup = await collect(executor.exec({ command: sh('printf "%s|%s|%s" "$(id -u)" "$(id -G)" "$HOME"'), user: '1000:0' }));
      assert.equal(withGroup.stdout.toString(), differences.userGroupKeepsOwnGroups ? '1000|0 1000|/home/user' : '1000|0|/home/user');
      const asRoot = await collect(executor.exec({ command: ['id', '-u'] }));
      assert.equal(asRoot.stdout.toString(), '0\n', 'the user must not stick to later commands');
    });

    test('a missing working directory or user fails the command with 126, naming it', async () => {
      const noDir = await collect(executor.exec({ command: ['pwd'], workingDirectory: '/does/not/exist' }));
      assert.equal(noDir.exitCode, 126);
      assert.match(noDir.stdout.toString() + noDir.stderr.toString(), /\/does\/not\/exist/);
      const noUser = await collect(executor.exec({ command: ['id'], user: 'nosuchuser' }));
      assert.equal(noUser.exitCode, 126);
      assert.match(noUser.stdout.toString() + noUser.stderr.toString(), /nosuchuser/);
    });

    test('a command killed by signal n exits with 128+n', async () => {
      assert.equal((await collect(executor.exec({ command: sh('kill -s KILL $$; sleep 5') }))).exitCode, 137);
      assert.equal((await collect(executor.exec({ command: sh('kill -s USR1 $$; sleep 5') }))).exitCode, 138);
    });

    test('abort ends a sleep 60 at once with SIGTERM, and says aborted; its children go too', async () => {
      const abort = new AbortController();
      const run = executor.exec({ command: sh('(sleep 1; echo outlived > /tmp/contract-orphan) & echo started; exec sleep 60'), signal: abort.signal });
      const out = watch(run.stdout);
      const err = readAll(run.stderr);
      await out.seen('started');
      const t0 = Date.now();
      abort.abort();
      const result = await within(settings.killGraceMs + SLACK_MS, 'the aborted sleep', run.exit);
      await Promise.all([out.rest(), err]);
      const took = Date.now() - t0;
      assert.deepEqual(result, { exitCode: 143, aborted: true });
      assert.ok(took < settings.killGraceMs + SLACK_MS, `took ${took} ms`);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.equal(await executor.exists('/tmp/contract-orphan'), false, 'the background child must have got SIGTERM too');
    });

    test('abort at once, as the command starts, still ends it', async () => {
      const abort = new AbortController();
      const run = executor.exec({ command: ['sleep', '60'], signal: abort.signal });
      abort.abort();
      const result = await within(settings.killGraceMs + SLACK_MS, 'the sleep aborted at its start', collect(run));
      assert.equal(result.aborted, true);
    });

    test('abort: a command that traps SIGTERM gets it first, and SIGKILL after the grace period', async () => {
      const abort = new AbortController();
      const run = executor.exec({
        command: sh("trap 'echo got TERM' TERM; echo ready; while :; do sleep 0.1; done"),
        signal: abort.signal,
      });
      const out = watch(run.stdout);
      const err = readAll(run.stderr);
      await out.seen('ready');
      const t0 = Date.now();
      abort.abort();
      await out.seen('got TERM');
      const result = await within(settings.killGraceMs + SLACK_MS, 'the command that ignores SIGTERM', run.exit);
      const took = Date.now() - t0;
      assert.equal(await out.rest(), 'ready\ngot TERM\n');
      await err;
      assert.deepEqual(result, { exitCode: 137, aborted: true });
      assert.ok(took >= settings.killGraceMs - 50, `SIGKILL came after ${took} ms, before the grace period of ${settings.killGraceMs} ms`);
    });

    test('an already aborted signal runs nothing', async () => {
      const result = await collect(executor.exec({ command: ['touch', '/tmp/contract-must-not-exist'], signal: AbortSignal.abort() }));
      assert.equal(result.aborted, true);
      assert.equal(await executor.exists('/tmp/contract-must-not-exist'), false);
    });

    test("signal('SIGINT') reaches the whole process group", async () => {
      // the child runs in the foreground: only a signal to the group reaches it, and the
      // parent, waiting for it, gets it too (its trap runs once the child has gone)
      const run = executor.exec({
        command: sh(`trap 'echo parent got INT; exit 42' INT; /bin/sh -c 'trap "echo child got INT; exit 7" INT; echo ready; while :; do sleep 0.1; done'; echo "child ended with $?"`),
      });
      const out = watch(run.stdout);
      const err = readAll(run.stderr);
      await out.seen('ready');
      await run.signal('SIGINT');
      const result = await within(SLACK_MS * 2, 'the signalled command', run.exit);
      const text = await out.rest();
      await err;
      assert.match(text, /child got INT/);
      assert.match(text, /parent got INT/);
      assert.equal(result.exitCode, 42);
      await run.signal('SIGINT'); // the command has ended: nothing to signal, and no failure
    });

    test('signal() delivers a signal once', async () => {
      // A busy loop of builtins runs the trap soon after a delivery. Two deliveries a moment
      // apart may still merge into one pending signal, so this can miss a double delivery;
      // docker/signaller.test.ts checks the Docker executor's way of signalling exactly.
      const run = executor.exec({ command: sh("trap 'echo got USR1' USR1; trap 'exit 0' TERM; echo ready; while :; do :; done") });
      const out = watch(run.stdout);
      const err = readAll(run.stderr);
      await out.seen('ready');
      await run.signal('SIGUSR1');
      await out.seen('got USR1');
      await new Promise((resolve) => setTimeout(resolve, 300));
      await run.signal('SIGTERM');
      const result = await within(SLACK_MS * 2, 'the signalled command', run.exit);
      await err;
      assert.equal(await out.rest(), 'ready\ngot USR1\n');
      assert.equal(result.exitCode, 0);
    });

    test('copyIn unpacks files, directories, symlinks, modes and owners; copyOut gives them back', async () => {
      await executor.copyIn('/tmp/contract-in', sampleTar());
      const seen = await shell(
        executor,
        'cd /tmp/contract-in && for f in hello.txt bin bin/run.sh owned.txt; do stat -c "%n %a %u:%g %F" "$f"; done; readlink link; cat link; ./bin/run.sh x',
      );
      assert.equal(seen.exitCode, 0, seen.stderr);
      assert.equal(
        seen.stdout,
        [
          'hello.txt 640 0:0 regular file',
          'bin 750 0:0 directory',
          'bin/run.sh 755 0:0 regular file',
          'owned.txt 600 1000:1000 regular file',
          'hello.txt',
          'hello, executor',
          'ran x',
          '',
        ].join('\n'),
      );

      const back = await untar(await executor.copyOut('/tmp/contract-in'));
      // named after the last path component, as `tar -C /tmp -c contract-in`
      assert.deepEqual([...back.keys()].sort(), ['contract-in', 'contract-in/bin', 'contract-in/bin/run.sh', 'contract-in/hello.txt', 'contract-in/link', 'contract-in/owned.txt']);
      const entry = (name: string): TarEntry => back.get(`contract-in/${name}`) as TarEntry;
      assert.deepEqual([entry('hello.txt').type, entry('hello.txt').mode, entry('hello.txt').body.toString()], ['file', 0o640, 'hello, executor\n']);
      assert.deepEqual([entry('bin').type, entry('bin').mode], ['directory', 0o750]);
      assert.deepEqual([entry('bin/run.sh').mode, entry('bin/run.sh').body.toString()], [0o755, '#!/bin/sh\necho ran "$@"\n']);
      assert.deepEqual([entry('link').type, entry('link').linkname], ['symlink', 'hello.txt']);
      assert.deepEqual([entry('owned.txt').uid, entry('owned.txt').gid, entry('owned.txt').mode], [1000, 1000, 0o600]);

      const single = await untar(await executor.copyOut('/tmp/contract-in/hello.txt'));
      assert.deepEqual([...single.keys()], ['hello.txt']);
      assert.equal(single.get('hello.txt')?.body.toString(), 'hello, executor\n');
    });

    test('copyIn creates a missing destination folder, and replaces a file that is there', async () => {
      assert.equal(await executor.exists('/tmp/contract-new'), false);
      await executor.copyIn('/tmp/contract-new/deeper/still', tarOf('file.txt', Buffer.from('made\n')));
      assert.equal((await shell(executor, 'cat /tmp/contract-new/deeper/still/file.txt')).stdout, 'made\n');
      await executor.copyIn('/tmp/contract-new/deeper/still', tarOf('file.txt', Buffer.from('replaced\n')));
      assert.equal((await shell(executor, 'cat /tmp/contract-new/deeper/still/file.txt')).stdout, 'replaced\n');
    });

    test('copyIn keeps long names (pax headers)', async () => {
      const long = `${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(80)}.txt`;
      await executor.copyIn('/tmp/contract-long', tarOf(long, Buffer.from('deep\n')));
      assert.equal((await shell(executor, `cat /tmp/contract-long/${long}`)).stdout, 'deep\n');
    });

    test("copyIn stays inside the executor's filesystem, even through an absolute symlink", async () => {
      // a folder of the host, and a link to the same absolute path inside the executor
      const host = await mkdtemp(join(tmpdir(), 'deckhand-contract-host-'));
      try {
        const made = await shell(executor, `mkdir -p ${host} /tmp/contract-esc && ln -s ${host} /tmp/contract-esc/link`);
        assert.equal(made.exitCode, 0, made.stderr);
        const pack = tar.pack();
        pack.entry({ name: 'link/file.txt', type: 'file', mode: 0o644, size: 7 }, 'inside\n');
        pack.finalize();
        await executor.copyIn('/tmp/contract-esc', Readable.from(pack, { objectMode: false }));
        assert.deepEqual(await readdir(host), [], "nothing may be written to the host's folder");
        assert.equal((await shell(executor, `cat ${host}/file.txt`)).stdout, 'inside\n');
      } finally {
        await rm(host, { recursive: true, force: true });
      }
    });

    test('copyOut of a missing path rejects with an ExecutorError saying so', async () => {
      await rejectsWithExecutorError(executor.copyOut('/no/such/path'), /no such file or directory/);
    });

    test('exists tells a present path from a missing one', async () => {
      assert.equal(await executor.exists('/bin/sh'), true);
      assert.equal(await executor.exists('/etc'), true);
      assert.equal(await executor.exists('/no/such/path'), false);
      assert.equal(await executor.exists('/tmp/contract-made-late'), false);
      await shell(executor, 'echo > /tmp/contract-made-late');
      assert.equal(await executor.exists('/tmp/contract-made-late'), true);
    });

    test("exists and copyIn resolve symlinks inside the executor's own filesystem", async () => {
      // an absolute link means the executor's /, never the host's
      const hostOnly = process.cwd();
      const made = await shell(executor, `mkdir -p /opt/contract-target && ln -s /etc /tmp/contract-etc && ln -s /opt/contract-target /tmp/contract-dest && ln -s ${hostOnly} /tmp/contract-host`);
      assert.equal(made.exitCode, 0, made.stderr);
      assert.equal(await executor.exists('/tmp/contract-etc/passwd'), true);
      assert.equal(await executor.exists('/tmp/contract-etc/no-such-file'), false);
      assert.equal(await executor.exists('/tmp/contract-host/package.json'), false, `${hostOnly} is the host's, not the executor's`);
      assert.equal(await executor.exists('/tmp/contract-host'), true, 'a dangling link exists itself');
      await executor.copyIn('/tmp/contract-dest', tarOf('through-link.txt', Buffer.from('via link\n')));
      assert.equal((await shell(executor, 'cat /opt/contract-target/through-link.txt')).stdout, 'via link\n');
    });
    test('interact without a terminal: stdin arrives byte for byte, its end is end-of-file; stdout and stderr apart; the exit code', async () => {
      const blob = binaryBlob().subarray(0, 1 << 20);
      const run = executor.interact({ command: sh('cat; echo "stdin ended" >&2; exit 3') });
      run.stdin.end(blob);
      const [stdout, stderr] = await within(SLACK_MS * 2, 'cat of 1 MiB', Promise.all([readAll(run.stdout), readAll(run.stderr)]));
      const result = await run.exit;
      assert.equal(stdout.length, blob.length);
      assert.ok(stdout.equals(blob), 'stdout must be what went in');
      assert.equal(stderr.toString(), 'stdin ended\n');
      assert.deepEqual(result, { exitCode: 3, aborted: false });
    });

    test("interact takes the request's env, working directory and user", async () => {
      const run = executor.interact({ command: sh('printf "%s|%s|%s|%s" "$GREETING" "$(pwd)" "$(id -u)" "$HOME"'), env: { GREETING: 'hi there' }, workingDirectory: '/etc', user: 'user' });
      run.stdin.end();
      const [stdout] = await Promise.all([readAll(run.stdout), readAll(run.stderr)]);
      assert.equal(stdout.toString(), 'hi there|/etc|1000|/home/user');
      assert.equal((await run.exit).exitCode, 0);
    });

    test('interact on a terminal: its size and type, input echoed, a resize with SIGWINCH, Ctrl-C, the exit status', async () => {
      const run = executor.interact({
        command: sh(
          [
            `trap 'echo "winch $(stty size)"' WINCH`,
            `trap 'echo interrupted; exit 7' INT`,
            'stty size; echo "term=$TERM"; if [ -t 0 ] && [ -t 1 ]; then echo on-a-terminal; fi',
            'IFS= read -r line; echo "read:$line"',
            'while :; do sleep 0.1; done',
          ].join('\n'),
        ),
        tty: { term: 'xterm-256color', columns: 80, rows: 24 },
      });
      const screen = watch(run.stdout);
      const err = readAll(run.stderr);
      await screen.seen('24 80');
      await screen.seen('term=xterm-256color');
      await screen.seen('on-a-terminal');
      run.stdin.write('hello\r');
      await screen.seen('hello\r\n');
      await screen.seen('read:hello');
      await run.resize({ columns: 100, rows: 30 });
      await screen.seen('winch 30 100');
      run.stdin.write('\x03');
      await screen.seen('interrupted');
      const result = await within(SLACK_MS * 2, 'the interrupted command', run.exit);
      await screen.rest();
      assert.equal((await err).toString(), '', 'a terminal has one output: stderr stays empty');
      assert.deepEqual(result, { exitCode: 7, aborted: false });
    });

    test("interact: signal() reaches the command's process group, close() hangs it up, or kills it after the grace period", async () => {
      const run = executor.interact({ command: sh("trap 'echo got USR1' USR1; echo ready; while :; do sleep 0.1; done") });
      const out = watch(run.stdout);
      const err = readAll(run.stderr);
      await out.seen('ready');
      await run.signal('SIGUSR1');
      await out.seen('got USR1');
      await within(SLACK_MS * 2, 'close()', run.close());
      assert.equal((await run.exit).exitCode, 129, 'SIGHUP ended it');
      await Promise.all([out.rest(), err]);

      const stubborn = executor.interact({ command: sh("trap '' HUP; echo ready; while :; do sleep 0.1; done") });
      const out2 = watch(stubborn.stdout);
      const err2 = readAll(stubborn.stderr);
      await out2.seen('ready');
      const t0 = Date.now();
      await within(settings.killGraceMs + SLACK_MS, 'close() of a command ignoring SIGHUP', stubborn.close());
      assert.ok(Date.now() - t0 >= settings.killGraceMs - 100, 'SIGKILL comes after the grace period');
      assert.equal((await stubborn.exit).exitCode, 137);
      await Promise.all([out2.rest(), err2]);
      await stubborn.close(); // idempotent
    });

    test("connect reaches a port of the job's; a port nobody listens on, or a host outside the job, is refused", async () => {
      const port = 20_000 + Math.floor(Math.random() * 20_000);
      // perl where there is one (Debian), else busybox's nc; both answer with what they read
      const echo = `if command -v perl >/dev/null 2>&1; then exec perl -MIO::Socket::INET -e '$s = IO::Socket::INET->new(LocalAddr => "0.0.0.0", LocalPort => ${port}, Listen => 1, ReuseAddr => 1) or die "$!"; $c = $s->accept; while (sysread($c, $b, 65536)) { syswrite($c, $b) }'; else exec nc -l -p ${port} -e cat; fi`;
      const server = executor.exec({ command: sh(echo) });
      const serverOutput = Promise.all([readAll(server.stdout), readAll(server.stderr)]);
      let socket: import('node:stream').Duplex | undefined;
      for (const deadline = Date.now() + 10_000; !socket; ) {
        socket = await executor.connect('localhost', port).catch((error: unknown) => {
          assert.ok(error instanceof ExecutorError, String(error));
          if (Date.now() > deadline) throw error;
          return new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 100));
        });
      }
      const payload = binaryBlob().subarray(0, 256 * 1024);
      const back: Buffer[] = [];
      let got = 0;
      const all = new Promise<void>((resolve) => {
        socket.on('data', (chunk: Buffer) => {
          back.push(chunk);
          got += chunk.length;
          if (got >= payload.length) resolve();
        });
      });
      socket.write(payload);
      await within(SLACK_MS * 2, 'the echo of 256 KiB', all);
      assert.ok(Buffer.concat(back).equals(payload), 'the bytes come back unchanged');
      socket.end();
      socket.destroy();
      await within(SLACK_MS * 2, 'the echo server', server.exit);
      await serverOutput;

      await rejectsWithExecutorError(executor.connect('localhost', port));
      await rejectsWithExecutorError(executor.connect('no-such-host.invalid', 80));
    });
  });

  describe('lifecycle', () => {
    test('exec, exists, copyOut, interact and connect before prepare reject with ExecutorError', async () => {
      const { executor } = make(settings);
      try {
        await rejectsWithExecutorError(collect(executor.exec({ command: ['true'] })));
        await rejectsWithExecutorError(executor.exists('/bin/sh'));
        await rejectsWithExecutorError(executor.copyOut('/etc'));
        await rejectsWithExecutorError(executor.interact({ command: ['true'] }).exit);
        await rejectsWithExecutorError(executor.connect('localhost', 80));
      } finally {
        await executor.teardown();
      }
    });

    test('teardown works before prepare, may be repeated, and leaves nothing behind', async () => {
      const unprepared = make(settings);
      await unprepared.executor.teardown();
      await unprepared.executor.teardown();

      const subject = make(settings);
      const { executor } = subject;
      try {
        await executor.prepare();
        // a command still running when the job ends, with a child of its own
        const running = executor.exec({ command: sh('sleep 1001 & sleep 1002; wait') });
        const output = Promise.all([readAll(running.stdout), readAll(running.stderr)]);
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.notDeepEqual(await subject.leftovers(), [], 'a prepared executor has something to remove');
        await executor.teardown();
        await within(SLACK_MS * 2, 'the command running at teardown', Promise.allSettled([running.exit, output]));
        await executor.teardown();
        assert.deepEqual(await subject.leftovers(), []);
        await rejectsWithExecutorError(collect(executor.exec({ command: ['true'] })));
      } finally {
        await executor.teardown();
      }
    });

    test('a startup script given to prepare runs before the first exec', async () => {
      const subject = make(settings);
      const { executor } = subject;
      const startup: StartupScript = {
        script: 'echo "started with $1 and $2"; echo "to stderr" >&2; echo made > /tmp/startup-marker; exit 3',
        args: ['one', 'two words'],
      };
      try {
        const outcome = await executor.prepare(undefined, startup);
        if (outcome) {
          // the executor ran it: its outcome is reported, and its effects are there before any exec
          assert.equal(await executor.exists('/tmp/startup-marker'), true);
          assert.equal(outcome.exitCode, 3);
          assert.match(outcome.output, /started with one and two words\n/);
          assert.match(outcome.output, /to stderr\n/);
        } else {
          // undefined: the caller runs it, and can, as the first exec
          assert.equal(await executor.exists('/tmp/startup-marker'), false, 'undefined means the script did not run');
          const r = await shell(executor, `/bin/sh -c '${startup.script.replace(/'/g, "'\\''")}' sh one 'two words'`);
          assert.equal(r.exitCode, 3);
          assert.equal(r.stdout, 'started with one and two words\n');
        }
        assert.equal((await shell(executor, 'cat /tmp/startup-marker')).stdout, 'made\n');
      } finally {
        await executor.teardown();
      }
      assert.deepEqual(await subject.leftovers(), []);
    });

    test('prepare with an aborted signal fails with ExecutorError and leaves nothing', async () => {
      const subject = make(settings);
      try {
        await rejectsWithExecutorError(subject.executor.prepare(AbortSignal.abort()));
        assert.deepEqual(await subject.leftovers(), []);
      } finally {
        await subject.executor.teardown();
      }
    });
  });
}
