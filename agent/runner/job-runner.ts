/**
 * Runs one JobSpec on an Executor, in phases like Buildkite's job runner: spin up the
 * environment (containers, probe, in-container tools), then the steps in order with CircleCI's
 * `when` rules, then stop background commands and tear everything down — on every path.
 *
 * Every step's output goes to the sink as events; the sink is expected to mask secrets.
 */
import { ExecutorUnavailableError, type Executor } from '../executor/executor.js';
import { JOB_TOOLS_DIR } from '../job-tools/install.js';
import type { JobAssignment } from '../assignment/assignment.js';
import type { ResolvedSecrets } from '../assignment/secrets.js';
import type { Step } from '../jobspec/jobspec.js';
import type { JobStatus, OutputSink, StepStatus } from '../output/events.js';
import { runOnce, type BackgroundCommand } from '../steps/run.js';
import type { JobResources, StepContext, StepResult } from '../steps/step.js';
import type { VmProvider } from '../vm/provider.js';
import { stepOutput } from '../steps/step-output.js';
import type { JobStorage } from '../store/job-storage.js';
import type { JobSshSettings } from '../debug-ssh/settings.js';
import { jobEnvironment, TASK_DATA_DIR } from './environment.js';
import { probePrimary, startupScript } from './probe.js';
import type { JobSsh } from './ssh-sections.js';

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
  /** the job and its run: spec, identity, source, limits */
  assignment: JobAssignment;
  executor: Executor;
  sink: OutputSink;
  /** the values of the assignment's secret references, read at job start */
  secrets: ResolvedSecrets;
  /** the store and the ids that scope caches, workspaces and artifacts */
  storage: JobStorage;
  /** aborted to cancel the job (Ctrl-C, SIGTERM, a kill from the scheduler) */
  signal: AbortSignal;
  /** where the full log goes, announced with the job's end */
  logFile?: string;
  /**
   * Awaited at the end of spin-up, before the first step; a rejection fails spin-up as an
   * infrastructure failure with its message (the output processor refused the job's stream).
   */
  beforeSteps?: () => Promise<void>;
  /** lines for the top of spin-up: where the job runs, adjustments the executor made */
  notes?: string[];
  /** where VMs come from, for steps that need one (setup_remote_docker) */
  vms?: () => Promise<VmProvider>;
  /** SSH into the job: an Enable SSH section before the steps, a Wait for SSH section after them */
  ssh?: JobSshSettings;
}

/** The sections of SSH into a job come after the steps by index (indices say what, events say when). */
export function sshSectionIndices(stepCount: number): { enable: number; wait: number } {
  return { enable: stepCount, wait: stepCount + 1 };
}

export interface JobResult {
  status: JobStatus;
  durationMs: number;
  /** true when the environment could not be set up (engine or image problem), not a step failure */
  infrastructureFailure: boolean;
}

/** The reason the job's signal carries when it ran past `limits.maxRunSeconds`. */
class RunTimeExceeded extends Error {
  override name = 'RunTimeExceeded';
}

export async function runJob(opts: RunJobOptions): Promise<JobResult> {
  const { assignment, executor, sink } = opts;
  const { spec } = assignment;
  const started = Date.now();
  const environment = jobEnvironment(assignment, opts.secrets.project, opts.secrets.contexts);
  const limit = runTimeLimit(assignment.limits.maxRunSeconds);
  const signal = limit ? AbortSignal.any([opts.signal, limit.signal]) : opts.signal;
  const timedOut = (): boolean => signal.reason instanceof RunTimeExceeded;
  // a step stopped by the run-time limit says so, instead of a bare "canceled"
  const limited = (r: StepResult): StepResult => (timedOut() && r.status === 'canceled' ? { ...r, status: 'timedout', message: (signal.reason as Error).message } : r);
  sink.event({ type: 'job-start', job: spec.job.name, time: started, environment });

  const background: Promise<StepResult>[] = [];
  const stops: AbortController[] = [];
  const held: (() => Promise<void>)[] = [];
  const resources: JobResources = { hold: (release) => void held.push(release) };
  let status: JobStatus = 'success';
  let infrastructureFailure = false;
  let ssh: JobSsh | undefined;
  const sections = sshSectionIndices(spec.steps.length);
  try {
    const ctx = await spinUp({ ...opts, signal }, environment, resources);
    if (!ctx) {
      infrastructureFailure = !signal.aborted;
      status = signal.aborted && !timedOut() ? 'canceled' : 'failed';
      return { status, durationMs: Date.now() - started, infrastructureFailure };
    }
    if (opts.ssh) {
      // loaded only for a job that asks: the SSH server and its keys cost start-up time
      const { JobSsh } = await import('./ssh-sections.js');
      const landing = spec.executor.kind === 'machine' ? 'the machine' : 'the primary container';
      ssh = await JobSsh.enable(opts.ssh, ctx, { taskDataDir: TASK_DATA_DIR, landing }, sink, sections.enable);
      if (!ssh) {
        infrastructureFailure = !signal.aborted;
        status = signal.aborted && !timedOut() ? 'canceled' : 'failed';
        return { status, durationMs: Date.now() - started, infrastructureFailure };
      }
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
        background.push(cmd.done.then((r) => endStep(sink, index, t0, limited(r))));
        continue;
      }
      const result = limited(await runStepSafely(step, stepCtx));
      // what a step sets up for the rest of the job (a remote engine's address) is every later step's
      if (result.environment) Object.assign(ctx.environment, result.environment);
      endStep(sink, index, t0, result);
      if (result.status === 'failed' || result.status === 'timedout') failed = true;
      // the engine or machine is gone: later steps (even `when: always`) have nowhere to run
      if (result.infrastructure) {
        infrastructureFailure = true;
        break;
      }
      // after the last step a halt changes nothing: no need to ask
      if (index < spec.steps.length - 1 && (await halted(executor))) break;
    }
    // a job that ran out of time failed, as on CircleCI; one stopped from outside was canceled
    status = timedOut() ? 'failed' : signal.aborted ? 'canceled' : failed ? 'failed' : 'success';
    // the job is held for SSH once its steps are done; its result stays theirs
    if (ssh && !signal.aborted && !infrastructureFailure) await ssh.wait(sections.wait, signal);
  } finally {
    limit?.clear();
    // sessions go first: what they run goes with the executor, and nobody may log in meanwhile
    await ssh?.close().catch(() => undefined);
    // background commands end with the job, as on CircleCI; their output is flushed first
    for (const s of stops) s.abort();
    await Promise.allSettled(background);
    // what steps hold (a remote engine's VM on the job's network) goes before the executor removes that network
    for (const release of held.splice(0).reverse()) {
      await release().catch((err: unknown) => sink.event({ type: 'output', index: SPIN_UP_STEP, stream: 'agent', data: Buffer.from(`warning: cleanup failed: ${message(err)}\n`) }));
    }
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
async function halted(executor: Executor): Promise<boolean> {
  return executor.exists(`${TASK_DATA_DIR}/halt`).catch(() => false);
}

/** A timer that aborts with RunTimeExceeded after `seconds`; none without a limit. */
function runTimeLimit(seconds: number | undefined): { signal: AbortSignal; clear(): void } | undefined {
  if (seconds === undefined) return undefined;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new RunTimeExceeded(`the job ran past its maximum run time of ${formatSeconds(seconds)} (limits.maxRunSeconds)`)), seconds * 1000);
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}

function formatSeconds(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.round(seconds % 60);
  return `${h > 0 ? `${h}h` : ''}${h > 0 || m > 0 ? `${m}m` : ''}${s}s`;
}

/** Spin up environment: containers, the probe, the in-container tools. Undefined on failure. */
async function spinUp(opts: RunJobOptions, environment: Record<string, string>, resources: JobResources): Promise<Omit<StepContext, 'output' | 'jobFailed'> | undefined> {
  const { executor, sink, signal } = opts;
  const { spec } = opts.assignment;
  const t0 = Date.now();
  const output = stepOutput(sink, SPIN_UP_STEP);
  sink.event({ type: 'step-start', index: SPIN_UP_STEP, name: 'Spin up environment', stepType: 'spin-up', time: t0, background: false });
  for (const line of opts.notes ?? []) output.write('agent', `${line}\n`);
  try {
    if (spec.executor.kind === 'docker') {
      for (const [i, c] of spec.executor.containers.entries()) output.write('agent', `${i === 0 ? 'Starting container' : 'Starting service container'} ${c.image}${c.name ? ` (as ${c.name})` : ''}\n`);
    }
    const startup = startupScript(spec.workingDirectory, TASK_DATA_DIR);
    const preparing = executor.prepare(signal, startup);
    // a moment later, once the create calls are written: loaded at once, they held those back
    const early = setTimeout(loadStepModules, 10);
    const outcome = await preparing.finally(() => clearTimeout(early));
    output.write('agent', `Time to start ${spec.executor.kind === 'machine' ? 'the machine' : 'containers'}: ${((Date.now() - t0) / 1000).toFixed(2)}s\n`);
    const probe = await probePrimary(executor, startup, outcome, spec.workingDirectory, signal);
    const [, { deliverTimings }] = await loadStepModules();
    await deliverTimings(executor, opts.storage, TASK_DATA_DIR, output, signal);
    const shell = spec.shell ?? (probe.hasBash ? '/bin/bash -eo pipefail' : '/bin/sh -eo pipefail');
    await opts.beforeSteps?.();
    endStep(sink, SPIN_UP_STEP, t0, { status: 'success' });
    return {
      executor,
      environment: { ...environment, PATH: `${probe.path}:${JOB_TOOLS_DIR}`, ...(spec.environment.PATH ? { PATH: spec.environment.PATH } : {}) },
      workingDirectory: probe.workingDirectory,
      home: probe.home,
      shell,
      signal,
      resources,
      ...(opts.vms ? { vms: opts.vms } : {}),
      inputs: { source: opts.assignment.source, ...(opts.secrets.checkoutKey ? { checkoutKey: opts.secrets.checkoutKey } : {}), ...(opts.secrets.sshKeysDir !== undefined ? { sshKeysDir: opts.secrets.sshKeysDir } : {}) },
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
