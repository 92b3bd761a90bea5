/**
 * `deckhand execute`: compile one job of a config to its JobSpec, gather the local inputs
 * (project variables, contexts, keys), wire the output (masking → terminal or NDJSON, and a log
 * file), run the job on its executor, and clean up on every path — including Ctrl-C.
 */
import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { printStoredArtifacts } from '../artifacts/job-artifacts.js';
import type { PullPolicy } from '../executor/executor.js';
import { findJob } from '../config/compile.js';
import { deckhandHome } from '../config/orb-registry.js';
import { toJobSpec } from '../config/to-jobspec.js';
import type { JobSpec } from '../jobspec/jobspec.js';
import { defaultLogPath } from '../output/log-file.js';
import { FanOutSink } from '../output/masking-sink.js';
import { NdjsonSink } from '../output/ndjson.js';
import type { OutputStreamOptions } from '../output/stream/stream-options.js';
import { TerminalSink } from '../output/terminal.js';
import { localJobStorage } from '../store/local-job-storage.js';
import { openBlobStore } from '../store/open-store.js';
import { UsageError } from '../usage-error.js';
import { watchInterrupts } from './interrupts.js';
import { runJobSession } from './job-session.js';
import { compileLocalPipeline } from './local-pipeline.js';
import { loadContexts, parseEnvFlags, readEnvFile } from './secrets.js';

export interface ExecuteOptions {
  job: string;
  config: string;
  workflow?: string;
  env: string[];
  envFile?: string;
  context: string[];
  nodeTotal: number;
  index: number;
  pull: PullPolicy;
  skipCheckout: boolean;
  output: 'text' | 'json';
  color: boolean;
  branch?: string;
  tag?: string;
  revision?: string;
  pipelineParameters?: Record<string, string | number | boolean>;
  checkoutKey?: string;
  logFile?: string;
  isolateNetwork?: boolean;
  /** also stream the output to an output processor (--output-processor and its flags) */
  outputStream?: OutputStreamOptions;
  /** `--store DIR|s3://bucket/prefix` (default `$DECKHAND_HOME/store`) */
  store?: string;
  /** hidden flags standing for a workflow around this job: its run id, this job's run id, the upstream job runs whose workspace layers attach_workspace applies */
  workflowRunId?: string;
  jobRunId?: string;
  upstreamJobRunIds?: string[];
}

/** Exit codes: 0 success, 1 job failed, 2 config/environment error, 130 interrupted. */
export async function execute(opts: ExecuteOptions): Promise<number> {
  if (!Number.isInteger(opts.nodeTotal) || opts.nodeTotal < 1) throw new UsageError(`--node-total must be a whole number of at least 1, got ${opts.nodeTotal}`);
  if (!Number.isInteger(opts.index) || opts.index < 0 || opts.index >= opts.nodeTotal) {
    throw new UsageError(`--index must be between 0 and ${opts.nodeTotal - 1} (--node-total ${opts.nodeTotal}), got ${opts.index}`);
  }
  const repository = process.cwd();
  const { compiled, git } = compileLocalPipeline(opts, repository);
  const found = findJob(compiled, opts.job, opts.workflow);
  const spec: JobSpec = toJobSpec(compiled, found.job, found.wfJob, found.workflow?.name);

  const project = { ...(opts.envFile ? readEnvFile(opts.envFile) : {}), ...parseEnvFlags(opts.env) };
  const contexts = loadContexts([...new Set([...spec.contexts, ...opts.context])]);
  const runId = opts.jobRunId ?? randomUUID();
  const store = await openBlobStore(opts.store);
  const logFile = opts.logFile ?? defaultLogPath(spec.job.name);
  const display = opts.output === 'json' ? new NdjsonSink(process.stdout) : new TerminalSink({ stream: process.stdout, color: opts.color });
  // loaded only when used: gRPC costs start-up time every other run would pay
  const stream = opts.outputStream
    ? (await import('../output/stream/job-stream.js')).startJobStream(opts.outputStream, { name: spec.job.name, stepCount: spec.steps.length, defaultJobId: runId }, process.stderr)
    : undefined;
  const interrupts = new AbortController();
  const jobId = `deckhand-${runId.slice(0, 8)}`;
  const unwatch = watchInterrupts(interrupts, () => [jobId], 'the job');
  try {
    const result = await runJobSession({
      spec,
      display: stream ? new FanOutSink([display, stream.sink]) : display,
      logFile,
      jobId,
      pull: opts.pull,
      isolateNetwork: opts.isolateNetwork === true,
      ...(opts.output === 'text' && process.stdout.isTTY === true ? { livePullProgress: { write: (text: string) => void process.stdout.write(text), columns: process.stdout.columns } } : {}),
      identity: {
        runId,
        ...(opts.workflowRunId ? { workflowId: opts.workflowRunId } : {}),
        nodeIndex: opts.index,
        nodeTotal: opts.nodeTotal,
        repositoryUrl: git.remoteUrl,
        username: userInfo().username,
        taskDataDir: '/tmp/.circleci-task-data',
      },
      project,
      contexts,
      local: {
        repository,
        skipCheckout: opts.skipCheckout,
        sshKeysDir: join(deckhandHome(), 'ssh-keys'),
        ...(opts.checkoutKey ? { checkoutKey: resolve(opts.checkoutKey) } : {}),
      },
      storage: localJobStorage(store, {
        repository,
        remoteUrl: git.remoteUrl,
        jobName: spec.job.name,
        jobRunId: runId,
        ...(opts.workflowRunId ? { workflowRunId: opts.workflowRunId } : {}),
        upstreamJobRunIds: opts.upstreamJobRunIds ?? [],
      }),
      signal: interrupts.signal,
    });
    if (result.status === 'canceled') return 130;
    if (result.infrastructureFailure) return 2;
    return result.status === 'success' ? 0 : 1;
  } finally {
    unwatch();
    printStoredArtifacts(runId, opts.output === 'json' ? process.stderr : process.stdout);
    stream?.summarize(opts.output === 'json' ? process.stderr : process.stdout, process.stderr);
  }
}
