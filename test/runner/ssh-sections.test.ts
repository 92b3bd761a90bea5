/**
 * SSH into a build end to end: the real `deckhand execute --ssh` running Docker (and machine) jobs
 * on the engine, and Debian's `ssh`, `scp`, `sftp` with a tmux terminal logging into them. The
 * Enable SSH line, the keys (the default ~/.ssh/*.pub, a wrong one), exec, a terminal session,
 * file transfers both ways, -L to a service container, the hold at the end (it ends early when
 * nobody comes, stays while a session is open, ends when it leaves), a cancel with a session open,
 * the port range, and nothing left behind.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { clientKey, remote, scp, sftp, ssh, sshProcess, sshTerminal, type ClientKey, type Endpoint } from '../support/openssh.js';
import { BUSYBOX, DEBIAN, executeAsync, project } from '../support/execute.js';
import { freePort } from '../support/free-port.js';
import { ownedBy } from '../support/leftovers.js';

const scratch = mkdtempSync(join(tmpdir(), 'deckhand-ssh-e2e-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const DOCKER_JOB = `version: 2.1
jobs:
  test:
    docker:
      - image: ${DEBIAN}
      - image: ${BUSYBOX}
        name: web
        command: ["sh", "-c", "mkdir -p /www && echo 'served by web' > /www/index.html && httpd -f -p 8080 -h /www"]
    environment:
      JOB_VARIABLE: from the job
    steps:
      - run: echo 'export FROM_BASH_ENV=yes' >> "$BASH_ENV"
      - run: echo "the secret is $DEBUG_SECRET"
      - run: echo steps-done
  fails:
    docker:
      - image: ${BUSYBOX}
    steps:
      - run: exit 3
  long:
    docker:
      - image: ${BUSYBOX}
    steps:
      - run: echo started; sleep 300
  on-a-machine:
    machine: true
    environment:
      JOB_VARIABLE: from the job
    steps:
      - run: echo 'export FROM_BASH_ENV=yes' >> "$BASH_ENV"
`;

interface Announced {
  endpoint: Endpoint;
  /** the `ssh -p PORT USER@HOST` line as printed */
  line: string;
  fingerprint: string;
}

/** The Enable SSH section's line and host key, once printed. */
function announced(out: string): Announced | undefined {
  const line = /^ssh -p (\d+) ([^@\s]+)@(\S+)$/m.exec(out);
  const key = /^Host key: (ssh-ed25519 \S+) \((SHA256:[^)]+)\)$/m.exec(out);
  if (!line || !key) return undefined;
  return { line: line[0], endpoint: { port: Number(line[1]), user: line[2], host: line[3], hostKey: key[1] }, fingerprint: key[2] };
}

/** A running `deckhand execute --ssh`: its output so far, its SSH endpoint once printed, its end. */
function startJob(dir: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  let child: ChildProcessWithoutNullStreams | undefined;
  let output = '';
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  const ended = executeAsync(dir, args, {
    env,
    onOutput: (out, c) => {
      child = c;
      output = out;
      for (const w of [...waiters]) if (w.pattern.test(out)) (waiters.splice(waiters.indexOf(w), 1), w.resolve());
    },
  });
  return {
    ended,
    output: () => output,
    signal: (name: NodeJS.Signals) => child?.kill(name),
    async waitFor(pattern: RegExp, ms = 90_000): Promise<string> {
      if (!pattern.test(output)) {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`the job did not print ${pattern} within ${ms} ms; it printed:\n${output}`)), ms);
          waiters.push({ pattern, resolve: () => (clearTimeout(timer), resolve()) });
        });
      }
      return output;
    },
  };
}

function fetchText(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    httpGet({ host: '127.0.0.1', port, path: '/', timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    }).once('error', reject);
  });
}

/** 10 MB up and back by scp, then by sftp, each copy intact; leaves /tmp/by-scp and /tmp/by-sftp in the job. */
async function copyBothWays(endpoint: Endpoint, key: ClientKey, name: string): Promise<void> {
  const local = join(scratch, `${name}-ten-mb`);
  const data = randomBytes(10 * 1024 * 1024);
  writeFileSync(local, data);
  const up = await scp(endpoint, key, local, remote(endpoint, '/tmp/by-scp'));
  assert.equal(up.code, 0, up.stderr);
  const down = await scp(endpoint, key, remote(endpoint, '/tmp/by-scp'), `${local}-back-by-scp`);
  assert.equal(down.code, 0, down.stderr);
  assert.ok(readFileSync(`${local}-back-by-scp`).equals(data), 'scp round trip');
  const batch = await sftp(endpoint, key, [`put ${local} /tmp/by-sftp`, `get /tmp/by-sftp ${local}-back-by-sftp`]);
  assert.equal(batch.code, 0, batch.stderr);
  assert.ok(readFileSync(`${local}-back-by-sftp`).equals(data), 'sftp round trip');
}

describe('deckhand execute --ssh on Docker, with OpenSSH clients', { concurrency: false, timeout: 300_000 }, () => {
  let dir: string;
  let home: string;
  let mine: ClientKey;
  let other: ClientKey;
  let job: ReturnType<typeof startJob>;
  let at: Announced;
  /** a session kept open from the start, so the job is held until the last test lets it go */
  let holder: ReturnType<typeof sshProcess>;
  /** the first free port of the range, held by the test: the job must take another */
  let taken: Server;
  let takenPort = 0;

  before(async () => {
    dir = project(DOCKER_JOB);
    // the default keys: ~/.ssh/*.pub of whoever runs deckhand
    home = join(scratch, 'home');
    mkdirSync(join(home, '.ssh'), { recursive: true });
    mine = clientKey('mine');
    other = clientKey('other');
    writeFileSync(join(home, '.ssh', 'id_ed25519.pub'), `${mine.publicKey}\n`);
    taken = createServer();
    for (takenPort = 64535; takenPort <= 65535; takenPort++) {
      const ok = await new Promise<boolean>((resolve) => {
        taken.once('error', () => resolve(false));
        taken.listen({ port: takenPort, exclusive: true }, () => resolve(true));
      });
      if (ok) break;
    }
    job = startJob(dir, ['--job', 'test', '--ssh', '--ssh-host', '127.0.0.1', '--ssh-wait', '5s', '-e', 'DEBUG_SECRET=hunter2-secret'], { HOME: home });
    const out = await job.waitFor(/^Host key: .*$/m);
    const found = announced(out);
    assert.ok(found, out);
    at = found;
    holder = sshProcess(at.endpoint, mine, ['-N']);
    await job.waitFor(/SSH: root logged in from 127\.0\.0\.1:\d+ with ED25519 key/);
  });
  after(async () => {
    await holder?.stop();
    job?.signal('SIGINT');
    await job?.ended;
    await new Promise((resolve) => taken.close(resolve));
  });

  test('Enable SSH prints the exact ssh line and the host key, on a free port of 64535–65535 with the default keys', () => {
    const out = job.output();
    assert.match(out, /====>> Enable SSH\n/);
    assert.ok(out.indexOf('====>> Enable SSH') < out.indexOf('FROM_BASH_ENV'), 'Enable SSH comes before the first step');
    assert.equal(at.line, `ssh -p ${at.endpoint.port} root@127.0.0.1`);
    assert.ok(at.endpoint.port >= 64535 && at.endpoint.port <= 65535, `port ${at.endpoint.port} is in the range`);
    assert.notEqual(at.endpoint.port, takenPort, 'a port in use is passed over');
    assert.match(out, new RegExp(`Keys allowed: ${mine.fingerprint.replace(/[+/]/g, '\\$&')}`));
    // the fingerprint printed is the one of the key the client checks
    const printed = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', '-'], { input: `${at.endpoint.hostKey}\n`, encoding: 'utf8' }).split(/\s+/)[1];
    assert.equal(printed, at.fingerprint);
  });

  test('a key that is not authorized is refused, and the refusal is in the job output', async () => {
    const r = await ssh(at.endpoint, other, ['echo should-not-run']);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /Permission denied \(publickey\)/);
    await job.waitFor(new RegExp(`SSH: refused 127\\.0\\.0\\.1:\\d+ \\(key ${other.fingerprint.replace(/[+/]/g, '\\$&')}\\)`), 10_000);
  });

  test("ssh HOST CMD runs in the primary as the job's user, in the working directory, with the job's environment", async () => {
    const r = await ssh(at.endpoint, mine, ['echo "$(id -un) $(pwd) $JOB_VARIABLE $FROM_BASH_ENV $DEBUG_SECRET"; echo to-stderr >&2; exit 5']);
    assert.equal(r.code, 5, r.stderr);
    assert.equal(r.stdout, 'root /root/project from the job yes hunter2-secret\n');
    assert.equal(r.stderr, 'to-stderr\n');
    // the job's own output masks the secret; the session shows it, as the user's shell would
    assert.doesNotMatch(job.output(), /hunter2-secret/);
  });

  test('a terminal session through tmux: prompt, typing, resize, Ctrl-C, exit status', async () => {
    const terminal = await sshTerminal(at.endpoint, mine, { columns: 100, rows: 30 });
    try {
      await terminal.waitFor(/[#$]\s*$/);
      terminal.type('echo "[$JOB_VARIABLE] in $(pwd)"; stty size');
      await terminal.waitFor(/^\[from the job\] in \/root\/project\n30 100$/m);
      terminal.resize(132, 43);
      terminal.type('stty size');
      await terminal.waitFor(/^43 132$/m);
      terminal.type('sleep 120');
      await new Promise((resolve) => setTimeout(resolve, 300));
      terminal.keys('C-c');
      terminal.type('echo after-ctrl-c');
      await terminal.waitFor(/^after-ctrl-c$/m, 5_000);
      terminal.type('exit 4');
      await terminal.waitFor(/\[exited 4\]/);
    } finally {
      terminal.close();
    }
  });

  test('scp and sftp carry 10 MB both ways intact', async () => {
    await copyBothWays(at.endpoint, mine, 'docker');
    const sum = await ssh(at.endpoint, mine, ['sha256sum /tmp/by-scp /tmp/by-sftp | cut -d" " -f1 | uniq | wc -l']);
    assert.equal(sum.stdout.trim(), '1', 'both copies in the job are the same');
  });

  test("ssh -L reaches a service container's HTTP port", async () => {
    const port = await freePort();
    const forward = sshProcess(at.endpoint, mine, ['-N', '-o', 'ExitOnForwardFailure=yes', '-L', `127.0.0.1:${port}:web:8080`]);
    try {
      let body = '';
      for (let i = 0; i < 100 && body === ''; i++) {
        body = await fetchText(port).catch(() => '');
        if (body === '') await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(body, 'served by web\n');
    } finally {
      await forward.stop();
    }
  });

  test('the job is held past --ssh-wait while a session is open, and ends with the steps\' result when the last one leaves', async () => {
    await job.waitFor(/====>> Wait for SSH\n/);
    await job.waitFor(/session is open: the job stays until the last one leaves|sessions are open/);
    // well past the 5 s wait: still held
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    assert.doesNotMatch(job.output(), /the job ends/);
    const wait = job.output().slice(job.output().indexOf('====>> Wait for SSH'));
    assert.match(wait, new RegExp(`^${at.line}$`, 'm'), 'the wait repeats the ssh line');
    const left = Date.now();
    await holder.stop();
    const r = await job.ended;
    assert.ok(Date.now() - left < 10_000, 'the job ends soon after the last session leaves');
    assert.match(r.out, /The last session left: the job ends\./);
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(ownedBy(r.pid), []);
  });
});

describe('deckhand execute --ssh: the hold and a cancel', { concurrency: false, timeout: 300_000 }, () => {
  let key: ClientKey;
  let dir: string;
  before(() => {
    key = clientKey('hold');
    dir = project(DOCKER_JOB);
  });

  test('nobody connects: the job ends after --ssh-wait, with its steps\' result (failed)', async () => {
    const job = startJob(dir, ['--job', 'fails', '--ssh', '--ssh-authorized-keys', key.publicPath, '--ssh-host', '127.0.0.1', '--ssh-port', '64535-65535', '--ssh-wait', '2s', '--ssh-max-hold', '1h']);
    await job.waitFor(/====>> Wait for SSH\n/);
    const t0 = Date.now();
    const r = await job.ended;
    assert.ok(Date.now() - t0 < 8_000, 'ended soon after the 2 s wait');
    assert.match(r.out, /No session in 2s: the job ends\./);
    assert.equal(r.code, 1, 'the steps failed, so the job did');
    assert.deepEqual(ownedBy(r.pid), []);
  });

  test('a session still open at --ssh-max-hold is closed, and the job ends with its steps\' result', async () => {
    const job = startJob(dir, ['--job', 'fails', '--ssh', '--ssh-authorized-keys', key.publicPath, '--ssh-host', '127.0.0.1', '--ssh-wait', '5m', '--ssh-max-hold', '4s']);
    await job.waitFor(/^Host key: .*$/m);
    const at = announced(job.output());
    assert.ok(at);
    const session = sshProcess(at.endpoint, key, ['-N']);
    try {
      await job.waitFor(/====>> Wait for SSH\n/);
      const t0 = Date.now();
      const r = await job.ended;
      const took = Date.now() - t0;
      assert.ok(took > 3_000 && took < 12_000, `held ${took} ms for a 4 s maximum`);
      assert.match(r.out, /The job was held 4s, its longest: the sessions are closed and the job ends\./);
      assert.equal(r.code, 1);
      // the client is cut off with the job
      assert.equal(await Promise.race([session.exited, new Promise((resolve) => setTimeout(() => resolve('still running'), 10_000))]), 255);
      assert.deepEqual(ownedBy(r.pid), []);
    } finally {
      await session.stop();
    }
  });

  test('a cancel while a session is open ends the session and the job cleanly', async () => {
    const job = startJob(dir, ['--job', 'long', '--ssh', '--ssh-authorized-keys', key.publicPath, '--ssh-host', '127.0.0.1', '--ssh-wait', '5m']);
    await job.waitFor(/^started$/m);
    const at = announced(job.output());
    assert.ok(at);
    const terminal = await sshTerminal(at.endpoint, key);
    try {
      await terminal.waitFor(/[#$]\s*$/);
      terminal.type('sleep 300');
      await job.waitFor(/SSH: root logged in/);
      job.signal('SIGINT');
      const r = await job.ended;
      assert.equal(r.code, 130, r.out);
      // the client is told: its session ends with the job
      await terminal.waitFor(/\[exited \d+\]/, 15_000);
      assert.deepEqual(ownedBy(r.pid), []);
      const refused = await ssh(at.endpoint, key, ['true']);
      assert.equal(refused.code, 255, 'nothing listens after the job');
    } finally {
      terminal.close();
    }
  });
});

describe('deckhand execute --ssh on a machine job (a VM of the docker provider)', { concurrency: false, timeout: 300_000 }, () => {
  test("sessions land in the VM as its user, in the working directory, with the job's environment; a terminal, scp and sftp work", async () => {
    const key = clientKey('machine');
    const job = startJob(project(DOCKER_JOB), ['--job', 'on-a-machine', '--ssh', '--ssh-authorized-keys', key.publicPath, '--ssh-host', '127.0.0.1', '--ssh-wait', '2m']);
    await job.waitFor(/^Host key: .*$/m, 180_000);
    const at = announced(job.output());
    assert.ok(at, job.output());
    assert.equal(at.line, `ssh -p ${at.endpoint.port} circleci@127.0.0.1`);
    const holder = sshProcess(at.endpoint, key, ['-N']);
    try {
      // logged in before anything else: it holds the job while the other sessions come and go
      await job.waitFor(/SSH: circleci logged in from 127\.0\.0\.1:\d+ with ED25519 key/);
      await job.waitFor(/====>> Wait for SSH\n/);
      const r = await ssh(at.endpoint, key, ['echo "$(id -un) $(pwd) $JOB_VARIABLE $FROM_BASH_ENV"; echo e >&2; exit 6']);
      assert.deepEqual([r.code, r.stdout, r.stderr], [6, 'circleci /home/circleci/project from the job yes\n', 'e\n']);
      await copyBothWays(at.endpoint, key, 'machine');
      const terminal = await sshTerminal(at.endpoint, key, { columns: 90, rows: 25 });
      try {
        await terminal.waitFor(/[#$]\s*$/);
        terminal.type('echo "[$JOB_VARIABLE]"; stty size');
        await terminal.waitFor(/^\[from the job\]\n25 90$/m);
        terminal.resize(120, 40);
        terminal.type('stty size');
        await terminal.waitFor(/^40 120$/m);
        terminal.type('exit 2');
        await terminal.waitFor(/\[exited 2\]/);
      } finally {
        terminal.close();
      }
    } finally {
      await holder.stop();
    }
    const r = await job.ended;
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /The last session left: the job ends\./);
    assert.deepEqual(ownedBy(r.pid), [], 'the VM and its containers are gone');
  });
});
