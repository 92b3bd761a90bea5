/**
 * runJob's own logic, without a Docker engine: the job runs in the chroot test double
 * (test/support/chroot-executor.ts), whose processes, files and signals are real. `when` after
 * a failure, `circleci-agent step halt`, background steps, auto reruns, no_output_timeout, an
 * executor that goes away mid-job, cancellation, a failing spin-up — and teardown on every path.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { runJobOptionsFor } from '../support/assignment.js';
import { ExecutorUnavailableError, type ExecRequest, type Executor, type RunningExec } from '../../agent/executor/executor.js';
import { type RunStep, type Step } from '../../agent/jobspec/jobspec.js';
import type { JobEvent, OutputSink, StepStatus } from '../../agent/output/events.js';
import { runJob, SPIN_UP_STEP, type JobResult, type RunJobOptions } from '../../agent/runner/job-runner.js';
import { ChrootExecutor, processesRootedAt, type ChrootExecutorOptions } from '../support/chroot-executor.js';

const scratch = mkdtempSync(join(tmpdir(), 'deckhand-job-runner-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Short, so that a step that ignores SIGTERM does not hold a test up for the default 10 s. */
const KILL_GRACE_MS = 2000;
const TEST_TIMEOUT = { timeout: 60_000 };

/** Collects a job's events in memory. */
class MemorySink implements OutputSink {
  readonly events: JobEvent[] = [];
  event(e: JobEvent): void {
    this.events.push(e);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  /** Indices of the steps that started (the spin-up is SPIN_UP_STEP). */
  started(): number[] {
    return this.events.flatMap((e) => (e.type === 'step-start' && e.index !== SPIN_UP_STEP ? [e.index] : []));
  }
  ends(): { index: number; status: StepStatus; exitCode?: number; message?: string }[] {
    return this.events.flatMap((e) =>
      e.type === 'step-end' ? [{ index: e.index, status: e.status, ...(e.exitCode !== undefined ? { exitCode: e.exitCode } : {}), ...(e.message ? { message: e.message } : {}) }] : [],
    );
  }
  end(index: number): { index: number; status: StepStatus; exitCode?: number; message?: string } {
    const found = this.ends().find((e) => e.index === index);
    assert.ok(found, `step ${index} has no end event`);
    return found;
  }
  /** What step `index` wrote to `stream` (the agent's own lines with 'agent'). */
  output(index: number, stream: 'stdout' | 'stderr' | 'agent' = 'stdout'): string {
    return this.events
      .flatMap((e) => (e.type === 'output' && e.index === index && e.stream === stream ? [e.data.toString('utf8')] : []))
      .join('');
  }
  /** Resolves once step `index` has written `text` to stdout. */
  async seen(index: number, text: string): Promise<void> {
    const deadline = Date.now() + 20_000;
    while (!this.output(index).includes(text)) {
      if (Date.now() > deadline) assert.fail(`step ${index} did not print "${text}"`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  jobEnd(): Extract<JobEvent, { type: 'job-end' }> {
    const found = this.events.find((e): e is Extract<JobEvent, { type: 'job-end' }> => e.type === 'job-end');
    assert.ok(found, 'no job-end event');
    return found;
  }
}

/** A ChrootExecutor that counts its teardowns and copies in. */
class CountingExecutor extends ChrootExecutor {
  teardowns = 0;
  copiesIn = 0;
  override async teardown(): Promise<void> {
    this.teardowns++;
    await super.teardown();
  }
  override copyIn(destinationDir: string, tar: Readable, signal?: AbortSignal): Promise<void> {
    this.copiesIn++;
    return super.copyIn(destinationDir, tar, signal);
  }
}

/** Its exec() works `working` times, then fails as an executor whose engine went away. */
class VanishingExecutor extends CountingExecutor {
  execs = 0;
  constructor(private readonly working: number, options?: ChrootExecutorOptions) {
    super(options);
  }
  override exec(request: ExecRequest): RunningExec {
    if (++this.execs <= this.working) return super.exec(request);
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    stdout.end();
    stderr.end();
    const exit = Promise.reject(new ExecutorUnavailableError('the test engine went away'));
    exit.catch(() => undefined);
    return { stdout, stderr, exit, signal: async () => undefined };
  }
}

/**
 * The one place that knows the shape of RunJobOptions (and of the JobSpec around the steps):
 * runs `steps` on `executor` and returns the result with the events.
 */
async function runSteps(
  executor: Executor,
  steps: Step[],
  { signal = new AbortController().signal, sink = new MemorySink() }: { signal?: AbortSignal; sink?: MemorySink } = {},
): Promise<{ result: JobResult; sink: MemorySink }> {
  const options: RunJobOptions = runJobOptionsFor({
    steps,
    executor,
    sink,
    scratch,
    kind: { kind: 'docker', containers: [{ image: 'deckhand-test/chroot', environment: {} }] },
    environment: { FROM_JOB: 'job value' },
    signal,
  });
  const result = await runJob(options);
  return { result, sink };
}

function run(command: string, extra: Partial<RunStep> = {}): RunStep {
  return { type: 'run', name: extra.name ?? command.split('\n')[0], when: 'on_success', command, environment: {}, background: false, noOutputTimeoutSeconds: 600, ...extra };
}

/** Teardown ran, and neither the chroot's folder nor a process in it is left. */
async function assertCleanedUp(executor: CountingExecutor): Promise<void> {
  assert.ok(executor.teardowns >= 1, 'teardown must be called');
  const root = executor.root;
  if (!root) return;
  assert.equal(existsSync(root), false, `${root} must be removed`);
  assert.deepEqual(await processesRootedAt(root), [], `no process may remain in ${root}`);
}

const executor = (): CountingExecutor => new CountingExecutor({ killGraceMs: KILL_GRACE_MS });

describe('runJob on the chroot executor', () => {
  test('runs the steps in the chroot: environment, working directory, the job tools on PATH', TEST_TIMEOUT, async () => {
    const ex = executor();
    const { result, sink } = await runSteps(ex, [run('echo "$FROM_JOB|$CIRCLE_JOB|$(pwd)|$(command -v circleci-agent)|$(readlink "$(command -v circleci)")|$(id -u)"')]);
    assert.equal(result.status, 'success', sink.output(SPIN_UP_STEP, 'agent'));
    assert.equal(sink.output(0), 'job value|build|/root/project|/opt/circleci/bin/circleci-agent|circleci-agent|0\n');
    assert.equal(ex.copiesIn, 0, 'the startup script installed the job tools: nothing had to be copied in');
    assert.equal(sink.jobEnd().status, 'success');
    await assertCleanedUp(ex);
  });

  test('after a failure only on_fail and always steps run, in order', TEST_TIMEOUT, async () => {
    const ex = executor();
    const { result, sink } = await runSteps(ex, [
      run('echo first; echo first >> /tmp/order'),
      run('echo failing >> /tmp/order; exit 3'),
      run('echo on_success >> /tmp/order', { when: 'on_success' }),
      run('echo on_fail >> /tmp/order', { when: 'on_fail' }),
      run('echo always >> /tmp/order; cat /tmp/order', { when: 'always' }),
      run('echo late on_success >> /tmp/order', { when: 'on_success' }),
    ]);
    assert.deepEqual([result.status, result.infrastructureFailure], ['failed', false]);
    assert.deepEqual(sink.started(), [0, 1, 3, 4]);
    assert.deepEqual(
      sink.ends().filter((e) => e.index !== SPIN_UP_STEP).map((e) => [e.index, e.status, e.exitCode]),
      [
        [0, 'success', 0],
        [1, 'failed', 3],
        [3, 'success', 0],
        [4, 'success', 0],
      ],
    );
    assert.equal(sink.output(4), 'first\nfailing\non_fail\nalways\n');
    assert.equal(sink.jobEnd().status, 'failed');
    await assertCleanedUp(ex);
  });

  test('circleci-agent step halt ends the job after that step, successfully', TEST_TIMEOUT, async () => {
    const ex = executor();
    const { result, sink } = await runSteps(ex, [
      run('echo before'),
      run('echo halting; circleci-agent step halt; echo after halt in the same step'),
      run('echo must not run'),
      run('echo must not run either', { when: 'always' }),
    ]);
    assert.equal(result.status, 'success', sink.output(1, 'stderr'));
    assert.deepEqual(sink.started(), [0, 1]);
    assert.equal(sink.output(1), 'halting\nafter halt in the same step\n');
    await assertCleanedUp(ex);
  });

  test("a background step runs beside later steps, its output is kept, and it is stopped at the job's end", TEST_TIMEOUT, async () => {
    const ex = executor();
    const t0 = Date.now();
    const { result, sink } = await runSteps(ex, [
      run("trap 'echo background stopped; exit 0' TERM; echo background started; touch /tmp/bg-alive; while :; do sleep 0.1; done", { name: 'server', background: true }),
      run('i=0; until [ -e /tmp/bg-alive ]; do i=$((i+1)); [ $i -lt 200 ] || exit 9; sleep 0.1; done; echo saw the background step'),
    ]);
    assert.equal(result.status, 'success');
    assert.deepEqual(sink.started(), [0, 1]);
    assert.equal(sink.output(1), 'saw the background step\n');
    assert.equal(sink.output(0), 'background started\nbackground stopped\n');
    const ends = sink.ends().filter((e) => e.index !== SPIN_UP_STEP);
    assert.deepEqual(
      ends.map((e) => e.index),
      [1, 0],
      'the background step ends after the last step, when the job stops it',
    );
    assert.equal(sink.end(0).status, 'canceled');
    assert.ok(Date.now() - t0 < KILL_GRACE_MS + 15_000, 'stopping it must not wait long');
    await assertCleanedUp(ex);
  });

  test('max_auto_reruns reruns a failing step until it passes, and says so', TEST_TIMEOUT, async () => {
    const ex = executor();
    const { result, sink } = await runSteps(ex, [
      run('n=$(cat /tmp/count 2>/dev/null || echo 0); n=$((n+1)); echo $n > /tmp/count; echo "attempt $n"; [ $n -ge 3 ]', { maxAutoReruns: 4 }),
      run('n=$(cat /tmp/other 2>/dev/null || echo 0); n=$((n+1)); echo $n > /tmp/other; echo "try $n"; exit 5', { maxAutoReruns: 1, when: 'always' }),
    ]);
    assert.equal(sink.output(0), 'attempt 1\nattempt 2\nattempt 3\n');
    assert.match(sink.output(0, 'agent'), /Rerunning the step \(attempt 2 of 5\)/);
    assert.match(sink.output(0, 'agent'), /Rerunning the step \(attempt 3 of 5\)/);
    assert.doesNotMatch(sink.output(0, 'agent'), /attempt 4/);
    assert.equal(sink.end(0).status, 'success');
    // out of reruns: the last attempt's failure is the step's
    assert.equal(sink.output(1), 'try 1\ntry 2\n');
    assert.match(sink.output(1, 'agent'), /Rerunning the step \(attempt 2 of 2\)/);
    assert.deepEqual([sink.end(1).status, sink.end(1).exitCode], ['failed', 5]);
    assert.equal(result.status, 'failed');
    await assertCleanedUp(ex);
  });

  test('no_output_timeout ends a silent step as timedout', TEST_TIMEOUT, async () => {
    const ex = executor();
    const t0 = Date.now();
    const { result, sink } = await runSteps(ex, [
      run('echo talking; sleep 0.5; echo still talking; sleep 60', { noOutputTimeoutSeconds: 1 }),
      run('echo cleanup', { when: 'always' }),
    ]);
    const end = sink.end(0);
    assert.equal(end.status, 'timedout');
    assert.match(end.message ?? '', /^Too long with no output \(exceeded 1s\)/);
    assert.equal(sink.output(0), 'talking\nstill talking\n');
    assert.equal(sink.output(1), 'cleanup\n');
    assert.equal(result.status, 'failed');
    assert.ok(Date.now() - t0 < 20_000, `took ${Date.now() - t0} ms`);
    await assertCleanedUp(ex);
  });

  test('an executor that goes away stops the job: no later step, not even always, and an infrastructure failure', TEST_TIMEOUT, async () => {
    const ex = new VanishingExecutor(1, { killGraceMs: KILL_GRACE_MS });
    const { result, sink } = await runSteps(ex, [run('echo fine'), run('echo never printed'), run('echo nor this', { when: 'always' }), run('echo nor that', { when: 'on_fail' })]);
    assert.deepEqual([result.status, result.infrastructureFailure], ['failed', true]);
    assert.deepEqual(sink.started(), [0, 1]);
    assert.equal(sink.output(0), 'fine\n');
    assert.equal(sink.end(1).status, 'failed');
    assert.match(sink.end(1).message ?? '', /the test engine went away/);
    assert.equal(ex.execs, 2);
    await assertCleanedUp(ex);
  });

  test('cancelling mid-step stops the command, skips the rest and tears down', TEST_TIMEOUT, async () => {
    const ex = executor();
    const cancel = new AbortController();
    const t0 = Date.now();
    const events = new MemorySink();
    const job = runSteps(ex, [run('echo started; sleep 60'), run('echo never', { when: 'always' })], { signal: cancel.signal, sink: events });
    await events.seen(0, 'started');
    cancel.abort();
    const { result, sink } = await job;
    assert.equal(result.status, 'canceled');
    assert.equal(result.infrastructureFailure, false);
    assert.deepEqual(sink.started(), [0]);
    assert.equal(sink.output(0), 'started\n');
    assert.equal(sink.end(0).status, 'canceled');
    assert.equal(sink.jobEnd().status, 'canceled');
    assert.ok(Date.now() - t0 < KILL_GRACE_MS + 20_000, `took ${Date.now() - t0} ms`);
    await assertCleanedUp(ex);
  });

  test('a failing prepare ends the job as an infrastructure failure, and still tears down', TEST_TIMEOUT, async () => {
    const ex = new CountingExecutor({ killGraceMs: KILL_GRACE_MS, parent: join(scratch, 'no', 'such', 'folder') });
    const { result, sink } = await runSteps(ex, [run('echo never', { when: 'always' })]);
    assert.deepEqual([result.status, result.infrastructureFailure], ['failed', true]);
    assert.deepEqual(sink.started(), []);
    const spinUp = sink.end(SPIN_UP_STEP);
    assert.equal(spinUp.status, 'failed');
    assert.match(spinUp.message ?? '', /cannot make the chroot/);
    assert.equal(sink.jobEnd().status, 'failed');
    await assertCleanedUp(ex);
  });
});
