/**
 * SSH into a build, with the real OpenSSH client, against a local OpenSSH sshd measured in the
 * same run (the floor):
 *  (a) login to the first prompt: `ssh -tt` spawned until bash's prompt shows, into a Docker job
 *      of `deckhand execute --ssh` (deckhand-test/debian, bash) and into sshd on 127.0.0.1 (the
 *      host's bash). Rounds alternate; medians — target: under 1.5× the floor;
 *  (b) PTY echo round trip of one key: a key written to the client's stdin until its echo comes
 *      back, then erased the same way, in one open session of each — target: p99 under 20 ms.
 * A session stays open throughout so that the job is held; closing it ends the job.
 */
import { spawn, execFileSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/support/free-port.js';
import { clientKey, clientOptions, sshProcess, type ClientKey, type Endpoint } from '../test/support/openssh.js';
import { middle, repo } from './support.js';

const bin = join(repo, 'bin', 'deckhand.js');
const IMAGE = 'deckhand-test/debian:bookworm';
const LOGIN_ROUNDS = 10;
const KEYS = 200;
/** bash's prompt ends with `# ` (root), perhaps followed by bracketed-paste mode's switch */
const PROMPT = /[#$] (\x1b\[\?2004h)?$/;

/** OpenSSH's sshd on 127.0.0.1, root by key alone, with a host key of its own. */
async function startSshd(dir: string, key: ClientKey, extra: string[] = []): Promise<{ endpoint: Endpoint; stop(): void }> {
  mkdirSync(dir, { recursive: true });
  const hostKey = join(dir, 'ssh_host_ed25519_key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  const authorized = join(dir, 'authorized_keys');
  writeFileSync(authorized, `${key.publicKey}\n`);
  mkdirSync('/run/sshd', { recursive: true });
  const port = await freePort();
  const sshd = spawn('/usr/sbin/sshd', [
    '-D', '-e', '-f', '/dev/null',
    '-o', `ListenAddress=127.0.0.1:${port}`,
    '-o', `HostKey=${hostKey}`,
    '-o', `AuthorizedKeysFile=${authorized}`,
    '-o', 'PermitRootLogin=prohibit-password',
    '-o', 'PasswordAuthentication=no',
    '-o', 'KbdInteractiveAuthentication=no',
    '-o', 'UsePAM=no',
    '-o', 'StrictModes=no',
    '-o', 'PidFile=none',
    '-o', 'PrintMotd=no',
    '-o', 'PrintLastLog=no',
    // the session's shell does what the job's does: an interactive bash that reads /etc/profile
    // (this machine's root login files start tools a job's image does not have)
    '-o', 'ForceCommand=exec /bin/bash --rcfile /etc/profile -i',
    ...extra,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  sshd.stderr.on('data', (c: Buffer) => (log += c.toString()));
  for (let i = 0; i < 100 && !/Server listening/.test(log); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  if (!/Server listening/.test(log)) throw new Error(`sshd did not start: ${log}`);
  const publicKey = execFileSync('ssh-keygen', ['-y', '-f', hostKey], { encoding: 'utf8' }).trim().split(/\s+/).slice(0, 2).join(' ');
  return { endpoint: { host: '127.0.0.1', port, hostKey: publicKey, user: 'root' }, stop: () => void sshd.kill('SIGTERM') };
}

/** A job of `deckhand execute --ssh`, its steps done, held open by a session; stop() lets it end. */
async function startJob(dir: string, key: ClientKey): Promise<{ endpoint: Endpoint; stop(): Promise<number | null> }> {
  mkdirSync(join(dir, '.circleci'));
  writeFileSync(join(dir, '.circleci', 'config.yml'), `version: 2.1\njobs:\n  build:\n    docker: [{image: ${IMAGE}}]\n    steps:\n      - run: echo ready\n`);
  execFileSync('git', ['init', '-q', dir]);
  const child = spawn(process.execPath, [bin, 'execute', '--no-color', '--log-file', join(dir, 'job.log'), '--ssh', '--ssh-authorized-keys', key.publicPath, '--ssh-host', '127.0.0.1', '--ssh-wait', '10m'], {
    cwd: dir,
    env: { ...process.env, DECKHAND_HOME: join(dir, '.home') },
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  for (let i = 0; i < 1200 && !/====>> Wait for SSH/.test(out); i++) await new Promise((resolve) => setTimeout(resolve, 100));
  const line = /^ssh -p (\d+) (\S+)@(\S+)$/m.exec(out);
  const host = /^Host key: (ssh-ed25519 \S+)/m.exec(out);
  if (!line || !host || !/====>> Wait for SSH/.test(out)) throw new Error(`the job did not reach Wait for SSH:\n${out}`);
  const endpoint: Endpoint = { host: line[3], port: Number(line[1]), user: line[2], hostKey: host[1] };
  const holder = sshProcess(endpoint, key, ['-N']);
  await new Promise((resolve) => setTimeout(resolve, 500));
  return {
    endpoint,
    async stop() {
      await holder.stop();
      return exited;
    },
  };
}

/** `ssh -tt` with its stdin and stdout as pipes: a person's terminal, reduced to bytes. */
function interactive(endpoint: Endpoint, key: ClientKey): { child: ChildProcessWithoutNullStreams; next(pattern: RegExp | string): Promise<void>; reset(): void } {
  const child = spawn('ssh', [...clientOptions(endpoint, key), '-tt', '-p', String(endpoint.port), `${endpoint.user}@${endpoint.host}`], { stdio: ['pipe', 'pipe', 'pipe'] });
  let text = '';
  let waiting: { pattern: RegExp | string; resolve: () => void } | undefined;
  const check = (): void => {
    if (!waiting) return;
    const hit = typeof waiting.pattern === 'string' ? text.includes(waiting.pattern) : waiting.pattern.test(text);
    if (hit) {
      const w = waiting;
      waiting = undefined;
      text = '';
      w.resolve();
    }
  };
  child.stdout.on('data', (c: Buffer) => {
    text += c.toString('latin1');
    check();
  });
  child.stderr.on('data', () => undefined);
  return {
    child,
    reset: () => void (text = ''),
    next: (pattern) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${String(pattern)} within 20 s; got ${JSON.stringify(text.slice(-200))}`)), 20_000);
        waiting = { pattern, resolve: () => (clearTimeout(timer), resolve()) };
        check();
      }),
  };
}

/** ms from spawning ssh to the first prompt; the session is then closed. */
async function login(endpoint: Endpoint, key: ClientKey): Promise<number> {
  const t0 = process.hrtime.bigint();
  const session = interactive(endpoint, key);
  await session.next(PROMPT);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  session.child.stdin.end('exit\n');
  await new Promise((resolve) => session.child.once('close', resolve));
  return ms;
}

/** Echo round trips of one key, `KEYS` times, in one session: ms each. */
async function echoes(endpoint: Endpoint, key: ClientKey): Promise<number[]> {
  const session = interactive(endpoint, key);
  await session.next(PROMPT);
  // whatever follows the prompt has come before the first key
  await new Promise((resolve) => setTimeout(resolve, 500));
  session.reset();
  const times: number[] = [];
  for (let i = 0; i < KEYS; i++) {
    const t0 = process.hrtime.bigint();
    session.child.stdin.write('x');
    await session.next('x');
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    // erased again (bash echoes backspace, space, backspace)
    session.child.stdin.write('\x7f');
    await session.next('\b');
  }
  session.child.stdin.end('exit\n');
  await new Promise((resolve) => session.child.once('close', resolve));
  return times;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const round2 = (n: number): number => +n.toFixed(2);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'deckhand-bench-ssh-'));
  const key = clientKey('bench');
  const sshd = await startSshd(join(dir, 'sshd'), key);
  // OpenSSH 9 picks the post-quantum sntrup761x25519 key exchange, which ssh2 lacks; this floor
  // negotiates the curve25519 exchange Deckhand's server does, so only the rest is compared
  const sameKex = await startSshd(join(dir, 'sshd-curve25519'), key, ['-o', 'KexAlgorithms=curve25519-sha256,curve25519-sha256@libssh.org']);
  mkdirSync(join(dir, 'project'));
  const job = await startJob(join(dir, 'project'), key);
  try {
    // one unmeasured login each: caches warm on both sides
    await login(sshd.endpoint, key);
    await login(sameKex.endpoint, key);
    await login(job.endpoint, key);
    const floor: number[] = [];
    const floorSameKex: number[] = [];
    const deckhand: number[] = [];
    for (let round = 0; round < LOGIN_ROUNDS; round++) {
      floor.push(await login(sshd.endpoint, key));
      floorSameKex.push(await login(sameKex.endpoint, key));
      deckhand.push(await login(job.endpoint, key));
    }
    console.log(
      JSON.stringify({
        bench: 'debug-ssh-login-to-prompt',
        rounds: LOGIN_ROUNDS,
        floorSshdMs: round2(middle(floor)),
        floorSshdCurve25519Ms: round2(middle(floorSameKex)),
        deckhandMs: round2(middle(deckhand)),
        ratio: round2(middle(deckhand) / middle(floor)),
        ratioSameKex: round2(middle(deckhand) / middle(floorSameKex)),
        floorRangeMs: [round2(Math.min(...floor)), round2(Math.max(...floor))],
        floorSameKexRangeMs: [round2(Math.min(...floorSameKex)), round2(Math.max(...floorSameKex))],
        deckhandRangeMs: [round2(Math.min(...deckhand)), round2(Math.max(...deckhand))],
        loadAverage: loadavg().map(round2),
        target: 'ratio < 1.5 (both floors)',
      }),
    );
    const floorEcho = await echoes(sshd.endpoint, key);
    const deckhandEcho = await echoes(job.endpoint, key);
    console.log(
      JSON.stringify({
        bench: 'debug-ssh-pty-echo',
        keys: KEYS,
        floorSshdP50Ms: round2(percentile(floorEcho, 50)),
        floorSshdP99Ms: round2(percentile(floorEcho, 99)),
        deckhandP50Ms: round2(percentile(deckhandEcho, 50)),
        deckhandP99Ms: round2(percentile(deckhandEcho, 99)),
        loadAverage: loadavg().map(round2),
        target: 'deckhand p99 < 20 ms',
      }),
    );
  } finally {
    const code = await job.stop();
    sshd.stop();
    sameKex.stop();
    rmSync(dir, { recursive: true, force: true });
    if (code !== 0) console.error(`the held job ended with exit code ${code}`);
  }
}

await main();
