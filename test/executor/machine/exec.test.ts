/**
 * Commands over SSH as a real VM runs them: logged in as `circleci`, other users through sudo.
 * The environment byte for byte (quotes, newlines, `$`, names `export` cannot take, a command too
 * long for one command line), 50 MB of binary output unchanged, a slow reader that holds the
 * command back with bounded memory, cancel through sudo, cancel as the login user at once and after
 * `exec`, and many commands on one connection without a leaked channel (the test sshd keeps
 * OpenSSH's MaxSessions of 10).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { type ExecRequest } from '../../../agent/executor/executor.js';
import { MachineExecutor } from '../../../agent/executor/machine/machine-executor.js';
import { startSshd, type SshdContainer } from '../../support/sshd-container.js';
import { collect, readAll } from '../docker/engine-fixture.js';

const KILL_GRACE_MS = 1500;

/** Processes on the VM besides sshd's own and the connection's SFTP server, once settled. */
async function commandsLeft(vm: SshdContainer): Promise<string[]> {
  const deadline = Date.now() + 1500;
  for (;;) {
    const left = (await vm.processes()).filter((line) => !/sshd: |sftp-server/.test(line));
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('MachineExecutor: commands', () => {
  let vm: SshdContainer;
  let executor: MachineExecutor;
  before(async () => {
    vm = await startSshd('exec');
    executor = new MachineExecutor({ access: vm.access(), release: () => vm.remove(), killGraceMs: KILL_GRACE_MS });
    await executor.prepare();
  });
  after(async () => {
    await executor?.teardown();
    await vm?.remove();
  });

  const sh = (script: string, extra: Partial<ExecRequest> = {}) => collect(executor.exec({ command: ['/bin/sh', '-c', script], ...extra }));

  test('commands run as the login user in its home; other users, root included, through sudo', async () => {
    assert.equal((await sh('printf "%s|%s|%s" "$(id -un)" "$HOME" "$(pwd)"')).stdout, 'circleci|/home/circleci|/home/circleci');
    assert.equal((await sh('printf "%s|%s" "$(id -u)" "$HOME"', { user: 'root' })).stdout, '0|/root');
    assert.equal((await sh('printf "%s:%s" "$(id -u)" "$(id -g)"', { user: '0:0' })).stdout, '0:0');
    assert.equal((await sh('printf "%s|%s" "$(id -un)" "$(pwd)"', { user: 'user', workingDirectory: '/tmp' })).stdout, 'user|/tmp');
    assert.equal((await sh('id -un', { user: 'circleci' })).stdout, 'circleci\n');
  });

  test('the environment arrives byte for byte, whatever the names and values', async () => {
    const env: Record<string, string> = {
      QUOTES: `it's "quoted" and 'single' \\ back\\slash`,
      NEWLINES: 'line one\nline two\n\nline four\n',
      DOLLARS: '$HOME ${PATH} $(id -u) `id -u` $$ $1',
      GLOBS: '* ? [a-z] ~ ~/x',
      EMPTY: '',
      UNICODE: 'naïve ☃ 日本',
      'DOTTED.NAME': 'not an identifier: goes through env(1)',
      UID: 'readonly in bash',
    };
    const r = await collect(executor.exec({ command: ['env', '-0'], env }));
    assert.equal(r.exitCode, 0, r.stderr);
    const seen = new Map(
      r.stdout
        .split('\0')
        .filter(Boolean)
        .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)] as const),
    );
    for (const [name, value] of Object.entries(env)) assert.equal(seen.get(name), value, name);
    // the same through sudo, which starts from a clean environment
    const asRoot = await collect(executor.exec({ command: ['sh', '-c', 'printf "%s" "$NEWLINES$DOLLARS"'], env, user: 'root' }));
    assert.equal(asRoot.stdout, env.NEWLINES + env.DOLLARS);
  });

  test('a command and environment longer than one command line may be go over stdin; the command still gets an empty stdin', async () => {
    // each word under the kernel's 128 KiB per argument, together well over it
    const part = 'x'.repeat(60 * 1024);
    const env = { PART_A: part, PART_B: part, PART_C: part };
    const script = `printf '%s' "$PART_A$PART_B$PART_C" | wc -c; printf '%s' '${part}' | wc -c; wc -c`;
    const r = await collect(executor.exec({ command: ['/bin/sh', '-c', script], env }));
    assert.equal(r.exitCode, 0, r.stderr.slice(0, 500));
    assert.equal(r.stdout.replace(/ /g, ''), `${3 * part.length}\n${part.length}\n0\n`);
    const viaSudo = await collect(executor.exec({ command: ['/bin/sh', '-c', `${script}; id -u`], env, user: 'root' }));
    assert.equal(viaSudo.stdout.replace(/ /g, ''), `${3 * part.length}\n${part.length}\n0\n0\n`, viaSudo.stderr.slice(0, 500));
  });

  test('50 MB of binary stdout arrives byte for byte', async () => {
    const made = await sh('head -c 52428800 /dev/urandom > /tmp/blob50 && sha256sum /tmp/blob50');
    assert.equal(made.exitCode, 0, made.stderr);
    const expected = made.stdout.split(' ')[0];
    const run = executor.exec({ command: ['cat', '/tmp/blob50'] });
    const hash = createHash('sha256');
    let bytes = 0;
    run.stdout.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
    });
    const [err] = await Promise.all([readAll(run.stderr), new Promise((resolve) => run.stdout.once('end', resolve))]);
    assert.deepEqual(await run.exit, { exitCode: 0, aborted: false });
    assert.equal(err.toString(), '');
    assert.equal(bytes, 52428800);
    assert.equal(hash.digest('hex'), expected);
  });

  test('a slow reader holds the command back, and the agent buffers a few MB at most', async (t) => {
    // 64 chunks of 1 MiB, each counted on the VM once written
    const run = executor.exec({ command: ['/bin/bash', '-c', 'for i in $(seq 64); do head -c 1048576 /dev/zero; echo $i > /tmp/slow-count; done'] });
    const err = readAll(run.stderr);
    const before = process.memoryUsage().arrayBuffers;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const written = Number((await sh('cat /tmp/slow-count')).stdout.trim());
    const held = process.memoryUsage().arrayBuffers - before;
    t.diagnostic(`unread for 1.5 s: the command wrote ${written} of 64 MiB; the agent holds ${(held / 1024 / 1024).toFixed(1)} MiB more`);
    assert.ok(written <= 12, `the command wrote ${written} MiB while nothing was read: not held back`);
    assert.ok(held < 16 * 1024 * 1024, `the agent holds ${Math.round(held / 1024 / 1024)} MiB for an unread command`);
    assert.ok(run.stdout.readableLength <= 2 * 1024 * 1024, `stdout buffers ${run.stdout.readableLength} bytes`);
    // reading slowly (a few MB/s) still gets every byte, and the command ends
    let bytes = 0;
    for await (const chunk of run.stdout as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes < 8 * 1024 * 1024) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await err;
    assert.equal(bytes, 64 * 1048576);
    assert.deepEqual(await run.exit, { exitCode: 0, aborted: false });
  });

  test('cancel through sudo: a command of another user that traps TERM gets it once, then KILL after the grace period', async () => {
    const abort = new AbortController();
    const run = executor.exec({
      command: ['/bin/sh', '-c', "trap 'echo got TERM' TERM; echo ready; while :; do sleep 0.1; done"],
      user: 'user',
      signal: abort.signal,
    });
    let out = '';
    run.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const err = readAll(run.stderr);
    while (!out.includes('ready')) await new Promise((resolve) => setTimeout(resolve, 20));
    const t0 = Date.now();
    abort.abort();
    const result = await run.exit;
    const took = Date.now() - t0;
    await err;
    assert.deepEqual(result, { exitCode: 137, aborted: true });
    assert.equal(out, 'ready\ngot TERM\n', 'TERM once (sudo must not pass on a second one), then KILL');
    assert.ok(took >= KILL_GRACE_MS - 50 && took < KILL_GRACE_MS + 5000, `KILL after ${took} ms`);
    assert.deepEqual(await commandsLeft(vm), []);
  });

  test('cancel as the login user reaches the command however early, and after it exec\'d another program', async () => {
    // aborted as soon as the exec request is out: the signal waits for the shell to report its group
    const early = new AbortController();
    const first = executor.exec({ command: ['/bin/bash', '-c', 'sleep 30'], signal: early.signal });
    setImmediate(() => early.abort());
    const t0 = Date.now();
    await Promise.all([readAll(first.stdout), readAll(first.stderr)]);
    assert.deepEqual(await first.exit, { exitCode: 143, aborted: true });
    assert.ok(Date.now() - t0 < KILL_GRACE_MS, 'TERM ended it, not KILL after the grace period');
    // the shell replaced itself: its group is still the one it reported
    const later = new AbortController();
    const second = executor.exec({ command: ['/bin/bash', '-eo', 'pipefail', '-c', 'echo ready; exec sleep 30'], signal: later.signal });
    let out = '';
    second.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    while (!out.includes('ready')) await new Promise((resolve) => setTimeout(resolve, 20));
    later.abort();
    await readAll(second.stderr);
    assert.deepEqual(await second.exit, { exitCode: 143, aborted: true });
    assert.deepEqual(await commandsLeft(vm), []);
  });

  test('300 commands one after another on one connection: no channel left open, each a few ms', async (t) => {
    const t0 = performance.now();
    for (let i = 0; i < 300; i++) {
      const r = await collect(executor.exec({ command: ['echo', String(i)] }));
      assert.equal(r.stdout, `${i}\n`);
    }
    const perExec = (performance.now() - t0) / 300;
    const t1 = performance.now();
    for (let i = 0; i < 300; i++) assert.equal(await executor.exists(i % 2 ? '/etc/passwd' : '/no/such'), i % 2 === 1);
    const perExists = (performance.now() - t1) / 300;
    t.diagnostic(`exec of echo: ${perExec.toFixed(2)} ms; exists: ${perExists.toFixed(3)} ms`);
    // more sessions at once than the 10 sshd allows would be refused: these 8 and exists' SFTP fit
    const together = await Promise.all(Array.from({ length: 8 }, (_, i) => collect(executor.exec({ command: ['sh', '-c', `sleep 0.2; echo ${i}`] }))));
    assert.deepEqual(
      together.map((r) => r.stdout),
      Array.from({ length: 8 }, (_, i) => `${i}\n`),
    );
    assert.deepEqual(await commandsLeft(vm), [], 'no command left on the VM');
  });
});
