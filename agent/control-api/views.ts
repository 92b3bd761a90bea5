/**
 * The JSON the API answers with for pipelines, workflows and jobs: CircleCI API v2's field names
 * where it has them (snake_case, `status`, `stopped_at`), plus each job node's steps and where it ran.
 */
import { isFinal, type ControlStore, type JobRow, type JobStatus, type NodeSsh, type PipelineRow } from './store.js';

export interface ViewContext {
  store: ControlStore;
  /** the output processor's HTTP side, for links to live pages */
  liveUrl?: string;
}

export function pipelineJson(ctx: ViewContext, p: PipelineRow): Record<string, unknown> {
  return {
    id: p.id,
    number: p.number,
    state: p.state,
    created_at: p.createdAt,
    trigger: { actor: p.actor },
    project: p.project,
    vcs: { branch: p.branch ?? null, tag: p.tag ?? null, revision: p.revision ?? null, origin_repository_url: p.repository ?? null },
    parameters: p.parameters,
    workflows: ctx.store.workflowsOf(p.id).map((w) => workflowJson(ctx, w.id)),
  };
}

export function workflowJson(ctx: ViewContext, id: string): Record<string, unknown> {
  const wf = ctx.store.workflow(id)!;
  return { id: wf.id, name: wf.name, status: wf.status, created_at: wf.createdAt, stopped_at: wf.stoppedAt ?? null, ...(wf.rerunOf ? { rerun_of: wf.rerunOf } : {}), jobs: ctx.store.jobsOf(wf.id).map((j) => jobJson(ctx, j, false)) };
}

export function jobJson(ctx: ViewContext, j: JobRow, full: boolean): Record<string, unknown> {
  const base: Record<string, unknown> = {
    id: j.id,
    name: j.name,
    type: j.type,
    status: j.status,
    resource_class: j.resourceClass ?? null,
    parallelism: j.parallelism,
    queued_at: j.queuedAt ?? null,
    started_at: j.startedAt ?? null,
    stopped_at: j.stoppedAt ?? null,
    ...(j.reason ? { reason: j.reason } : {}),
    ...(j.approvedBy ? { approved_by: j.approvedBy } : {}),
  };
  if (!full) return base;
  const nodes = ctx.store.nodesOf(j.id);
  return {
    ...base,
    // the first node's SSH at the top, where a person looks for the line to type
    ...(j.ssh ? { ssh: { enabled: true, key_fingerprints: j.ssh.fingerprints, ...sshJson(nodes[0]?.ssh, nodes[0]?.status) } } : {}),
    workflow_id: j.workflowId,
    pipeline_id: j.pipelineId,
    requires: j.requires,
    output_url: `/api/v1/jobs/${j.id}/output`,
    nodes: nodes.map((n) => ({
      index: n.index,
      run_id: n.id,
      status: n.status,
      started_at: n.startedAt ?? null,
      stopped_at: n.stoppedAt ?? null,
      exit_code: n.exitCode ?? null,
      ran_on: n.ranOn ?? null,
      ...(n.reason ? { reason: n.reason } : {}),
      output_bytes: n.outputBytes,
      steps: n.steps.map((s) => ({ index: s.index, name: s.name, status: s.status ?? 'running', exit_code: s.exitCode ?? null, duration_ms: s.durationMs ?? null })),
      ...(ctx.liveUrl ? { live_url: `${ctx.liveUrl}/jobs/${n.id}` } : {}),
      ...(n.ssh ? { ssh: sshJson(n.ssh, n.status) } : {}),
    })),
  };
}

/** A node's SSH: `starting` until its server listens, then the line, the host key and the hold. */
function sshJson(s: NodeSsh | undefined, node: JobStatus | undefined): Record<string, unknown> {
  // a node that ended before its server listened (or while it did) has no SSH left
  const phase = node !== undefined && isFinal(node) ? 'ended' : (s?.phase ?? 'starting');
  if (!s) return { status: phase };
  return {
    status: phase,
    command: s.command ?? null,
    host: s.host ?? null,
    port: s.port ?? null,
    user: s.user ?? null,
    host_key: s.hostKey ?? null,
    host_key_fingerprint: s.hostKeyFingerprint ?? null,
    sessions: s.sessions,
  };
}
