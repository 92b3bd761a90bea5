/**
 * The JSON the API answers with for pipelines, workflows and jobs: CircleCI API v2's field names
 * where it has them (snake_case, `status`, `stopped_at`), plus each job node's steps and where it ran.
 */
import type { ControlStore, JobRow, PipelineRow } from './store.js';

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
  return {
    ...base,
    workflow_id: j.workflowId,
    pipeline_id: j.pipelineId,
    requires: j.requires,
    output_url: `/api/v1/jobs/${j.id}/output`,
    nodes: ctx.store.nodesOf(j.id).map((n) => ({
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
    })),
  };
}
