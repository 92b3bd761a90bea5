/**
 * A VM lost mid-command: killed (the connection drops) or frozen (nothing answers, and only the
 * keepalives can tell). Either way the running command fails with ExecutorUnavailableError and a
 * one-line reason within a few seconds, later calls fail the same way at once, and teardown still
 * completes and gives the VM back.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ExecutorUnavailableError, type Executor } from '../../../agent/executor/executor.js';
import { MachineExecutor } from '../../../agent/executor/machine/machine-executor.js';
import { startSshd, type SshdContainer } from '../../support/sshd-container.js';
import { readAll } from '../docker/engine-fixture.js';

const KEEPALIVE_MS = 500;
const KEEPALIVE_COUNT = 3;

async function startedSleep(executor: Executor): Promise<{ exit: Promise<unknown>; output: Promise<unknown> }> {
  const run = executor.exec({ command: ['/bin/sh', '-c', 'echo started; exec sleep 60'] });
  let out = '';
  run.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const output = Promise.all([new Promise((resolve) => run.stdout.once('end', resolve)), readAll(run.stderr)]);
  while (!out.includes('started')) await new Promise((resolve) => setTimeout(resolve, 20));
  return { exit: run.exit, output };
}

async function assertLost(promise: Promise<unknown>, vm: SshdContainer, reason: RegExp): Promise<ExecutorUnavailableError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ExecutorUnavailableError, `expected ExecutorUnavailableError, got ${String(error)}`);
    assert.doesNotMatch(error.message, /\n/);
    assert.match(error.message, new RegExp(`^lost the connection to VM 127\\.0\\.0\\.1:${vm.port}: `));
    assert.match(error.message, reason);
    return error;
  }
  assert.fail('the command must fail');
}

async function lose(how: 'kill' | 'pause', reason: RegExp, withinMs: number): Promise<string> {
  const vm = await startSshd(`loss-${how}`);
  let released = 0;
  const executor = new MachineExecutor({
    access: vm.access(),
    release: async () => {
      released++;
      await vm.remove();
    },
    keepaliveIntervalMs: KEEPALIVE_MS,
    keepaliveCountMax: KEEPALIVE_COUNT,
  });
  try {
    await executor.prepare();
    const running = await startedSleep(executor);
    const t0 = Date.now();
    await (how === 'kill' ? vm.kill() : vm.pause());
    const error = await assertLost(running.exit, vm, reason);
    const took = Date.now() - t0;
    assert.ok(took < withinMs, `noticed after ${took} ms`);
    await running.output;
    // everything after fails the same way, at once
    const t1 = Date.now();
    await assertLost(executor.exec({ command: ['true'] }).exit, vm, reason);
    await assertLost(executor.exists('/etc'), vm, reason);
    await assertLost(executor.copyOut('/etc/hostname'), vm, reason);
    assert.ok(Date.now() - t1 < 500);
    const t2 = Date.now();
    await executor.teardown();
    assert.ok(Date.now() - t2 < 5_000, `teardown took ${Date.now() - t2} ms`);
    assert.equal(released, 1);
    return `${error.message} (after ${took} ms)`;
  } finally {
    await executor.teardown().catch(() => undefined);
    await vm.remove();
  }
}

describe('MachineExecutor: a VM lost mid-command', () => {
  test('killed: the connection drops, the command fails as an infrastructure failure at once', async (t) => {
    t.diagnostic(await lose('kill', /closed|ECONNRESET|keepalive/i, 3_000));
  });

  test('frozen: keepalives go unanswered, and the command fails within their timeout', async (t) => {
    t.diagnostic(await lose('pause', /stopped answering keepalives/, KEEPALIVE_MS * (KEEPALIVE_COUNT + 1) + 2_000));
  });
});
