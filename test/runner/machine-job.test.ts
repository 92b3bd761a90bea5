/**
 * runJob on the machine executor against a real sshd (deckhand-test/sshd:bookworm), logged in as
 * `circleci` as on a VM: the probe, the job tools, steps in ~/project with the job's environment
 * and $BASH_ENV, a background step, no_output_timeout, `circleci-agent step halt`; and a VM that
 * dies mid-step, which ends the job as an infrastructure failure. The RunJobOptions are built
 * from an assignment as in job-runner.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { runJobOptionsFor } from '../support/assignment.js';
import { MachineExecutor } from '../../agent/executor/machine/machine-executor.js';
import { type RunStep } from '../../agent/jobspec/jobspec.js';
import type { JobEvent, OutputSink, StepStatus } from '../../agent/output/events.js';
import { runJob, SPIN_UP_STEP, type JobResult } from '../../agent/runner/job-runner.js';
import { startSshd, type SshdContainer } from '../support/sshd-container.js';

const scratch = mkdtempSync(join(tmpdir(), 'deckhand-machine-job-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const KILL_GRACE_MS = 2000;
const TEST_TIMEOUT = { timeout: 90_000 };

class MemorySink implements OutputSink {
  readonly events: JobEvent[] = [];
  event(e: JobEvent): void {
    this.events.push(e);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  started(): number[] {
    return this.events.flatMap((e) => (e.type === 'step-start' && e.index !== SPIN_UP_STEP ? [e.index] : []));
  }
  end(index: number): { status: StepStatus; exitCode?: number; message?: string } {
    const found = this.events.find((e): e is Extract<JobEvent, { type: 'step-end' }> => e.type === 'step-end' && e.index === index);
    assert.ok(found, `step ${index} has no end event`);
    return found;
  }
  endOrder(): number[] {
    return this.events.flatMap((e) => (e.type === 'step-end' && e.index !== SPIN_UP_STEP ? [e.index] : []));
  }
  output(index: number, stream: 'stdout' | 'stderr' | 'agent' = 'stdout'): string {
    return this.events.flatMap((e) => (e.type === 'output' && e.index === index && e.stream === stream ? [e.data.toString('utf8')] : [])).join('');
  }
}

function run(command: string, extra: Partial<RunStep> = {}): RunStep {
  return { type: 'run', name: extra.name ?? command.split('\n')[0], when: 'on_success', command, environment: {}, background: false, noOutputTimeoutSeconds: 600, ...extra };
}

/** A machine job of `steps` on `executor`, built from an assignment as the front ends build it. */
async function runSteps(executor: MachineExecutor, steps: RunStep[], sink = new MemorySink()): Promise<{ result: JobResult; sink: MemorySink }> {
  const result = await runJob(
    runJobOptionsFor({
      steps,
      executor,
      sink,
      scratch,
      kind: { kind: 'machine', image: 'ubuntu-2204:current', dockerLayerCaching: false },
      environment: { FROM_JOB: 'job value with $dollar and "quotes"' },
    }),
  );
  return { result, sink };
}

/** A VM of its own, given back by the executor's teardown; counts the releases. */
async function machine(name: string): Promise<{ vm: SshdContainer; executor: MachineExecutor; releases: () => number }> {
  const vm = await startSshd(name);
  let released = 0;
  const executor = new MachineExecutor({
    access: vm.access(),
    release: async () => {
      released++;
      await vm.remove();
    },
    killGraceMs: KILL_GRACE_MS,
  });
  return { vm, executor, releases: () => released };
}

describe('runJob on the machine executor', () => {
  test('steps run as circleci in ~/project with the environment and $BASH_ENV; background, no_output_timeout and halt', TEST_TIMEOUT, async () => {
    const { vm, executor, releases } = await machine('job');
    try {
      const { result, sink } = await runSteps(executor, [
        run('echo "$FROM_JOB|$CIRCLE_JOB|$(pwd)|$(id -un)|$(command -v circleci-agent)"; echo \'export FROM_BASH_ENV="set in step 0"\' >> "$BASH_ENV"'),
        run("trap 'echo background stopped; exit 0' TERM; echo background started; touch /tmp/bg-alive; while :; do sleep 0.1; done", { name: 'server', background: true }),
        run('i=0; until [ -e /tmp/bg-alive ]; do i=$((i+1)); [ $i -lt 200 ] || exit 9; sleep 0.1; done; echo "saw the background step; $FROM_BASH_ENV"'),
        run('echo talking; sleep 60', { noOutputTimeoutSeconds: 1 }),
        run('echo halting; circleci-agent step halt; echo after halt in the same step', { when: 'always' }),
        run('echo must not run', { when: 'always' }),
      ]);
      assert.equal(sink.end(SPIN_UP_STEP).status, 'success', sink.output(SPIN_UP_STEP, 'agent'));
      assert.equal(sink.output(0), 'job value with $dollar and "quotes"|build|/home/circleci/project|circleci|/opt/circleci/bin/circleci-agent\n', sink.output(0, 'stderr'));
      assert.equal(sink.output(2), 'saw the background step; set in step 0\n');
      assert.equal(sink.end(3).status, 'timedout');
      assert.match(sink.end(3).message ?? '', /^Too long with no output \(exceeded 1s\)/);
      assert.equal(sink.output(4), 'halting\nafter halt in the same step\n');
      assert.deepEqual(sink.started(), [0, 1, 2, 3, 4], 'the halt stops the job after its step');
      assert.equal(sink.output(1), 'background started\nbackground stopped\n');
      assert.equal(sink.end(1).status, 'canceled');
      assert.equal(sink.endOrder().at(-1), 1, 'the background step ends with the job');
      // the timed-out step failed the job; the halt does not change that
      assert.deepEqual([result.status, result.infrastructureFailure], ['failed', false]);
      assert.equal(releases(), 1, 'teardown gave the VM back');
    } finally {
      await executor.teardown().catch(() => undefined);
      await vm.remove();
    }
  });

  test('a VM that dies mid-step ends the job as an infrastructure failure, with the reason, and is given back', TEST_TIMEOUT, async () => {
    const { vm, executor, releases } = await machine('job-loss');
    try {
      const killer = (async () => {
        // once the step is running
        for (let i = 0; i < 200; i++) {
          if ((await vm.processes()).some((line) => line.includes('sleep 30'))) break;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        await vm.kill();
      })();
      const { result, sink } = await runSteps(executor, [run('echo fine'), run('echo running; sleep 30'), run('echo never', { when: 'always' })]);
      await killer;
      assert.deepEqual([result.status, result.infrastructureFailure], ['failed', true]);
      assert.deepEqual(sink.started(), [0, 1]);
      assert.equal(sink.end(1).status, 'failed');
      assert.match(sink.end(1).message ?? '', new RegExp(`^lost the connection to VM 127\\.0\\.0\\.1:${vm.port}: `));
      assert.equal(releases(), 1);
    } finally {
      await executor.teardown().catch(() => undefined);
      await vm.remove();
    }
  });
});
