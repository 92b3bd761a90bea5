/**
 * The job's SSH server against Debian's OpenSSH client (and ssh2's, where OpenSSH cannot be made
 * to misbehave), with sessions in the chroot test double: no Docker engine, real processes, a real
 * terminal from tmux. Keys, passwords, exec and its exit status, environment, a terminal session
 * (type, read, resize, Ctrl-C), signals, -L, and the bad input the server must shrug off: unknown
 * channel types, oversized packets, a client that never logs in, a flood of connections, a source
 * that keeps failing. After each server closes nothing of its sessions runs on.
 */
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import ssh2 from 'ssh2';
import { readAuthorizedKeys } from '../../agent/debug-ssh/authorized-keys.js';
import { freshHostKey, type JobHostKey } from '../../agent/debug-ssh/host-key.js';
import { prepareJobSessions } from '../../agent/debug-ssh/job-target.js';
import { DebugSshServer, type DebugSshOptions } from '../../agent/debug-ssh/server.js';
import type { SessionTarget } from '../../agent/debug-ssh/session.js';
import { ChrootExecutor, processesRootedAt } from '../support/chroot-executor.js';
import { freePort } from '../support/free-port.js';
import { clientKey, ssh, sshProcess, sshTerminal, type ClientKey, type Endpoint } from '../support/openssh.js';

const TASK_DATA = '/tmp/.circleci-task-data';

describe('the SSH server of a job, with OpenSSH clients', { timeout: 180_000 }, () => {
  let executor: ChrootExecutor;
  let target: SessionTarget;
  let hostKey: JobHostKey;
  let allowed: ClientKey;
  let other: ClientKey;
  const servers: DebugSshServer[] = [];

  before(async () => {
    executor = new ChrootExecutor({ killGraceMs: 1000 });
    await executor.prepare();
    const made = await executor.exec({ command: ['/bin/sh', '-c', 'mkdir -p /root/project'] }).exit;
    assert.equal(made.exitCode, 0);
    const sessions = await prepareJobSessions(
      { executor, environment: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', JOB_VARIABLE: 'from the job', BASH_ENV: `${TASK_DATA}/.bash_env` }, workingDirectory: '/root/project', signal: new AbortController().signal },
      TASK_DATA,
    );
    target = sessions.target;
    hostKey = await freshHostKey();
    allowed = clientKey('allowed');
    other = clientKey('other');
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await executor?.teardown();
  });

  /** A server of its own on a free loopback port, and what it logged. */
  async function serve(options: Partial<DebugSshOptions> = {}): Promise<{ server: DebugSshServer; endpoint: Endpoint; log: string[] }> {
    const log: string[] = [];
    const server = new DebugSshServer({ hostKey: hostKey.privateKey, keys: readAuthorizedKeys([allowed.publicPath]).keys, target, log: (line) => log.push(line), ...options });
    servers.push(server);
    const port = await freePort();
    await server.listen(port, port, '127.0.0.1');
    return { server, endpoint: { host: '127.0.0.1', port, hostKey: hostKey.publicKey }, log };
  }

  test('an authorized key logs in, and the login and logout are logged with its fingerprint', async () => {
    const { endpoint, log } = await serve();
    const r = await ssh(endpoint, allowed, ['echo', 'hello']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello\n');
    await until(() => log.some((l) => l.includes('logged out')));
    assert.match(log[0], new RegExp(`^SSH: root logged in from 127\\.0\\.0\\.1:\\d+ with ED25519 key ${escape(allowed.fingerprint)}$`));
    assert.match(log[1], /^SSH: root from 127\.0\.0\.1:\d+ logged out after \d+s$/);
  });

  test('a key that is not authorized is refused, and the refusal names it', async () => {
    const { endpoint, log } = await serve();
    const r = await ssh(endpoint, other, ['echo', 'should not run']);
    assert.equal(r.code, 255);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /Permission denied \(publickey\)/);
    await until(() => log.some((l) => l.includes('refused')));
    assert.match(log.join('\n'), new RegExp(`SSH: refused 127\\.0\\.0\\.1:\\d+ \\(key ${escape(other.fingerprint)}\\)`));
  });

  test('passwords and keyboard-interactive are refused: only public keys are offered, and a password sent anyway fails', async () => {
    const { endpoint, log } = await serve();
    const r = await ssh(endpoint, undefined, ['true'], ['-o', 'PreferredAuthentications=password,keyboard-interactive']);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /Permission denied \(publickey\)/, 'the server offers publickey alone');
    // ssh2's client sends a password whatever the server offers
    const refused = await new Promise<Error>((resolve) => {
      const client = new ssh2.Client();
      client.on('ready', () => resolve(new Error('a password logged in')));
      client.on('error', (error) => resolve(error));
      client.connect({ host: endpoint.host, port: endpoint.port, username: 'root', password: 'hunter2', tryKeyboard: true, hostVerifier: () => true });
    });
    assert.match(refused.message, /All configured authentication methods failed/);
    await until(() => log.some((l) => l.includes('a password')));
  });

  test('ssh HOST CMD: stdout and stderr apart, stdin, the exit status, a command killed by a signal', async () => {
    const { endpoint } = await serve();
    const r = await ssh(endpoint, allowed, ['echo out; echo err >&2; exit 42']);
    assert.deepEqual([r.code, r.stdout, r.stderr], [42, 'out\n', 'err\n']);
    const piped = await ssh(endpoint, allowed, ['wc -c'], [], { input: 'x'.repeat(100_000) });
    assert.deepEqual([piped.code, piped.stdout.trim()], [0, '100000']);
    const killed = await ssh(endpoint, allowed, ['kill -9 $$']);
    assert.equal(killed.code, 137);
  });

  test("a session has the job's environment and working directory; LANG and LC_* from the client apply, other names do not", async () => {
    const { endpoint } = await serve();
    const r = await ssh(endpoint, allowed, ['printf "%s|%s|%s|%s" "$JOB_VARIABLE" "$LC_DECKHAND" "${SNEAKY-unset}" "$(pwd)"'], ['-o', 'SetEnv=LC_DECKHAND=from-the-client SNEAKY=yes']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'from the job|from-the-client|unset|/root/project');
  });

  test('a terminal session: the prompt, typing, a resize, Ctrl-C, the exit status', async () => {
    const { endpoint } = await serve();
    const terminal = await sshTerminal(endpoint, allowed, { columns: 100, rows: 30 });
    try {
      await terminal.waitFor(/[#$]\s*$/);
      terminal.type('echo "$JOB_VARIABLE in $(pwd)"; stty size');
      await terminal.waitFor(/^from the job in \/root\/project\n30 100$/m);
      terminal.resize(120, 40);
      terminal.type('stty size');
      await terminal.waitFor(/^40 120$/m);
      terminal.type('sleep 60');
      await new Promise((resolve) => setTimeout(resolve, 300));
      terminal.keys('C-c');
      terminal.type('echo after-interrupt');
      await terminal.waitFor(/^after-interrupt$/m, 5_000);
      terminal.type('exit 3');
      await terminal.waitFor(/\[exited 3\]/);
    } finally {
      terminal.close();
    }
  });

  test("a signal request reaches the session's command (ssh2's client: OpenSSH's sends none)", async () => {
    const { endpoint } = await serve();
    const output = await withSsh2Client(endpoint, allowed, async (client) => {
      const channel = await new Promise<ssh2.ClientChannel>((resolve, reject) => client.exec("trap 'echo got USR1; exit 5' USR1; echo ready; while :; do sleep 0.1; done", (e, c) => (e ? reject(e) : resolve(c))));
      let text = '';
      channel.on('data', (c: Buffer) => {
        text += c.toString();
        if (text === 'ready\n') channel.signal('USR1');
      });
      channel.stderr.resume();
      const code = new Promise<number>((resolve) => channel.on('exit', (c: number) => resolve(c)));
      await within(10_000, new Promise((resolve) => channel.once('close', resolve)));
      return { text, code: await code };
    });
    assert.deepEqual(output, { text: 'ready\ngot USR1\n', code: 5 });
  });

  test('-L forwards to a port of the job; a port nobody listens on fails that forward alone', async () => {
    const { endpoint, log } = await serve();
    // the chroot shares the host's network: a server on the host's loopback is "in the job"
    const web = createHttpServer((_req, res) => res.end('hello from the job\n'));
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    const webPort = (web.address() as AddressInfo).port;
    const [toWeb, toNothing, closed] = [await freePort(), await freePort(), await freePort()];
    const forward = sshProcess(endpoint, allowed, ['-N', '-o', 'ExitOnForwardFailure=yes', '-L', `${toWeb}:localhost:${webPort}`, '-L', `${toNothing}:localhost:${closed}`]);
    try {
      assert.equal(await retry(() => fetchText(`http://127.0.0.1:${toWeb}/`)), 'hello from the job\n');
      await assert.rejects(fetchText(`http://127.0.0.1:${toNothing}/`));
      await until(() => log.some((l) => l.startsWith(`SSH: a forward to localhost:${closed} was refused`)));
      assert.equal(await fetchText(`http://127.0.0.1:${toWeb}/`), 'hello from the job\n', 'the other forward goes on');
      assert.equal(forward.child.exitCode, null, 'ssh itself goes on');
    } finally {
      await forward.stop();
      web.close();
    }
  });

  test('unknown channel types, a unix-socket forward and a remote forward are refused; the connection goes on', async () => {
    const { endpoint } = await serve();
    // OpenSSH's tunnel device forwarding opens a channel type the server has never heard of
    const tunnel = await ssh(endpoint, allowed, ['echo', 'ran'], ['-o', 'ExitOnForwardFailure=yes', '-o', 'Tunnel=point-to-point', '-w', 'any:any']);
    assert.equal(tunnel.code, 255);
    assert.match(tunnel.stderr, /open failed: unknown channel type|Tunnel forwarding failed/);
    const remoteForward = await ssh(endpoint, allowed, ['echo', 'ran'], ['-o', 'ExitOnForwardFailure=yes', '-R', '0:localhost:80']);
    assert.equal(remoteForward.code, 255);
    assert.match(remoteForward.stderr, /remote port forwarding failed/);
    const after = await withSsh2Client(endpoint, allowed, async (client) => {
      const refused = await new Promise<Error | undefined>((resolve) => client.openssh_forwardOutStreamLocal('/var/run/docker.sock', (e) => resolve(e)));
      assert.ok(refused instanceof Error, 'a unix socket forward must be refused');
      // the same connection still runs commands
      return new Promise<string>((resolve, reject) =>
        client.exec('echo still here', (e, channel) => {
          if (e) return reject(e);
          let text = '';
          channel.on('data', (c: Buffer) => (text += c.toString()));
          channel.on('close', () => resolve(text));
        }),
      );
    });
    assert.equal(after, 'still here\n');
  });

  test('an oversized packet closes that connection only', async () => {
    const { endpoint } = await serve();
    const socket = connect(endpoint.port, endpoint.host);
    socket.on('error', () => undefined);
    const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
    await new Promise((resolve) => socket.once('data', resolve));
    socket.write('SSH-2.0-OpenSSH_9.2p1 fuzz\r\n');
    // a packet length of 256 MiB, as the first binary packet
    const header = Buffer.alloc(6);
    header.writeUInt32BE(256 * 1024 * 1024, 0);
    header[4] = 4;
    header[5] = 20;
    socket.write(Buffer.concat([header, Buffer.alloc(1024)]));
    const t0 = Date.now();
    assert.ok((await within(5_000, closed)) - t0 < 5_000);
    const r = await ssh(endpoint, allowed, ['echo', 'fine']);
    assert.equal(r.stdout, 'fine\n', r.stderr);
  });

  test('a client that never logs in is closed after the grace period (short here; 30 s by default)', async () => {
    const { endpoint, log } = await serve({ loginGraceMs: 1_500 });
    const t0 = Date.now();
    const idle = connect(endpoint.port, endpoint.host);
    idle.on('error', () => undefined);
    const greeted = new Promise((resolve) => idle.once('data', resolve));
    const closed = new Promise<void>((resolve) => idle.once('close', () => resolve()));
    await greeted;
    idle.write('SSH-2.0-OpenSSH_9.2p1 then silence\r\n');
    await within(10_000, closed);
    const took = Date.now() - t0;
    assert.ok(took >= 1_400 && took < 5_000, `closed after ${took} ms`);
    await until(() => log.some((l) => l.includes('no login within the grace period')));
  });

  test('100 connections at once: few handshake at a time, all end within the grace period; the server and the job go on', async () => {
    const { endpoint, server, log } = await serve({ loginGraceMs: 2_000, admission: { penaltyMs: 1_000 } });
    // a step of the job, running meanwhile
    const step = executor.exec({ command: ['/bin/sh', '-c', 'i=0; while [ $i -lt 30 ]; do i=$((i+1)); sleep 0.1; done; echo step done'] });
    const stepOutput = readAll(step.stdout);
    const t0 = Date.now();
    const attempts = await Promise.all(
      Array.from({ length: 100 }, () =>
        new Promise<{ greeted: boolean; closedAt: number }>((resolve) => {
          const socket = connect(endpoint.port, endpoint.host);
          let greeted = false;
          socket.on('data', () => {
            greeted = true;
          });
          socket.on('error', () => undefined);
          socket.once('close', () => resolve({ greeted, closedAt: Date.now() }));
        }),
      ),
    );
    const slowest = Math.max(...attempts.map((a) => a.closedAt)) - t0;
    const greeted = attempts.filter((a) => a.greeted).length;
    assert.ok(greeted >= 1 && greeted <= 10, `${greeted} connections got a handshake; at most 10 may start at once`);
    assert.ok(slowest < 2_000 + 3_000, `the last connection ended after ${slowest} ms`);
    assert.equal(server.sessions, 0);
    assert.equal((await step.exit).exitCode, 0);
    assert.equal(await stepOutput, 'step done\n');
    // the flood got 127.0.0.1 refused for a while; then a login works again
    await until(() => log.some((l) => l.startsWith('SSH: refusing every connection from 127.0.0.1')));
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const r = await ssh(endpoint, allowed, ['echo', 'still serving']);
    assert.equal(r.stdout, 'still serving\n', r.stderr);
    assert.ok(log.length < 40, `the job's output got ${log.length} lines of refusals; they are counted past 20 a minute`);
  });

  test('an address whose logins keep failing is refused for a while, even with the right key', async () => {
    const { endpoint, log } = await serve({ admission: { maxFailures: 3, penaltyMs: 2_000 } });
    for (let i = 0; i < 3; i++) assert.equal((await ssh(endpoint, other, ['true'])).code, 255);
    const refused = await ssh(endpoint, allowed, ['echo', 'in']);
    assert.equal(refused.code, 255);
    assert.equal(refused.stdout, '');
    assert.ok(log.some((l) => /^SSH: refusing every connection from 127\.0\.0\.1 for 2s after repeated failed logins$/.test(l)), log.join('\n'));
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    const r = await ssh(endpoint, allowed, ['echo', 'in']);
    assert.equal(r.stdout, 'in\n', r.stderr);
  });

  test('closing the server hangs up the sessions: the client ends, and what they ran in the job goes', async () => {
    const { server, endpoint } = await serve();
    const session = sshProcess(endpoint, allowed, [], ['echo started; exec sleep 60']);
    await until(() => session.output().includes('started'));
    const root = executor.root as string;
    assert.ok((await processesRootedAt(root)).length > 0, 'the sleep runs in the job');
    await server.close();
    const code = await within(10_000, session.exited);
    assert.notEqual(code, 0);
    await until(async () => (await processesRootedAt(root)).length === 0, 10_000);
    await server.close();
  });
});

async function until(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`not so within ${ms} ms: ${check.toString()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

async function retry<T>(attempt: () => Promise<T>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

async function fetchText(url: string): Promise<string> {
  const response = await fetch(url);
  return response.text();
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** An ssh2 client logged in with `key`, for what OpenSSH's client will not do; closed after `use`. */
async function withSsh2Client<T>(endpoint: Endpoint, key: ClientKey, use: (client: ssh2.Client) => Promise<T>): Promise<T> {
  const { readFileSync } = await import('node:fs');
  const client = new ssh2.Client();
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve());
    client.once('error', reject);
    client.connect({ host: endpoint.host, port: endpoint.port, username: 'root', privateKey: readFileSync(key.path), hostVerifier: (blob: Buffer) => blob.equals(Buffer.from(endpoint.hostKey.split(' ')[1] ?? '', 'base64')) });
  });
  try {
    return await use(client);
  } finally {
    client.end();
  }
}
