/**
 * Runs one JobSpec on an Executor, in phases like Buildkite's job runner: spin up the
 * environment (containers, probe, in-container tools), then the steps in order with CircleCI's
 * `when` rules, then stop background commands and tear everything down — on every path.
 *
 * Every step's output goes to the sink as events; the sink is expected to mask secrets.
 */
import { ExecutorUnavailableError, type Executor } from '../executor/executor.js';
import { JOB_TOOLS_DIR } from '../job-tools/install.js';
import type { JobSpec, Step } from '../jobspec/jobspec.js';
import type { JobStatus, OutputSink, StepStatus } from '../output/events.js';
import { runOnce, type BackgroundCommand } from '../steps/run.js';
import type { LocalInputs, StepContext, StepResult } from '../steps/step.js';
import { stepOutput } from '../steps/step-output.js';
import type { JobStorage } from '../store/job-storage.js';
import { jobEnvironment, type JobIdentity } from './environment.js';
import { probePrimary, startupScript } from './probe.js';

/**
 * The step handlers and the timings delivery (with what they import: stores, archives, JUnit)
 * load while the containers start, once their create calls are on their way: nothing before the
 * first step needs them, and the wait for the engine would otherwise be idle time.
 */
let stepModules: Promise<[typeof import('../steps/index.js'), typeof import('../test-results/deliver-timings.js')]> | undefined;
function loadStepModules(): NonNullable<typeof stepModules> {
  stepModules ??= Promise.all([import('../steps/index.js'), import('../test-results/deliver-timings.js')]);
  // a failed load is reported by the step that awaits it, not as an unhandled rejection
  stepModules.catch(() => undefined);
  return stepModules;
}

/** Pseudo-step indices of the phases before the first step (JobSpec steps are 0-based). */
export const SPIN_UP_STEP = -1;

export interface RunJobOptions {
  spec: JobSpec;
  executor: Executor;
  sink: OutputSink;
  identity: JobIdentity;
  /** `-e` and `--env-file` values (CircleCI's project variables) */
  project: Record<string, string>;
  contexts: Record<string, string>;
  local: LocalInputs;
  /** the store and the ids that scope caches, workspaces and artifacts */
  storage: JobStorage;
  /** aborted on Ctrl-C or SIGTERM */
  signal: AbortSignal;
  /** where the full log goes, announced with the job's end */
  logFile?: string;
}

export interface JobResult {
  status: JobStatus;
  durationMs: number;
  /** true when the environment could not be set up (engine or image problem), not a step failure */
  infrastructureFailure: boolean;
}

export async function runJob(opts: RunJobOptions): Promise<JobResult> {
  const { spec, executor, sink, signal } = opts;
  const started = Date.now();
  const environment = jobEnvironment(spec, opts.identity, opts.project, opts.contexts);
  sink.event({ type: 'job-start', job: spec.job.name, time: started, environment });

  const background: Promise<StepResult>[] = [];
  const stops: AbortController[] = [];
  let status: JobStatus = 'success';
  let infrastructureFailure = false;
  try {
    const ctx = await spinUp(opts, environment);
    if (!ctx) {
      infrastructureFailure = !signal.aborted;
      status = signal.aborted ? 'canceled' : 'failed';
      return { status, durationMs: Date.now() - started, infrastructureFailure };
    }
    let failed = false;
    for (const [index, step] of spec.steps.entries()) {
      if (signal.aborted) break;
      if (!shouldRun(step, failed)) continue;
      const output = stepOutput(sink, index);
      const stepCtx: StepContext = { ...ctx, output, jobFailed: failed };
      const t0 = Date.now();
      sink.event({ type: 'step-start', index, name: step.name, stepType: step.type, time: t0, background: step.type === 'run' && step.background });
      if (step.type === 'run' && step.background) {
        const cmd: BackgroundCommand = runOnce(step, stepCtx);
        stops.push(cmd.stop);
        background.push(cmd.done.then((r) => endStep(sink, index, t0, r)));
        continue;
      }
      const result = await runStepSafely(step, stepCtx);
      endStep(sink, index, t0, result);
      if (result.status === 'failed' || result.status === 'timedout') failed = true;
      // the engine or machine is gone: later steps (even `when: always`) have nowhere to run
      if (result.infrastructure) {
        infrastructureFailure = true;
        break;
      }
      // after the last step a halt changes nothing: no need to ask
      if (index < spec.steps.length - 1 && (await halted(executor, opts.identity.taskDataDir))) break;
    }
    status = signal.aborted ? 'canceled' : failed ? 'failed' : 'success';
  } finally {
    // background commands end with the job, as on CircleCI; their output is flushed first
    for (const s of stops) s.abort();
    await Promise.allSettled(background);
    await executor.teardown().catch((err: unknown) => {
      if (err instanceof ExecutorUnavailableError) infrastructureFailure = true;
      sink.event({ type: 'output', index: SPIN_UP_STEP, stream: 'agent', data: Buffer.from(`warning: cleanup failed: ${message(err)}\n`) });
    });
    sink.event({ type: 'job-end', status, durationMs: Date.now() - started, ...(opts.logFile ? { logFile: opts.logFile } : {}) });
  }
  return { status, durationMs: Date.now() - started, infrastructureFailure };
}

/** `when` of a step against the job's state so far (CircleCI: on_success by default). */
function shouldRun(step: Step, failed: boolean): boolean {
  if (step.when === 'always') return true;
  return step.when === 'on_fail' ? failed : !failed;
}

async function runStepSafely(step: Step, ctx: StepContext): Promise<StepResult> {
  try {
    const [{ handlerFor }] = await loadStepModules();
    return await handlerFor(step)(step, ctx);
  } catch (err) {
    return { status: ctx.signal.aborted ? 'canceled' : 'failed', message: message(err), infrastructure: err instanceof ExecutorUnavailableError };
  }
}

function endStep(sink: OutputSink, index: number, t0: number, r: StepResult): StepResult {
  const e: { type: 'step-end'; index: number; status: StepStatus; durationMs: number; exitCode?: number; message?: string } = {
    type: 'step-end',
    index,
    status: r.status,
    durationMs: Date.now() - t0,
  };
  if (r.exitCode !== undefined) e.exitCode = r.exitCode;
  if (r.message !== undefined) e.message = r.message;
  sink.event(e);
  return r;
}

/** `circleci-agent step halt` leaves a marker; a halted job stops with the status it has. */
async function halted(executor: Executor, taskDataDir: string): Promise<boolean> {
  return executor.exists(`${taskDataDir}/halt`).catch(() => false);
}

/** Spin up environment: containers, the probe, the in-container tools. Undefined on failure. */
async function spinUp(opts: RunJobOptions, environment: Record<string, string>): Promise<Omit<StepContext, 'output' | 'jobFailed'> | undefined> {
  const { spec, executor, sink, signal } = opts;
  const t0 = Date.now();
  const output = stepOutput(sink, SPIN_UP_STEP);
  sink.event({ type: 'step-start', index: SPIN_UP_STEP, name: 'Spin up environment', stepType: 'spin-up', time: t0, background: false });
  try {
    if (spec.executor.kind === 'docker') {
      for (const [i, c] of spec.executor.containers.entries()) output.write('agent', `${i === 0 ? 'Starting container' : 'Starting service container'} ${c.image}${c.name ? ` (as ${c.name})` : ''}\n`);
    }
    const startup = startupScript(spec.workingDirectory, opts.identity.taskDataDir);
    const preparing = executor.prepare(signal, startup);
    // a moment later, once the create calls are written: loaded at once, they held those back
    const early = setTimeout(loadStepModules, 10);
    const outcome = await preparing.finally(() => clearTimeout(early));
    output.write('agent', `Time to start containers: ${((Date.now() - t0) / 1000).toFixed(2)}s\n`);
    const probe = await probePrimary(executor, startup, outcome, spec.workingDirectory, signal);
    const [, { deliverTimings }] = await loadStepModules();
    await deliverTimings(executor, opts.storage, opts.identity.taskDataDir, output, signal);
    const shell = spec.shell ?? (probe.hasBash ? '/bin/bash -eo pipefail' : '/bin/sh -eo pipefail');
    endStep(sink, SPIN_UP_STEP, t0, { status: 'success' });
    return {
      executor,
      environment: { ...environment, PATH: `${probe.path}:${JOB_TOOLS_DIR}`, ...(spec.environment.PATH ? { PATH: spec.environment.PATH } : {}) },
      workingDirectory: probe.workingDirectory,
      home: probe.home,
      shell,
      signal,
      local: opts.local,
      storage: spec.cacheRetentionDays === undefined ? opts.storage : { ...opts.storage, cacheRetentionDays: spec.cacheRetentionDays },
    };
  } catch (err) {
    output.write('agent', `${message(err)}\n`);
    endStep(sink, SPIN_UP_STEP, t0, { status: signal.aborted ? 'canceled' : 'failed', message: message(err) });
    return undefined;
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
