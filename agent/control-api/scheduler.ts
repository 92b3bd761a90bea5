/**
 * Moves jobs through CircleCI's statuses. A job is `blocked` until every job it requires has
 * ended in a status it accepts (then `queued`, or `on_hold` for an approval job) or in one it
 * does not (then `not_run`). Queued job nodes start in submission order while the backend has
 * room for them: the head of the queue waits for room rather than be overtaken, so nothing
 * submitted earlier starves. A job ends when all its nodes have; its workflow when all its jobs
 * have. Every change is written to the store before anything is started, and a restart finds
 * the nodes a dead service left `running` and marks them `infrastructure_fail` with why.
 */
import { randomUUID } from 'node:crypto';
import type { OutputTarget } from '../assignment/assignment.js';
import type { RequiredStatus } from '../jobspec/jobspec.js';
import type { Size } from '../workflow/capacity.js';
import { SERVICE_ACTOR, type AuditEntity, type AuditLog } from './audit.js';
import type { ControlMetrics } from './metrics.js';
import { nodeSize } from './node-slots.js';
import type { ProcessorJobRead } from './processor-job.js';
import type { ServiceSshSettings } from './rerun-ssh.js';
import { isFinal, type ControlStore, type JobRow, type JobSshRequest, type JobStatus, type NodeRow, type NodeSsh, type PipelineRow, type StepRecord, type WorkflowStatus } from './store.js';

/** How a node's run ended, as the backend reports it. */
export interface NodeResult {
  status: 'success' | 'failed' | 'canceled';
  exitCode: number;
  /** the environment failed (engine, image, lost output), not the job's steps */
  infrastructureFailure: boolean;
  reason?: string;
}

export interface NodeLaunch {
  node: NodeRow;
  job: JobRow;
  pipeline: PipelineRow;
  /** the workflow id its workspaces are under (the first run's, for a rerun) */
  storageWorkflowId: string;
  /** the job runs whose workspaces attach_workspace applies, oldest first */
  upstreamJobRunIds: string[];
}

/** What the scheduler is told while a node runs. */
export interface NodeEvents {
  /** where the node runs, once known (a Nomad dispatched job's id): kept, so a restart can find it again */
  placed(ranOn: string): void;
  steps(steps: StepRecord[], outputBytes: number): void;
  stepEnded(status: string): void;
  output(bytes: number): void;
  /** where the node's SSH stands (a rerun with SSH) */
  ssh(state: NodeSsh): void;
  ended(result: NodeResult): void;
}

/** Where job nodes run: this machine (local-backend.ts) or Nomad (nomad-backend.ts). */
export interface Backend {
  readonly name: string;
  /** whether a node of this size may start now */
  fits(size: Size): boolean;
  /** starts a node; `ranOn` says where, for the job's record */
  start(launch: NodeLaunch, events: NodeEvents): { ranOn: string };
  /** after a restart, takes back a node the last service left running, if it still can be followed */
  adopt?(launch: NodeLaunch, events: NodeEvents): boolean;
  /** cancels a running node: its steps are stopped and what it made removed; `ended` follows */
  cancel(nodeId: string): void;
  capacity(): { cpusUsed: number; cpusFree: number; memoryMbUsed: number; memoryMbFree: number; vmsInUse: number };
  /** nodes running now */
  readonly running: number;
  close(): Promise<void>;
}

/** What the service hands a backend other than this machine's (service.ts). */
export interface BackendSettings {
  /** the store URL the jobs use */
  storeUrl: string;
  /** DATA/logs: one log file per node */
  logsDir: string;
  contextsFile: string;
  sshKeysDir: string;
  /** the service's settings for reruns with SSH */
  ssh: ServiceSshSettings;
  /**
   * How to read a run's job JSON at the output processor's HTTP side, where a job that runs
   * elsewhere reports its SSH; undefined when the processor has no HTTP address the service knows.
   */
  processorJob(runId: string): ProcessorJobRead | undefined;
}

/** Makes a backend, given where each node's output is streamed (by its run id). */
export type BackendFactory = (output: (runId: string) => OutputTarget | null, settings: BackendSettings) => Backend;

export class Scheduler {
  /** no new job starts; running ones finish */
  draining = false;

  constructor(
    private readonly store: ControlStore,
    private readonly backend: Backend,
    private readonly audit: AuditLog,
    private readonly metrics: ControlMetrics,
  ) {}

  /** After a restart: what the dead service left running ended with it. */
  recover(restartedAt: string): number {
    // what the backend can still follow (a Nomad job goes on while the service is away) stays running
    const left = this.store.nodesWithStatus('running').filter((n) => !this.adopt(n));
    const reason = `the control API stopped while this job ran (restarted at ${restartedAt}); its containers were reclaimed`;
    this.store.transaction(() => {
      for (const n of left) this.store.updateNode(n.id, { status: 'infrastructure_fail', stoppedAt: restartedAt, reason });
      for (const j of this.store.jobsWithStatus('running')) this.finishJobIfDone(j.id, reason);
    });
    for (const n of left) this.audit.record({ action: 'workflow.job.finish', actor: SERVICE_ACTOR, target: { id: n.jobId, type: 'job' }, payload: { node_index: n.index, status: 'infrastructure_fail', reason }, success: false });
    this.advance();
    return left.length;
  }

  /** Decides what can be decided and starts what has room; called after every change. */
  advance(): void {
    this.store.transaction(() => {
      for (const wf of this.store.activeWorkflows()) this.decideWorkflow(wf.id);
    });
    if (this.draining) return;
    for (const node of this.store.queuedNodes()) {
      const job = this.store.job(node.jobId)!;
      if (!this.backend.fits(nodeSize(job.spec!))) break;
      this.startNode(node, job);
    }
  }

  approve(jobId: string, actor: AuditEntity, requestId: string): JobRow {
    const job = this.store.job(jobId)!;
    const now = new Date().toISOString();
    this.store.updateJob(jobId, { status: 'success', approvedBy: actor.id, startedAt: now, stoppedAt: now });
    this.audit.record({ action: 'workflow.job.approve', actor, target: { id: jobId, type: 'job' }, payload: { name: job.name, workflow_id: job.workflowId }, requestId });
    this.advance();
    return this.store.job(jobId)!;
  }

  /** Cancels a job: waiting nodes at once, running ones through the backend (their end follows). */
  cancelJob(jobId: string, actor: AuditEntity, requestId: string): void {
    const job = this.store.job(jobId)!;
    const now = new Date().toISOString();
    const reason = `canceled by ${actor.id}`;
    const running: string[] = [];
    this.store.transaction(() => {
      for (const n of this.store.nodesOf(jobId)) {
        if (n.status === 'running') running.push(n.id);
        else if (!isFinal(n.status)) this.store.updateNode(n.id, { status: 'canceled', stoppedAt: now, reason });
      }
      this.store.updateJob(jobId, { reason });
      if (running.length === 0) this.store.updateJob(jobId, { status: 'canceled', stoppedAt: now });
    });
    this.audit.record({ action: 'workflow.job.cancel', actor, target: { id: jobId, type: 'job' }, payload: { name: job.name, workflow_id: job.workflowId, was: job.status }, requestId });
    for (const id of running) this.backend.cancel(id);
    this.advance();
  }

  cancelWorkflow(workflowId: string, actor: AuditEntity, requestId: string): void {
    for (const j of this.store.jobsOf(workflowId)) if (!isFinal(j.status)) this.cancelJob(j.id, actor, requestId);
    this.audit.record({ action: 'workflow.cancel', actor, target: { id: workflowId, type: 'workflow' }, requestId });
  }

  /**
   * Runs an ended workflow again as a new workflow of its pipeline. From failed, the jobs that
   * succeeded keep their success (and their workspaces: the rerun's are stored under the first
   * run's id, as CircleCI's rerun sees the first run's workspace); the others run again, with
   * SSH enabled when `ssh` is given (CircleCI's `enable_ssh`).
   */
  rerunWorkflow(workflowId: string, fromFailed: boolean, actor: AuditEntity, requestId: string, ssh?: JobSshRequest): string {
    const old = this.store.workflow(workflowId)!;
    const id = randomUUID();
    const now = new Date().toISOString();
    this.store.transaction(() => {
      this.store.insertWorkflow({ id, pipelineId: old.pipelineId, name: old.name, status: 'running', createdAt: now, rerunOf: old.id, storageId: old.storageId });
      let seq = this.store.nextSeq();
      for (const j of this.store.jobsOf(workflowId)) {
        const keep = fromFailed && j.status === 'success';
        const runs = !keep && j.spec !== undefined && j.spec.executor.kind !== 'none';
        const job: JobRow = {
          id: randomUUID(),
          workflowId: id,
          pipelineId: j.pipelineId,
          name: j.name,
          type: j.type,
          status: keep ? 'success' : 'blocked',
          requires: j.requires,
          ...(j.spec ? { spec: j.spec } : {}),
          parallelism: j.parallelism,
          ...(j.resourceClass ? { resourceClass: j.resourceClass } : {}),
          seq: seq++,
          ...(keep ? { copiedFrom: j.copiedFrom ?? j.id, ...(j.startedAt ? { startedAt: j.startedAt } : {}), ...(j.stoppedAt ? { stoppedAt: j.stoppedAt } : {}), ...(j.approvedBy ? { approvedBy: j.approvedBy } : {}) } : {}),
          ...(runs && ssh ? { ssh } : {}),
        };
        this.store.insertJob(job);
        if (runs) {
          for (let i = 0; i < j.parallelism; i++) this.store.insertNode({ id: randomUUID(), jobId: job.id, index: i, status: 'blocked', steps: [], outputBytes: 0, ...(ssh ? { ssh: { phase: 'starting' as const, sessions: 0 } } : {}) });
        }
      }
    });
    this.audit.record({ action: ssh ? 'workflow.rerun_with_ssh' : 'workflow.rerun', actor, target: { id: workflowId, type: 'workflow' }, payload: { new_workflow_id: id, from_failed: fromFailed, ...(ssh ? { ssh_key_fingerprints: ssh.fingerprints } : {}) }, requestId });
    this.advance();
    return id;
  }

  /**
   * Runs an ended job again, as CircleCI's "rerun job" does: a new workflow run of its pipeline
   * that holds that job and, kept as they ended, the jobs it requires (so that it starts at once
   * and attaches their workspaces). With `ssh`, the new job run's assignment enables SSH.
   */
  rerunJob(jobId: string, ssh: JobSshRequest | undefined, actor: AuditEntity, requestId: string): JobRow {
    const old = this.store.job(jobId)!;
    const oldWorkflow = this.store.workflow(old.workflowId)!;
    const jobs = this.store.jobsOf(old.workflowId);
    const ancestors = requiredBy(old, jobs);
    const workflowId = randomUUID();
    const newJobId = randomUUID();
    const now = new Date().toISOString();
    this.store.transaction(() => {
      this.store.insertWorkflow({ id: workflowId, pipelineId: oldWorkflow.pipelineId, name: oldWorkflow.name, status: 'running', createdAt: now, rerunOf: oldWorkflow.id, storageId: oldWorkflow.storageId });
      let seq = this.store.nextSeq();
      for (const j of jobs) {
        if (!ancestors.has(j.name)) continue;
        this.store.insertJob({
          ...j,
          id: randomUUID(),
          workflowId,
          seq: seq++,
          copiedFrom: j.copiedFrom ?? j.id,
        });
      }
      this.store.insertJob({
        id: newJobId,
        workflowId,
        pipelineId: old.pipelineId,
        name: old.name,
        type: old.type,
        status: 'blocked',
        requires: old.requires,
        ...(old.spec ? { spec: old.spec } : {}),
        parallelism: old.parallelism,
        ...(old.resourceClass ? { resourceClass: old.resourceClass } : {}),
        seq: seq++,
        ...(ssh ? { ssh } : {}),
      });
      for (let i = 0; i < old.parallelism; i++) this.store.insertNode({ id: randomUUID(), jobId: newJobId, index: i, status: 'blocked', steps: [], outputBytes: 0, ...(ssh ? { ssh: { phase: 'starting' as const, sessions: 0 } } : {}) });
    });
    this.audit.record({
      action: ssh ? 'workflow.job.rerun_with_ssh' : 'workflow.job.rerun',
      actor,
      target: { id: jobId, type: 'job' },
      payload: { name: old.name, workflow_id: old.workflowId, new_job_id: newJobId, new_workflow_id: workflowId, ...(ssh ? { ssh_key_fingerprints: ssh.fingerprints } : {}) },
      requestId,
    });
    this.advance();
    return this.store.job(newJobId)!;
  }

  private startNode(node: NodeRow, job: JobRow): void {
    const pipeline = this.store.pipeline(job.pipelineId)!;
    const now = new Date();
    this.store.transaction(() => {
      this.store.updateNode(node.id, { status: 'running', startedAt: now.toISOString() });
      if (job.status !== 'running') this.store.updateJob(job.id, { status: 'running', ...(job.startedAt ? {} : { startedAt: now.toISOString() }) });
    });
    const resourceClass = job.resourceClass ?? 'unknown';
    this.audit.record({ action: 'workflow.job.start', actor: SERVICE_ACTOR, target: { id: job.id, type: 'job' }, payload: { name: job.name, node_index: node.index, run_id: node.id, resource_class: resourceClass, backend: this.backend.name } });
    const upstreamJobRunIds = this.upstreamRuns(job);
    const events = this.eventsOf(node.id);
    try {
      const storageWorkflowId = this.store.workflow(job.workflowId)?.storageId ?? job.workflowId;
      const { ranOn } = this.backend.start({ node: { ...node, status: 'running' }, job, pipeline, upstreamJobRunIds, storageWorkflowId }, events);
      if (this.store.node(node.id)?.ranOn === undefined) this.store.updateNode(node.id, { ranOn });
    } catch (err) {
      events.ended({ status: 'failed', exitCode: 2, infrastructureFailure: true, reason: (err as Error).message });
    }
  }

  private adopt(node: NodeRow): boolean {
    if (!this.backend.adopt) return false;
    const job = this.store.job(node.jobId)!;
    const pipeline = this.store.pipeline(job.pipelineId)!;
    return this.backend.adopt({ node, job, pipeline, upstreamJobRunIds: [], storageWorkflowId: job.workflowId }, this.eventsOf(node.id));
  }

  private eventsOf(nodeId: string): NodeEvents {
    let ended = false;
    return {
      placed: (ranOn) => {
        if (!ended) this.store.updateNode(nodeId, { ranOn });
      },
      steps: (steps, outputBytes) => {
        if (!ended) this.store.updateNode(nodeId, { steps, outputBytes });
      },
      stepEnded: (status) => this.metrics.stepEnded(status),
      output: (bytes) => this.metrics.output(bytes),
      ssh: (state) => this.store.updateNode(nodeId, { ssh: state }),
      ended: (result) => {
        if (ended) return;
        ended = true;
        this.nodeEnded(nodeId, result);
      },
    };
  }

  private nodeEnded(nodeId: string, result: NodeResult): void {
    const node = this.store.node(nodeId);
    if (!node) return;
    const job = this.store.job(node.jobId)!;
    const now = new Date().toISOString();
    const status: JobStatus = result.status === 'canceled' ? 'canceled' : result.infrastructureFailure ? 'infrastructure_fail' : result.status;
    this.store.transaction(() => {
      this.store.updateNode(nodeId, { status, stoppedAt: now, exitCode: result.exitCode, ...(result.reason ? { reason: result.reason } : {}) });
      this.finishJobIfDone(job.id, result.reason);
    });
    const durationMs = node.startedAt ? Date.parse(now) - Date.parse(node.startedAt) : 0;
    this.metrics.jobEnded(job.resourceClass ?? 'unknown', status, job.queuedAt && node.startedAt ? Date.parse(node.startedAt) - Date.parse(job.queuedAt) : 0, durationMs);
    this.audit.record({ action: 'workflow.job.finish', actor: SERVICE_ACTOR, target: { id: job.id, type: 'job' }, payload: { name: job.name, node_index: node.index, run_id: node.id, status, exit_code: result.exitCode, duration_ms: durationMs }, success: status === 'success' });
    this.advance();
  }

  /** A job whose nodes have all ended takes their worst status. */
  private finishJobIfDone(jobId: string, reason: string | undefined): void {
    const nodes = this.store.nodesOf(jobId);
    if (!nodes.every((n) => isFinal(n.status))) return;
    const order: JobStatus[] = ['canceled', 'infrastructure_fail', 'failed', 'not_run', 'success'];
    const status = order.find((s) => nodes.some((n) => n.status === s)) ?? 'success';
    const job = this.store.job(jobId)!;
    this.store.updateJob(jobId, { status, stoppedAt: new Date().toISOString(), ...(reason && status !== 'success' && !job.reason ? { reason } : {}) });
  }

  private decideWorkflow(workflowId: string): void {
    const now = new Date().toISOString();
    let jobs = this.store.jobsOf(workflowId);
    for (let changed = true; changed; ) {
      changed = false;
      const byName = new Map(jobs.map((j) => [j.name, j]));
      for (const job of jobs) {
        if (job.status !== 'blocked') continue;
        const verdict = readiness(job.requires, byName);
        if (verdict === 'waiting') continue;
        changed = true;
        if (verdict !== 'ready') {
          this.store.updateJob(job.id, { status: 'not_run', reason: verdict, stoppedAt: now });
          for (const n of this.store.nodesOf(job.id)) this.store.updateNode(n.id, { status: 'not_run', reason: verdict });
        } else if (job.type === 'approval') {
          this.store.updateJob(job.id, { status: 'on_hold', queuedAt: now });
        } else if (!job.spec || job.spec.executor.kind === 'none') {
          this.store.updateJob(job.id, { status: 'success', queuedAt: now, startedAt: now, stoppedAt: now });
        } else {
          this.store.updateJob(job.id, { status: 'queued', queuedAt: now });
          for (const n of this.store.nodesOf(job.id)) this.store.updateNode(n.id, { status: 'queued' });
          this.audit.record({ action: 'workflow.job.schedule', actor: SERVICE_ACTOR, target: { id: job.id, type: 'job' }, payload: { name: job.name, workflow_id: workflowId, parallelism: job.parallelism, resource_class: job.resourceClass ?? '' } });
        }
      }
      if (changed) jobs = this.store.jobsOf(workflowId);
    }
    const status = workflowStatus(jobs.map((j) => j.status));
    const wf = this.store.workflow(workflowId)!;
    if (status !== wf.status) this.store.updateWorkflow(workflowId, { status, ...(status === 'running' || status === 'on_hold' ? {} : { stoppedAt: now }) });
  }

  private upstreamRuns(job: JobRow): string[] {
    const jobs = this.store.jobsOf(job.workflowId);
    const upstream = requiredBy(job, jobs);
    // a job a rerun kept ran in the earlier workflow: its workspace layers are that run's
    return jobs.filter((j) => upstream.has(j.name)).flatMap((j) => this.store.nodesOf(j.copiedFrom ?? j.id).map((n) => n.id));
  }
}

/** The names of the jobs of its workflow (`jobs`) that `job` requires, directly or through others. */
function requiredBy(job: JobRow, jobs: JobRow[]): Set<string> {
  const byName = new Map(jobs.map((j) => [j.name, j]));
  const names = new Set<string>();
  const visit = (j: JobRow): void => {
    for (const r of Object.keys(j.requires)) {
      const up = byName.get(r);
      if (!up || names.has(up.name)) continue;
      names.add(up.name);
      visit(up);
    }
  };
  visit(job);
  return names;
}

/** A job's status as its `requires` see it: an infrastructure failure is a failure. */
function asRequired(s: JobStatus): RequiredStatus | undefined {
  if (s === 'infrastructure_fail') return 'failed';
  if (s === 'success' || s === 'failed' || s === 'canceled' || s === 'not_run') return s;
  return undefined;
}

function readiness(requires: Record<string, RequiredStatus[]>, byName: Map<string, JobRow>): 'ready' | 'waiting' | string {
  let waiting = false;
  for (const [name, accepted] of Object.entries(requires)) {
    const j = byName.get(name);
    // filtered out of this pipeline: nothing to wait for, as on CircleCI
    if (!j) continue;
    const s = asRequired(j.status);
    if (s === undefined) waiting = true;
    else if (!accepted.includes(s)) return `${name} ended ${j.status}${accepted.length === 1 && accepted[0] === 'success' ? '' : `, not ${accepted.join('/')}`}`;
  }
  return waiting ? 'waiting' : 'ready';
}

function workflowStatus(statuses: JobStatus[]): WorkflowStatus {
  if (statuses.some((s) => s === 'running' || s === 'queued')) return 'running';
  if (statuses.some((s) => s === 'on_hold')) return 'on_hold';
  if (statuses.some((s) => s === 'blocked')) return 'running';
  if (statuses.some((s) => s === 'canceled')) return 'canceled';
  if (statuses.some((s) => s === 'failed' || s === 'infrastructure_fail')) return 'failed';
  if (statuses.length > 0 && statuses.every((s) => s === 'not_run')) return 'not_run';
  return 'success';
}
