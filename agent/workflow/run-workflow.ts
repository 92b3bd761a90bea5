/**
 * `deckhand run`: one workflow of a config, locally, as CircleCI would run it. The config is
 * compiled once; the workflow's jobs are filtered by the branch/tag, then scheduled by their
 * `requires` within the machine's capacity. Each job run (one per parallel node) becomes an
 * assignment, built as `deckhand execute` builds its own, and runs through the same core; its
 * lines on the terminal are prefixed with its name and its whole output goes to a log file of its
 * own. A summary table ends the run.
 *
 * Everything of the machine comes from the front end: the repository, the environment, where
 * lines go, who answers approvals.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import type { LocalRun } from '../assignment/local.js';
import { localAssignment } from '../assignment/local.js';
import { compileLocalPipeline, type PipelineFlags } from '../assignment/local-pipeline.js';
import { formatDiagnostic } from '../config/diagnostics.js';
import { loadContexts } from '../assignment/secrets.js';
import { formatWorkflowArtifacts, type JobRunArtifactsStored } from '../artifacts/job-artifacts.js';
import type { Logger } from '../daemon-log.js';
import { UsageError } from '../errors.js';
import { isSupportedExecutor } from '../executor/registry.js';
import type { JobSpec } from '../jobspec/jobspec.js';
import { defaultLogPath } from '../output/log-file.js';
import { SPIN_UP_STEP } from '../runner/job-runner.js';
import { startAssignment, type RunningAssignment } from '../runner/run-assignment.js';
import type { Approver } from './approval.js';
import { CapacityPool, describeCapacity, machineCapacity, type Capacity } from './capacity.js';
import { applyFilters } from './filters.js';
import { buildGraph, selectWorkflow, upstreamOf, type JobRunStatus, type WorkflowGraph, type WorkflowNode } from './graph.js';
import { PrefixedSink } from './prefixed-output.js';
import { schedule, type SchedulableJob } from './scheduler.js';
import { formatSummary, type SummaryRow } from './summary.js';

export interface RunWorkflowOptions {
  config: string;
  workflow?: string;
  branch?: string;
  tag?: string;
  revision?: string;
  pipelineParameters?: Record<string, string | number | boolean>;
  /** the local orb registry and what could not be fetched into it (default: the registry under DECKHAND_HOME) */
  orbs?: PipelineFlags['orbs'];
  /** the repository the run comes from (the front end's current directory) */
  repository: string;
  /** what every job's assignment shares: inputs, store, runtime (LocalRun without the per-job fields) */
  jobs: Pick<LocalRun, 'username' | 'storeUrl' | 'skipCheckout' | 'checkoutKey' | 'project' | 'contexts' | 'sshKeysDir' | 'runtime'>;
  /** the agent's environment, with the values the command line gave */
  env: Readonly<Record<string, string | undefined>>;
  /** where the run's lines go (stdout) */
  out: Writable;
  color: boolean;
  log: Logger;
  /** answers approval jobs; chosen by the front end (a terminal prompt, or --approve) */
  approver: (graph: WorkflowGraph) => Approver;
  /** at most this many jobs at once, instead of the machine's capacity by resource class */
  maxParallel?: number;
  /** one log file per job (and parallel node) in this folder, instead of under $DECKHAND_HOME/logs */
  logDir?: string;
}

export interface RunningWorkflow {
  /** 0 every job that ran succeeded, 1 a job failed, 2 environment error, 130/143 canceled */
  result: Promise<number>;
  cancel(signal: 'SIGINT' | 'SIGTERM'): void;
  forceCleanup(): Promise<void>;
}

interface RunnableJob extends SchedulableJob {
  node: WorkflowNode;
}

/** Compiles and checks the workflow (throwing before anything starts), then runs it. */
export function startWorkflow(opts: RunWorkflowOptions): RunningWorkflow {
  if (opts.maxParallel !== undefined && (!Number.isInteger(opts.maxParallel) || opts.maxParallel < 1)) {
    throw new UsageError(`--max-parallel must be a whole number of at least 1, got ${opts.maxParallel}`);
  }
  const { compiled, git } = compileLocalPipeline(opts, opts.repository);
  for (const w of compiled.warnings) opts.log.log('warn', formatDiagnostic(w));
  const { graph, filteredOut } = applyFilters(buildGraph(compiled, selectWorkflow(compiled, opts.workflow)), compiled.pipeline);
  for (const n of graph.nodes) {
    const kind = n.spec?.executor.kind;
    if (kind !== undefined && !isSupportedExecutor(kind)) throw new UsageError(`job "${n.name}" uses the ${kind} executor, which is not supported yet; Deckhand runs docker jobs`);
  }
  // every context is read before the first job starts, so a missing one stops nothing half-way
  for (const n of graph.nodes) if (n.spec) loadContexts([...new Set([...n.spec.contexts, ...opts.jobs.contexts.names])], { file: opts.jobs.contexts.file });
  const approver = opts.approver(graph);
  const capacity: Capacity = opts.maxParallel !== undefined ? { ...machineCapacity(), maxJobs: opts.maxParallel } : machineCapacity();
  const workflowRunId = randomUUID();
  const interrupts = new AbortController();
  let canceledBy: 'SIGINT' | 'SIGTERM' = 'SIGINT';
  const running = new Set<RunningAssignment>();
  const { out } = opts;

  const run = async (): Promise<number> => {
    const pipelineRef = compiled.pipeline.git.tag ? `tag ${compiled.pipeline.git.tag}` : `branch ${compiled.pipeline.git.branch}`;
    out.write(`Workflow ${graph.workflow} (${pipelineRef}): ${graph.nodes.length} job${graph.nodes.length === 1 ? '' : 's'}; ${describeCapacity(capacity)}\n`);
    for (const f of filteredOut) out.write(`  ${f.name}: not in this pipeline (${f.reason})\n`);

    const labels = graph.nodes.flatMap((n) => nodeLabels(n));
    const width = Math.max(0, ...labels.map((l) => l.length));
    const runIds = new Map<string, string[]>();
    const logFiles = new Map<string, string[]>();
    const stored = new Map<string, (JobRunArtifactsStored | undefined)[]>();
    const started = Date.now();
    let environmentFailed = false;

    const runOne = async (node: WorkflowNode): Promise<{ status: JobRunStatus; reason?: string }> => {
      if (node.type === 'approval') return (await approver.decide(node.name, interrupts.signal)) ? { status: 'success', reason: 'approved' } : { status: 'not_run', reason: 'not approved' };
      const spec = node.spec;
      if (!spec || spec.executor.kind === 'none') return { status: 'success' };
      const upstreamJobRunIds = upstreamOf(graph, node.name).flatMap((u) => runIds.get(u) ?? []);
      const nodes = Array.from({ length: spec.parallelism }, (_, i) => i);
      const ids = nodes.map(() => randomUUID());
      runIds.set(node.name, ids);
      const logs = nodeLabels(node).map((label) => (opts.logDir ? join(opts.logDir, `${label.replace(/[^A-Za-z0-9._-]+/g, '_')}.log`) : defaultLogPath(label, new Date(), opts.env)));
      logFiles.set(node.name, logs);
      const nodeArtifacts: (JobRunArtifactsStored | undefined)[] = [];
      stored.set(node.name, nodeArtifacts);
      const results = await Promise.all(
        nodes.map(async (index) => {
          const label = nodeLabels(node)[index];
          const display = new PrefixedSink(out, label, { color: opts.color, colorIndex: labels.indexOf(label), width });
          const { assignment, environment } = localAssignment({
            ...opts.jobs,
            spec,
            repository: opts.repository,
            git,
            runId: ids[index],
            workflowRunId,
            nodeIndex: index,
            nodeTotal: spec.parallelism,
            // workspaces: this workflow run's; attach_workspace applies the layers of every upstream job
            upstreamJobRunIds,
            output: null,
          });
          if (interrupts.signal.aborted) return { status: 'canceled' as const };
          try {
            const job = startAssignment(assignment, {
              env: { ...opts.env, ...environment },
              display,
              logFile: logs[index],
              log: opts.log,
              containerJobId: `deckhand-${workflowRunId.slice(0, 8)}-${ids[index].slice(0, 8)}`,
            });
            running.add(job);
            try {
              const result = await job.result;
              nodeArtifacts[index] = result.artifacts;
              return result;
            } finally {
              running.delete(job);
            }
          } catch (err) {
            // the job could not start (no executor, an unreadable input): say why under its name
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
      onNotRun: (job, reason) => out.write(`[${job.name}]`.padEnd(width + 2) + ` not run: ${reason}\n`),
    });
    const rows: SummaryRow[] = graph.nodes.map((n) => {
      const o = outcomes.get(n.name) ?? { status: 'not_run' as const, durationMs: 0 };
      const row: SummaryRow = { job: n.name, status: o.status, logFiles: logFiles.get(n.name) ?? [] };
      if (o.startedAt !== undefined) row.durationMs = o.durationMs;
      if (o.reason !== undefined) row.reason = o.reason;
      return row;
    });
    out.write(`\n${formatSummary(graph.workflow, rows, filteredOut, Date.now() - started)}`);
    out.write(formatWorkflowArtifacts(graph.nodes.flatMap((n) => (runIds.get(n.name) ?? []).map((_, i) => ({ label: nodeLabels(n)[i], stored: stored.get(n.name)?.[i] })))));
    if (interrupts.signal.aborted) return canceledBy === 'SIGTERM' ? 143 : 130;
    if (environmentFailed) return 2;
    return rows.some((r) => r.status === 'failed' || r.status === 'canceled') ? 1 : 0;
  };

  return {
    result: run(),
    cancel(signal) {
      canceledBy = signal;
      interrupts.abort();
      for (const job of running) job.cancel({ signal });
    },
    async forceCleanup() {
      interrupts.abort();
      await Promise.allSettled([...running].map((job) => job.forceCleanup()));
    },
  };
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
