/**
 * The control API's state in SQLite (DATA/deckhand.db): pipelines, their workflows, their jobs and
 * each job's parallel nodes, with statuses and timings, so that all of it survives a restart. One
 * connection, synchronous (better-sqlite3): every change is one short transaction, and the
 * database is in WAL mode so a kill between two of them loses nothing already answered.
 */
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import type { GitInfo } from '../config/git-info.js';
import type { JobSpec, RequiredStatus } from '../jobspec/jobspec.js';
import { InfrastructureError } from '../errors.js';

/** CircleCI's job statuses (API v2) that a job of this service can be in. */
export type JobStatus = 'blocked' | 'queued' | 'running' | 'on_hold' | 'success' | 'failed' | 'canceled' | 'not_run' | 'infrastructure_fail';
/** CircleCI's workflow statuses. */
export type WorkflowStatus = 'running' | 'on_hold' | 'success' | 'failed' | 'canceled' | 'not_run';
export type PipelineState = 'created' | 'errored';

export const FINAL_JOB_STATUSES: readonly JobStatus[] = ['success', 'failed', 'canceled', 'not_run', 'infrastructure_fail'];
export const isFinal = (s: JobStatus): boolean => FINAL_JOB_STATUSES.includes(s);

export interface PipelineRow {
  id: string;
  number: number;
  state: PipelineState;
  createdAt: string;
  branch?: string;
  tag?: string;
  revision?: string;
  repository?: string;
  parameters: Record<string, string | number | boolean>;
  /** the folder the config and the source are in (the job's checkout source) */
  sourceDir: string;
  git: GitInfo;
  actor: string;
  /** whose project variables its jobs get (DATA/projects/PROJECT.env) */
  project: string;
}

export interface WorkflowRow {
  id: string;
  pipelineId: string;
  name: string;
  status: WorkflowStatus;
  createdAt: string;
  stoppedAt?: string;
  /** the workflow this one reruns */
  rerunOf?: string;
  /** the workflow id its workspaces are stored under: its own, or the first run's for a rerun */
  storageId: string;
}

export interface StepRecord {
  index: number;
  name: string;
  status?: string;
  exitCode?: number;
  durationMs?: number;
}

export interface JobRow {
  id: string;
  workflowId: string;
  pipelineId: string;
  name: string;
  type: 'build' | 'approval' | 'no-op' | 'release';
  status: JobStatus;
  requires: Record<string, RequiredStatus[]>;
  spec?: JobSpec;
  parallelism: number;
  resourceClass?: string;
  /** global submission order: jobs are started in it */
  seq: number;
  queuedAt?: string;
  startedAt?: string;
  stoppedAt?: string;
  reason?: string;
  approvedBy?: string;
  /** a rerun from failed keeps this job's earlier success: its runs are that job's */
  copiedFrom?: string;
  /** a rerun with SSH: the files of public keys that may log in */
  ssh?: JobSshRequest;
}

export interface JobSshRequest {
  authorizedKeys: string[];
  /** the fingerprints of those keys, for the job's answer */
  fingerprints: string[];
}

/** Where a node's SSH stands (the job's last `ssh` event, agent/output/events.ts SshStatus), as last told. */
export interface NodeSsh {
  phase: 'starting' | 'listening' | 'holding' | 'ended';
  command?: string;
  host?: string;
  port?: number;
  user?: string;
  hostKey?: string;
  hostKeyFingerprint?: string;
  sessions: number;
}

export interface NodeRow {
  /** the run id of this parallel node: its assignment's run.id and its output's job id */
  id: string;
  jobId: string;
  index: number;
  status: JobStatus;
  startedAt?: string;
  stoppedAt?: string;
  exitCode?: number;
  reason?: string;
  steps: StepRecord[];
  outputBytes: number;
  /** where it ran: `local` or a Nomad dispatched job's id */
  ranOn?: string;
  ssh?: NodeSsh;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS pipelines (id TEXT PRIMARY KEY, number INTEGER NOT NULL, state TEXT NOT NULL, created_at TEXT NOT NULL,
  branch TEXT, tag TEXT, revision TEXT, repository TEXT, parameters TEXT NOT NULL, source_dir TEXT NOT NULL, git TEXT NOT NULL, actor TEXT NOT NULL, project TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS workflows (id TEXT PRIMARY KEY, pipeline_id TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL, stopped_at TEXT,
  rerun_of TEXT, storage_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, workflow_id TEXT NOT NULL, pipeline_id TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL,
  status TEXT NOT NULL, requires TEXT NOT NULL, spec TEXT, parallelism INTEGER NOT NULL, resource_class TEXT, seq INTEGER NOT NULL,
  queued_at TEXT, started_at TEXT, stopped_at TEXT, reason TEXT, approved_by TEXT, copied_from TEXT, ssh TEXT);
CREATE TABLE IF NOT EXISTS nodes (id TEXT PRIMARY KEY, job_id TEXT NOT NULL, node_index INTEGER NOT NULL, status TEXT NOT NULL,
  started_at TEXT, stopped_at TEXT, exit_code INTEGER, reason TEXT, steps TEXT NOT NULL, output_bytes INTEGER NOT NULL, ran_on TEXT, ssh TEXT);
CREATE INDEX IF NOT EXISTS workflows_by_pipeline ON workflows(pipeline_id);
CREATE INDEX IF NOT EXISTS jobs_by_workflow ON jobs(workflow_id);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs(status, seq);
CREATE INDEX IF NOT EXISTS nodes_by_job ON nodes(job_id);
`;

type Row = Record<string, unknown>;
const str = (v: unknown): string | undefined => (v === null || v === undefined ? undefined : String(v));
/** an object without its undefined fields, for exactOptionalPropertyTypes */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export class ControlStore {
  private readonly db: BetterSqlite3.Database;
  /** bumped by every write: what was read at one version is still true while it stands */
  version = 0;

  constructor(file: string) {
    const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
    try {
      this.db = new Database(file);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.exec(SCHEMA);
      // a database from before rerun with SSH gains its columns (last, where a new one has them)
      for (const table of ['jobs', 'nodes']) {
        const columns = (this.db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name);
        if (!columns.includes('ssh')) this.db.exec(`ALTER TABLE ${table} ADD COLUMN ssh TEXT`);
      }
    } catch (err) {
      throw new InfrastructureError(`cannot open the control API's database ${file}: ${(err as Error).message}; check that --data is a writable folder`);
    }
  }

  close(): void {
    this.db.close();
  }

  /** statements are compiled once: status reads come by the thousand per second */
  private readonly statements = new Map<string, BetterSqlite3.Statement>();
  private sql(text: string): BetterSqlite3.Statement {
    if (!text.startsWith('SELECT')) this.version++;
    let s = this.statements.get(text);
    if (!s) {
      s = this.db.prepare(text);
      this.statements.set(text, s);
    }
    return s;
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  nextPipelineNumber(): number {
    const r = this.sql('SELECT COALESCE(MAX(number), 0) + 1 AS n FROM pipelines').get() as { n: number };
    return r.n;
  }

  nextSeq(): number {
    const r = this.sql('SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM jobs').get() as { n: number };
    return r.n;
  }

  insertPipeline(p: PipelineRow): void {
    this.sql('INSERT INTO pipelines VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)').run(p.id, p.number, p.state, p.createdAt, p.branch ?? null, p.tag ?? null, p.revision ?? null, p.repository ?? null, JSON.stringify(p.parameters), p.sourceDir, JSON.stringify(p.git), p.actor, p.project);
  }

  insertWorkflow(w: WorkflowRow): void {
    this.sql('INSERT INTO workflows VALUES (?,?,?,?,?,?,?,?)').run(w.id, w.pipelineId, w.name, w.status, w.createdAt, w.stoppedAt ?? null, w.rerunOf ?? null, w.storageId);
  }

  insertJob(j: JobRow): void {
    this.sql('INSERT INTO jobs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)').run(j.id, j.workflowId, j.pipelineId, j.name, j.type, j.status, JSON.stringify(j.requires), j.spec ? JSON.stringify(j.spec) : null, j.parallelism, j.resourceClass ?? null, j.seq, j.queuedAt ?? null, j.startedAt ?? null, j.stoppedAt ?? null, j.reason ?? null, j.approvedBy ?? null, j.copiedFrom ?? null, j.ssh ? JSON.stringify(j.ssh) : null);
  }

  insertNode(n: NodeRow): void {
    this.sql('INSERT INTO nodes VALUES (?,?,?,?,?,?,?,?,?,?,?,?)').run(n.id, n.jobId, n.index, n.status, n.startedAt ?? null, n.stoppedAt ?? null, n.exitCode ?? null, n.reason ?? null, JSON.stringify(n.steps), n.outputBytes, n.ranOn ?? null, n.ssh ? JSON.stringify(n.ssh) : null);
  }

  pipeline(id: string): PipelineRow | undefined {
    const r = this.sql('SELECT * FROM pipelines WHERE id = ?').get(id) as Row | undefined;
    return r && toPipeline(r);
  }

  pipelines(limit: number): PipelineRow[] {
    return (this.sql('SELECT * FROM pipelines ORDER BY number DESC LIMIT ?').all(limit) as Row[]).map(toPipeline);
  }

  workflow(id: string): WorkflowRow | undefined {
    const r = this.sql('SELECT * FROM workflows WHERE id = ?').get(id) as Row | undefined;
    return r && toWorkflow(r);
  }

  workflowsOf(pipelineId: string): WorkflowRow[] {
    return (this.sql('SELECT * FROM workflows WHERE pipeline_id = ? ORDER BY rowid').all(pipelineId) as Row[]).map(toWorkflow);
  }

  /** workflows that still have jobs to decide */
  activeWorkflows(): WorkflowRow[] {
    return (this.sql("SELECT * FROM workflows WHERE status IN ('running','on_hold') ORDER BY rowid").all() as Row[]).map(toWorkflow);
  }

  job(id: string): JobRow | undefined {
    const r = this.sql('SELECT * FROM jobs WHERE id = ?').get(id) as Row | undefined;
    return r && toJob(r);
  }

  jobsOf(workflowId: string): JobRow[] {
    return (this.sql('SELECT * FROM jobs WHERE workflow_id = ? ORDER BY seq').all(workflowId) as Row[]).map(toJob);
  }

  jobsWithStatus(status: JobStatus): JobRow[] {
    return (this.sql('SELECT * FROM jobs WHERE status = ? ORDER BY seq').all(status) as Row[]).map(toJob);
  }

  countJobs(): Record<string, number> {
    const rows = this.sql('SELECT status, COUNT(*) AS n FROM jobs GROUP BY status').all() as { status: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }

  nodesOf(jobId: string): NodeRow[] {
    return (this.sql('SELECT * FROM nodes WHERE job_id = ? ORDER BY node_index').all(jobId) as Row[]).map(toNode);
  }

  /** nodes waiting for capacity, in submission order */
  queuedNodes(): NodeRow[] {
    return (this.sql("SELECT nodes.* FROM nodes JOIN jobs ON nodes.job_id = jobs.id WHERE nodes.status = 'queued' ORDER BY jobs.seq, nodes.node_index").all() as Row[]).map(toNode);
  }

  /** nodes a dead service left running */
  nodesWithStatus(status: JobStatus): NodeRow[] {
    return (this.sql('SELECT * FROM nodes WHERE status = ?').all(status) as Row[]).map(toNode);
  }

  node(id: string): NodeRow | undefined {
    const r = this.sql('SELECT * FROM nodes WHERE id = ?').get(id) as Row | undefined;
    return r && toNode(r);
  }

  updateJob(id: string, fields: Partial<Pick<JobRow, 'status' | 'queuedAt' | 'startedAt' | 'stoppedAt' | 'reason' | 'approvedBy'>>): void {
    const columns: Record<string, string> = { status: 'status', queuedAt: 'queued_at', startedAt: 'started_at', stoppedAt: 'stopped_at', reason: 'reason', approvedBy: 'approved_by' };
    this.update('jobs', columns, id, fields);
  }

  updateNode(id: string, fields: Partial<Pick<NodeRow, 'status' | 'startedAt' | 'stoppedAt' | 'exitCode' | 'reason' | 'ranOn' | 'outputBytes'>> & { steps?: StepRecord[]; ssh?: NodeSsh }): void {
    const columns: Record<string, string> = { status: 'status', startedAt: 'started_at', stoppedAt: 'stopped_at', exitCode: 'exit_code', reason: 'reason', ranOn: 'ran_on', outputBytes: 'output_bytes', steps: 'steps', ssh: 'ssh' };
    const { steps, ssh, ...rest } = fields;
    this.update('nodes', columns, id, { ...rest, ...(steps ? { steps: JSON.stringify(steps) } : {}), ...(ssh ? { ssh: JSON.stringify(ssh) } : {}) });
  }

  updateWorkflow(id: string, fields: Partial<Pick<WorkflowRow, 'status' | 'stoppedAt'>>): void {
    this.update('workflows', { status: 'status', stoppedAt: 'stopped_at' }, id, fields);
  }

  private update(table: string, columns: Record<string, string>, id: string, fields: Record<string, unknown>): void {
    const keys = Object.keys(fields).filter((k) => fields[k] !== undefined && columns[k]);
    if (keys.length === 0) return;
    this.sql(`UPDATE ${table} SET ${keys.map((k) => `${columns[k]} = ?`).join(', ')} WHERE id = ?`).run(...keys.map((k) => fields[k] as string | number), id);
  }
}

function toPipeline(r: Row): PipelineRow {
  return defined({
    id: String(r.id),
    number: Number(r.number),
    state: r.state as PipelineState,
    createdAt: String(r.created_at),
    branch: str(r.branch),
    tag: str(r.tag),
    revision: str(r.revision),
    repository: str(r.repository),
    parameters: JSON.parse(String(r.parameters)) as PipelineRow['parameters'],
    sourceDir: String(r.source_dir),
    git: JSON.parse(String(r.git)) as GitInfo,
    actor: String(r.actor),
    project: String(r.project),
  });
}

function toWorkflow(r: Row): WorkflowRow {
  return defined({ id: String(r.id), pipelineId: String(r.pipeline_id), name: String(r.name), status: r.status as WorkflowStatus, createdAt: String(r.created_at), stoppedAt: str(r.stopped_at), rerunOf: str(r.rerun_of), storageId: String(r.storage_id) });
}

function toJob(r: Row): JobRow {
  return defined({
    id: String(r.id),
    workflowId: String(r.workflow_id),
    pipelineId: String(r.pipeline_id),
    name: String(r.name),
    type: r.type as JobRow['type'],
    status: r.status as JobStatus,
    requires: JSON.parse(String(r.requires)) as JobRow['requires'],
    spec: r.spec === null ? undefined : (JSON.parse(String(r.spec)) as JobSpec),
    parallelism: Number(r.parallelism),
    resourceClass: str(r.resource_class),
    seq: Number(r.seq),
    queuedAt: str(r.queued_at),
    startedAt: str(r.started_at),
    stoppedAt: str(r.stopped_at),
    reason: str(r.reason),
    approvedBy: str(r.approved_by),
    copiedFrom: str(r.copied_from),
    ssh: r.ssh === null || r.ssh === undefined ? undefined : (JSON.parse(String(r.ssh)) as JobSshRequest),
  });
}

function toNode(r: Row): NodeRow {
  return defined({
    id: String(r.id),
    jobId: String(r.job_id),
    index: Number(r.node_index),
    status: r.status as JobStatus,
    startedAt: str(r.started_at),
    stoppedAt: str(r.stopped_at),
    exitCode: r.exit_code === null ? undefined : Number(r.exit_code),
    reason: str(r.reason),
    steps: JSON.parse(String(r.steps)) as StepRecord[],
    outputBytes: Number(r.output_bytes),
    ranOn: str(r.ran_on),
    ssh: r.ssh === null || r.ssh === undefined ? undefined : (JSON.parse(String(r.ssh)) as NodeSsh),
  });
}
