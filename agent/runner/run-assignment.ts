/**
 * The core: runs one JobAssignment, whoever made it (`deckhand execute`, `deckhand run`,
 * `deckhand agent run`, a Nomad dispatch payload). It reads the assignment's secret references,
 * opens the store and the output stream, masks every value read before any sink sees it, builds
 * the executor the JobSpec asks for, runs the job's phases (job-runner.ts) and reports a result
 * with its exit code: the job's own outcome, unless the environment failed or its output was not
 * all delivered (both exit 2).
 *
 * It reads nothing of the machine but what the front end hands it (the agent's environment, a
 * display, a log file): no current directory, no stdout, no process exit.
 */
import type { JobAssignment } from '../assignment/assignment.js';
import { resolveSecrets, type AgentEnvironment } from '../assignment/secrets.js';
import { StoredArtifacts, type JobRunArtifactsStored } from '../artifacts/job-artifacts.js';
import type { Logger } from '../daemon-log.js';
import { EXIT_CANCELED_SIGINT, EXIT_CANCELED_SIGTERM, EXIT_ERROR, EXIT_JOB_FAILED, EXIT_OK, UsageError, errorMessage } from '../errors.js';
import type { Executor } from '../executor/executor.js';
import { createExecutor } from '../executor/registry.js';
import type { JobStatus, OutputSink } from '../output/events.js';
import { LogFileSink } from '../output/log-file.js';
import { FanOutSink, MaskingSink } from '../output/masking-sink.js';
import type { JobStream, OutputDelivery } from '../output/stream/job-stream.js';
import type { JobStorage } from '../store/job-storage.js';
import { gzipLevel } from '../store/gzip-level.js';
import { openBlobStore } from '../store/open-store.js';
import { join } from 'node:path';
import { deckhandHome } from '../config/orb-registry.js';
import type { VmProvider } from '../vm/provider.js';
import { retention } from '../store/retention.js';
import { jobSshSettings } from '../debug-ssh/settings.js';
import { runJob, SPIN_UP_STEP, sshSectionIndices } from './job-runner.js';

/** What the front end hands the core: the only things of the machine it uses. */
export interface AgentHost {
  /** the agent's environment: read only for the variables the assignment names and the documented operator settings */
  env: AgentEnvironment;
  /** where people watch the job: the terminal, NDJSON, a workflow's prefixed view */
  display: OutputSink;
  /** the job's full log, if it is kept in a file */
  logFile?: string;
  /** a live progress line for image pulls on this terminal; without it, plain lines go into the job's output */
  livePullProgress?: { write: (text: string) => void; columns?: number };
  /** agent news for people or operators (output processor lost and back, refusals) */
  log: Logger;
  /** lines to put at the top of the job's output (where the job runs: a Nomad allocation) */
  notes?: string[];
  /** between SIGTERM and SIGKILL when steps are canceled (default: the executor's, 10 s) */
  killGraceMs?: number;
  /** labels the job's containers; default `deckhand-<first 8 characters of the run id>` */
  containerJobId?: string;
}

export interface JobRunResult {
  status: JobStatus;
  durationMs: number;
  /** the environment failed (engine, image, machine, a refused output stream), not the job's steps */
  infrastructureFailure: boolean;
  /** what store_artifacts stored, for the listing at the end */
  artifacts?: JobRunArtifactsStored;
  /** where the output was streamed, and whether all of it arrived */
  output?: OutputDelivery;
  /**
   * 0 success; 1 the job failed; 2 the environment failed or output was not all delivered;
   * 130/143 canceled by SIGINT/SIGTERM.
   */
  exitCode: number;
}

export interface RunningAssignment {
  /** the job's result; rejects only for what stops a job before it starts (a DeckhandError) */
  result: Promise<JobRunResult>;
  /**
   * Cancels the job: running steps get SIGTERM, then SIGKILL after the grace; the output already
   * produced is delivered until `deliverBy` (epoch ms) at the latest; containers are removed.
   * `signal` names what canceled it, for the exit code (SIGINT 130, SIGTERM 143).
   */
  cancel(options?: { signal?: 'SIGINT' | 'SIGTERM'; deliverBy?: number }): void;
  /** Removes what the job made now, through its executor, without waiting for its steps. */
  forceCleanup(): Promise<void>;
}

export function startAssignment(assignment: JobAssignment, host: AgentHost): RunningAssignment {
  const cancel = new AbortController();
  let canceledBy: 'SIGINT' | 'SIGTERM' = 'SIGINT';
  let executor: Executor | undefined;
  let stream: JobStream | undefined;
  let deliverBy: number | undefined;
  const result = run(assignment, host, cancel.signal, {
    executorCreated: (e) => (executor = e),
    streamStarted: (s) => {
      stream = s;
      if (deliverBy !== undefined) s.sink.deliverBy(deliverBy);
    },
    canceledExitCode: () => (canceledBy === 'SIGTERM' ? EXIT_CANCELED_SIGTERM : EXIT_CANCELED_SIGINT),
  });
  return {
    result,
    cancel(options = {}) {
      if (options.signal) canceledBy = options.signal;
      if (options.deliverBy !== undefined) {
        deliverBy = options.deliverBy;
        stream?.sink.deliverBy(options.deliverBy);
      }
      cancel.abort();
    },
    async forceCleanup() {
      cancel.abort();
      await executor?.teardown();
    },
  };
}

interface RunHooks {
  executorCreated(executor: Executor): void;
  streamStarted(stream: JobStream): void;
  canceledExitCode(): number;
}

async function run(assignment: JobAssignment, host: AgentHost, signal: AbortSignal, hooks: RunHooks): Promise<JobRunResult> {
  const { spec } = assignment;
  // everything that can be wrong with the assignment's references is found before anything starts
  const secrets = resolveSecrets(assignment, host.env);
  const ssh = jobSshSettings(assignment.ssh);
  const store = await openBlobStore(assignment.storage.url, host.env);
  const artifacts = new StoredArtifacts(assignment.storage.jobRunId, store.location);
  const storage: JobStorage = {
    store,
    project: assignment.storage.project,
    workflowRunId: assignment.storage.workflowRunId,
    jobRunId: assignment.storage.jobRunId,
    jobName: spec.job.name,
    upstreamJobRunIds: assignment.storage.upstreamJobRunIds,
    artifacts,
    cacheRetention: retention('caches', host.env),
    gzipLevel: gzipLevel(host.env),
  };
  let stream: JobStream | undefined;
  if (assignment.output) {
    // loaded only when used: gRPC costs start-up time every other run would pay
    const [{ openOutputTarget }, { startJobStream }] = await Promise.all([import('../output/stream/stream-options.js'), import('../output/stream/job-stream.js')]);
    // SSH's sections come after the steps
    const stepCount = ssh ? sshSectionIndices(spec.steps.length).wait + 1 : spec.steps.length;
    stream = startJobStream(openOutputTarget(assignment.output, host.env), { name: spec.job.name, stepCount }, (line) => host.log.log('warn', line));
    hooks.streamStarted(stream);
  }
  const display = stream ? new FanOutSink([host.display, stream.sink]) : host.display;
  const sinks = host.logFile === undefined ? [display] : [display, new LogFileSink(host.logFile)];
  // project and context values are secrets: masked before any display, log or processor sees them
  const sink = new MaskingSink([...Object.values(secrets.project), ...Object.values(secrets.contexts)], sinks);
  const finish = async (job: { status: JobStatus; durationMs: number; infrastructureFailure: boolean }): Promise<JobRunResult> => {
    await sink.close();
    const output = stream?.delivery();
    const exitCode = exitCodeOf(job, output, hooks.canceledExitCode);
    const stored = artifacts.stored();
    // an artifact's path may hold a secret as well as its bytes: the listing is masked like the output
    const listed = stored && { ...stored, first: stored.first.map((a) => ({ ...a, path: sink.mask(a.path) })) };
    return { ...job, exitCode, ...(listed ? { artifacts: listed } : {}), ...(output ? { output } : {}) };
  };

  if (spec.executor.kind === 'none') {
    // a no-op job runs no steps and needs no machine
    const now = Date.now();
    sink.event({ type: 'job-start', job: spec.job.name, time: now, environment: {} });
    sink.event({ type: 'job-end', status: 'success', durationMs: 0, ...(host.logFile ? { logFile: host.logFile } : {}) });
    return finish({ status: 'success', durationMs: 0, infrastructureFailure: false });
  }

  // opened on first use: only machine jobs and setup_remote_docker need a VM provider
  let provider: Promise<VmProvider> | undefined;
  const vms = (): Promise<VmProvider> =>
    (provider ??= import('../vm/open-provider.js').then(({ openVmProvider }) =>
      openVmProvider(assignment.runtime.machine, { env: host.env, stateDir: join(deckhandHome(host.env), 'state'), log: host.log }),
    ));
  let choice;
  try {
    // on a terminal the pull redraws one live line, written past the sinks so that the log
    // keeps no control characters; otherwise plain lines go into the job's output
    const pullProgress = host.livePullProgress ? { ...host.livePullProgress, tty: true } : { write: (text: string) => sink.event({ type: 'output', index: SPIN_UP_STEP, stream: 'agent', data: Buffer.from(text) }), tty: false };
    choice = await createExecutor(spec, {
      jobId: host.containerJobId ?? `deckhand-${assignment.run.id.slice(0, 8)}`,
      runId: assignment.run.id,
      runtime: assignment.runtime,
      say: (line) => sink.event({ type: 'output', index: SPIN_UP_STEP, stream: 'agent', data: Buffer.from(`${line}\n`) }),
      vms,
      // image credentials may name project or context variables; contexts win, as in the job's environment
      variables: { ...secrets.project, ...secrets.contexts },
      env: host.env,
      pullProgress,
      ...(host.killGraceMs !== undefined ? { killGraceMs: host.killGraceMs } : {}),
    });
  } catch (err) {
    await sink.close();
    throw err instanceof UsageError ? err : new UsageError(errorMessage(err));
  }
  hooks.executorCreated(choice.executor);
  const notes = [
    ...(host.notes ?? []),
    ...choice.notes.map((n) => `note: ${n}`),
    ...(assignment.limits.resourceClass !== spec.resources.class ? [`note: scheduled as resource class ${assignment.limits.resourceClass}; the job asks for ${spec.resources.class}`] : []),
  ];
  const admission = stream;
  const job = await runJob({
    assignment,
    executor: choice.executor,
    sink,
    secrets,
    storage,
    signal,
    notes,
    vms,
    ...(ssh ? { ssh } : {}),
    ...(host.logFile !== undefined ? { logFile: host.logFile } : {}),
    // a processor that refuses the job for good (token, permission, TLS) stops it before its first step
    ...(admission ? { beforeSteps: () => admission.admitted() } : {}),
  });
  return finish(job);
}

/** The job's own outcome, unless its environment failed or its output was lost: an operator must see either from the exit code alone. */
function exitCodeOf(job: { status: JobStatus; infrastructureFailure: boolean }, output: OutputDelivery | undefined, canceledExitCode: () => number): number {
  if (job.status === 'canceled') return canceledExitCode();
  if (job.infrastructureFailure || (output !== undefined && !output.delivered)) return EXIT_ERROR;
  return job.status === 'success' ? EXIT_OK : EXIT_JOB_FAILED;
}
