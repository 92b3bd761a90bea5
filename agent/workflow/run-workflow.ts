/**
 * `deckhand run`: one workflow of a config, locally, as CircleCI would run it. The config is
 * compiled once; the workflow's jobs are filtered by the branch/tag, then scheduled by their
 * `requires` within the machine's capacity, each job run as `deckhand execute` runs one (same
 * environment, masking, executor, cleanup), its lines on the terminal prefixed with its name and
 * its whole output in a log file of its own. A summary table ends the run.
 */
import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { formatWorkflowArtifacts } from '../artifacts/job-artifacts.js';
import { deckhandHome } from '../config/orb-registry.js';
import type { PullPolicy } from '../executor/executor.js';
import type { JobSpec } from '../jobspec/jobspec.js';
import { defaultLogPath } from '../output/log-file.js';
import { watchInterrupts } from '../runner/interrupts.js';
import { SPIN_UP_STEP } from '../runner/job-runner.js';
import { runJobSession } from '../runner/job-session.js';
import { compileLocalPipeline } from '../runner/local-pipeline.js';
import { loadContexts, parseEnvFlags, readEnvFile } from '../runner/secrets.js';
import { localJobStorage } from '../store/local-job-storage.js';
import { openBlobStore } from '../store/open-store.js';
import { UsageError } from '../usage-error.js';
import { askingApprover, fixedApprover, type ApprovalPolicy, type Approver } from './approval.js';
import { CapacityPool, describeCapacity, machineCapacity, type Capacity } from './capacity.js';
import { applyFilters } from './filters.js';
import { buildGraph, selectWorkflow, upstreamOf, type JobRunStatus, type WorkflowGraph, type WorkflowNode } from './graph.js';
import { PrefixedSink } from './prefixed-output.js';
import { schedule, type SchedulableJob } from './scheduler.js';
import { formatSummary, type SummaryRow } from './summary.js';

export interface RunWorkflowOptions {
  config: string;
  workflow?: string;
  env: string[];
  envFile?: string;
  context: string[];
  pull: PullPolicy;
  skipCheckout: boolean;
  checkoutKey?: string;
  color: boolean;
  branch?: string;
  tag?: string;
  revision?: string;
  pipelineParameters?: Record<string, string | number | boolean>;
  /** answers approval jobs without asking; required when not on a terminal and the workflow has approvals */
  approve?: ApprovalPolicy;
  /** at most this many jobs at once, instead of the machine's capacity by resource class */
  maxParallel?: number;
  /** one log file per job (and parallel node) in this folder, instead of under $DECKHAND_HOME/logs */
  logDir?: string;
  isolateNetwork?: boolean;
  /** `--store DIR|s3://bucket/prefix` (default: $DECKHAND_HOME/store): caches, workspaces, artifacts */
  store?: string;
}

interface RunnableJob extends SchedulableJob {
  node: WorkflowNode;
}

const TASK_DATA_DIR = '/tmp/.circleci-task-data';

/** Exit codes: 0 every job that ran succeeded, 1 a job failed, 2 usage/config/environment error, 130 interrupted. */
export async function runWorkflow(opts: RunWorkflowOptions): Promise<number> {
  if (opts.maxParallel !== undefined && (!Number.isInteger(opts.maxParallel) || opts.maxParallel < 1)) {
    throw new UsageError(`--max-parallel must be a whole number of at least 1, got ${opts.maxParallel}`);
  }
  const repository = process.cwd();
  const { compiled, git } = compileLocalPipeline(opts, repository);
  const { graph, filteredOut } = applyFilters(buildGraph(compiled, selectWorkflow(compiled, opts.workflow)), compiled.pipeline);
  const approver = chooseApprover(graph, opts.approve);
  for (const n of graph.nodes) {
    const kind = n.spec?.executor.kind;
    if (kind === 'machine' || kind === 'macos') throw new UsageError(`job "${n.name}" uses the ${kind} executor; deckhand run runs docker and no-op jobs so far`);
  }
  const project = { ...(opts.envFile ? readEnvFile(opts.envFile) : {}), ...parseEnvFlags(opts.env) };
  // every context is read before the first job starts, so a missing one stops nothing half-way
  const contexts = new Map(graph.nodes.filter((n) => n.spec).map((n) => [n.name, loadContexts([...new Set([...(n.spec?.contexts ?? []), ...opts.context])])]));

  const store = await openBlobStore(opts.store);
  const capacity: Capacity = opts.maxParallel !== undefined ? { ...machineCapacity(), maxJobs: opts.maxParallel } : machineCapacity();
  const workflowRunId = randomUUID();
  const pipelineRef = compiled.pipeline.git.tag ? `tag ${compiled.pipeline.git.tag}` : `branch ${compiled.pipeline.git.branch}`;
  process.stdout.write(`Workflow ${graph.workflow} (${pipelineRef}): ${graph.nodes.length} job${graph.nodes.length === 1 ? '' : 's'}; ${describeCapacity(capacity)}\n`);
  for (const f of filteredOut) process.stdout.write(`  ${f.name}: not in this pipeline (${f.reason})\n`);

  const labels = graph.nodes.flatMap((n) => nodeLabels(n));
  const width = Math.max(0, ...labels.map((l) => l.length));
  const runIds = new Map<string, string[]>();
  const logFiles = new Map<string, string[]>();
  const jobIds: string[] = [];
  const interrupts = new AbortController();
  const unwatch = watchInterrupts(interrupts, () => jobIds, 'every job');
  const started = Date.now();
  let environmentFailed = false;
  try {
    const runOne = async (node: WorkflowNode): Promise<{ status: JobRunStatus; reason?: string }> => {
      if (node.type === 'approval') return (await approver.decide(node.name, interrupts.signal)) ? { status: 'success', reason: 'approved' } : { status: 'not_run', reason: 'not approved' };
      const spec = node.spec;
      if (!spec || spec.executor.kind === 'none') return { status: 'success' };
      const upstreamRunIds = upstreamOf(graph, node.name).flatMap((u) => runIds.get(u) ?? []);
      const nodes = Array.from({ length: spec.parallelism }, (_, i) => i);
      const ids = nodes.map(() => randomUUID());
      runIds.set(node.name, ids);
      const logs = nodeLabels(node).map((label) => (opts.logDir ? join(resolve(opts.logDir), `${label.replace(/[^A-Za-z0-9._-]+/g, '_')}.log`) : defaultLogPath(label)));
      logFiles.set(node.name, logs);
      const results = await Promise.all(
        nodes.map(async (index) => {
          const label = nodeLabels(node)[index];
          const logFile = logs[index];
          const jobId = `deckhand-${workflowRunId.slice(0, 8)}-${ids[index].slice(0, 8)}`;
          jobIds.push(jobId);
          const display = new PrefixedSink(process.stdout, label, { color: opts.color, colorIndex: labels.indexOf(label), width });
          try {
            return await runJobSession({
              spec,
              display,
              logFile,
              jobId,
              pull: opts.pull,
              isolateNetwork: opts.isolateNetwork === true,
              identity: {
                runId: ids[index],
                workflowId: workflowRunId,
                nodeIndex: index,
                nodeTotal: spec.parallelism,
                repositoryUrl: git.remoteUrl,
                username: userInfo().username,
                taskDataDir: TASK_DATA_DIR,
              },
              project,
              contexts: contexts.get(node.name) ?? {},
              local: {
                repository,
                skipCheckout: opts.skipCheckout,
                sshKeysDir: join(deckhandHome(), 'ssh-keys'),
                ...(opts.checkoutKey ? { checkoutKey: resolve(opts.checkoutKey) } : {}),
              },
              // workspaces: this workflow run's; attach_workspace applies the layers of every upstream job
              storage: localJobStorage(store, { repository, remoteUrl: git.remoteUrl, jobName: spec.job.name, jobRunId: ids[index], workflowRunId, upstreamJobRunIds: upstreamRunIds }),
              signal: interrupts.signal,
            });
          } catch (err) {
            // no executor for the job (its output is already flushed): say why under its name
            if (!(err instanceof UsageError)) throw err;
            display.event({ type: 'output', index: SPIN_UP_STEP, stream: 'agent', data: Buffer.from(`${err.message}\n`) });
            await display.close();
            return { status: 'failed' as const, reason: err.message };
          }
        }),
      );
      const status: JobRunStatus = results.some((r) => r.status === 'canceled') ? 'canceled' : results.some((r) => r.status === 'failed') ? 'failed' : 'success';
      // the engine or an image failed, not the job's steps: like execute, the run then exits 2
      const environment = results.some((r) => 'infrastructureFailure' in r && r.infrastructureFailure);
      if (environment) environmentFailed = true;
      const reason = results.find((r): r is { status: 'failed'; reason: string } => 'reason' in r)?.reason ?? (environment ? 'environment failure (engine or image; see the log)' : undefined);
      return reason === undefined ? { status } : { status, reason };
    };
    const jobs: RunnableJob[] = graph.nodes.map((node) => ({ name: node.name, requires: node.requires, node, ...sizeOf(node.spec) }));
    const outcomes = await schedule(jobs, {
      pool: new CapacityPool(capacity),
      run: (job) => runOne(job.node),
      signal: interrupts.signal,
      onNotRun: (job, reason) => process.stdout.write(`[${job.name}]`.padEnd(width + 2) + ` not run: ${reason}\n`),
    });
    const rows: SummaryRow[] = graph.nodes.map((n) => {
      const o = outcomes.get(n.name) ?? { status: 'not_run' as const, durationMs: 0 };
      const row: SummaryRow = { job: n.name, status: o.status, logFiles: logFiles.get(n.name) ?? [] };
      if (o.startedAt !== undefined) row.durationMs = o.durationMs;
      if (o.reason !== undefined) row.reason = o.reason;
      return row;
    });
    process.stdout.write(`\n${formatSummary(graph.workflow, rows, filteredOut, Date.now() - started)}`);
    process.stdout.write(formatWorkflowArtifacts(graph.nodes.flatMap((n) => (runIds.get(n.name) ?? []).map((jobRunId, i) => ({ label: nodeLabels(n)[i], jobRunId })))));
    if (interrupts.signal.aborted) return 130;
    if (environmentFailed) return 2;
    return rows.some((r) => r.status === 'failed' || r.status === 'canceled') ? 1 : 0;
  } finally {
    unwatch();
  }
}

/** The terminal label of each parallel node of a job: its name, or `name#i` when it runs in parallel. */
function nodeLabels(node: WorkflowNode): string[] {
  const n = node.spec?.parallelism ?? 1;
  return n === 1 ? [node.name] : Array.from({ length: n }, (_, i) => `${node.name}#${i}`);
}

/** The capacity a job holds: its resource class times its parallel nodes; nothing for approval and no-op jobs. */
function sizeOf(spec: JobSpec | undefined): Pick<SchedulableJob, 'size'> {
  if (!spec || spec.executor.kind === 'none') return {};
  return { size: { cpus: spec.resources.cpus * spec.parallelism, memoryMb: spec.resources.memoryMb * spec.parallelism } };
}

function chooseApprover(graph: WorkflowGraph, policy: ApprovalPolicy | undefined): Approver {
  if (policy) return fixedApprover(policy);
  const approvals = graph.nodes.filter((n) => n.type === 'approval').map((n) => n.name);
  if (approvals.length === 0) return fixedApprover('none');
  if (process.stdin.isTTY !== true || process.stdout.isTTY !== true) {
    throw new UsageError(`workflow "${graph.workflow}" has approval job${approvals.length === 1 ? '' : 's'} ${approvals.join(', ')} and this is not a terminal to ask on; pass --approve all or --approve none`);
  }
  return askingApprover(process.stdin, process.stdout);
}
