/**
 * `deckhand nomad dispatch`: one job run handed to Nomad, as a dispatch of the parameterized job
 * of its resource class (https://developer.hashicorp.com/nomad/api-docs/jobs#dispatch-job):
 *
 * - the payload is the assignment gzipped (`deckhand agent nomad-task` reads gzip), so that
 *   larger assignments fit Nomad's 16 KiB limit, which counts the bytes as sent;
 * - meta names the run and its parallel node (the job declares these keys);
 * - the idempotency token is the run's id: dispatching the same run twice (a retry after a lost
 *   answer) makes one job, as long as Nomad has not garbage-collected the first;
 * - with `wait`, the dispatched job's allocation is followed with blocking queries to its end, and
 *   the task's exit code is the result.
 */
import { gzipSync } from 'node:zlib';
import type { JobAssignment } from '../assignment/assignment.js';
import { EXIT_ERROR, UsageError } from '../errors.js';
import { jobIdFor, TASK_NAME } from './job-file.js';
import { type NomadApi, pathSegment } from './nomad-api.js';
import { NOMAD_DISPATCH_PAYLOAD_LIMIT } from './payload.js';

export interface DispatchOptions {
  /** the parsed assignment, or a reference `{"assignmentUrl": …}` sent as it is */
  assignment: JobAssignment | { assignmentUrl: string; tokenFile?: string };
  /** the parameterized job (default: `deckhand-<the assignment's resource class>`) */
  jobId?: string;
  /** meta when the payload is a reference (otherwise read from the assignment) */
  runId?: string;
  idempotencyToken?: string;
  wait: boolean;
  /** progress lines for people (stderr) */
  say: (line: string) => void;
  signal?: AbortSignal;
}

export interface DispatchResult {
  dispatchedJobId: string;
  evalId: string;
  /** with wait: how the run ended */
  end?: { clientStatus: string; exitCode: number; allocId: string; description: string };
}

interface DispatchResponse {
  DispatchedJobID: string;
  EvalID: string;
  EvalCreateIndex: number;
  JobCreateIndex: number;
  Index: number;
}

interface TaskEvent {
  Type: string;
  Details?: Record<string, string>;
  DisplayMessage?: string;
}

interface AllocStub {
  ID: string;
  NodeID: string;
  NodeName?: string;
  ClientStatus: string;
  ClientDescription?: string;
  DesiredStatus: string;
  TaskStates?: Record<string, { State: string; Failed: boolean; Events?: TaskEvent[] } | null> | null;
}

const TERMINAL = new Set(['complete', 'failed', 'lost']);

function isReference(a: DispatchOptions['assignment']): a is { assignmentUrl: string; tokenFile?: string } {
  return 'assignmentUrl' in a;
}

/** The dispatch request: what goes in the body and the query. */
export function dispatchRequest(options: Pick<DispatchOptions, 'assignment' | 'jobId' | 'runId' | 'idempotencyToken'>): { jobId: string; body: Record<string, unknown>; idempotencyToken: string; payloadBytes: number } {
  const a = options.assignment;
  let meta: Record<string, string>;
  let jobId: string;
  let payload: Buffer;
  if (isReference(a)) {
    if (!options.jobId) throw new UsageError('an assignment reference does not say its resource class: give --job (the parameterized job, e.g. deckhand-medium)');
    if (!options.runId) throw new UsageError('an assignment reference does not say its run: give --run-id');
    jobId = options.jobId;
    meta = { run_id: options.runId };
    payload = Buffer.from(JSON.stringify(a));
  } else {
    jobId = options.jobId ?? jobIdFor(a.limits.resourceClass || a.spec.resources.class);
    meta = {
      run_id: a.run.id,
      node_index: String(a.run.nodeIndex),
      node_total: String(a.run.nodeTotal),
      workflow_id: a.run.workflowId,
      job_name: a.spec.job.name,
    };
    payload = gzipSync(JSON.stringify(a), { level: 9 });
  }
  if (payload.length > NOMAD_DISPATCH_PAYLOAD_LIMIT) {
    throw new UsageError(
      `the assignment is ${payload.length} bytes gzipped, over Nomad's dispatch payload limit of ${NOMAD_DISPATCH_PAYLOAD_LIMIT} bytes: store it where the client can fetch it and dispatch a reference file {"assignmentUrl": "https://…", "tokenFile": "…"} instead (docs/assignment.md)`,
    );
  }
  const idempotencyToken = options.idempotencyToken ?? meta.run_id;
  return { jobId, idempotencyToken, payloadBytes: payload.length, body: { JobID: jobId, Payload: payload.toString('base64'), Meta: meta } };
}

export async function dispatchAssignment(api: NomadApi, options: DispatchOptions): Promise<DispatchResult> {
  const request = dispatchRequest(options);
  const { value } = await api.request<DispatchResponse>('PUT', `/v1/job/${pathSegment(request.jobId)}/dispatch`, { body: request.body, query: { idempotency_token: request.idempotencyToken }, signal: options.signal });
  options.say(`dispatched ${value.DispatchedJobID} (evaluation ${value.EvalID}, payload ${request.payloadBytes} bytes)`);
  const result: DispatchResult = { dispatchedJobId: value.DispatchedJobID, evalId: value.EvalID };
  if (options.wait) result.end = await followAllocation(api, value.DispatchedJobID, options);
  return result;
}

/**
 * Follows a job dispatched earlier (by another process, e.g. a control API that restarted) to its
 * end, as `wait` does.
 */
export function followDispatchedJob(api: NomadApi, dispatchedJobId: string, options: Pick<DispatchOptions, 'say' | 'signal'>): Promise<NonNullable<DispatchResult['end']>> {
  return followAllocation(api, dispatchedJobId, { assignment: { assignmentUrl: '' }, wait: true, ...options });
}

/** Blocking queries on the job's allocations until one reaches a terminal state. */
async function followAllocation(api: NomadApi, jobId: string, options: DispatchOptions): Promise<NonNullable<DispatchResult['end']>> {
  let index: number | undefined;
  const said = new Map<string, string>();
  let saidWaiting = false;
  for (;;) {
    const { value, index: next } = await api.request<AllocStub[] | null>('GET', `/v1/job/${pathSegment(jobId)}/allocations`, { ...(index !== undefined ? { index, waitSeconds: 300 } : {}), signal: options.signal });
    // an index that is 0 would answer at once, again and again
    index = Math.max(next, 1);
    const allocs = value ?? [];
    if (allocs.length === 0 && !saidWaiting) {
      options.say('waiting for a client to take it (no allocation yet: the cluster may be out of capacity for this class)');
      saidWaiting = true;
    }
    for (const alloc of allocs) {
      const state = `${alloc.ClientStatus}${alloc.ClientDescription ? ` (${alloc.ClientDescription})` : ''}`;
      if (said.get(alloc.ID) !== state) {
        options.say(`allocation ${alloc.ID.slice(0, 8)} on ${alloc.NodeName || alloc.NodeID.slice(0, 8)}: ${state}`);
        said.set(alloc.ID, state);
      }
    }
    const done = allocs.find((a) => TERMINAL.has(a.ClientStatus));
    if (done) return ending(done);
  }
}

/** The task's exit code from its Terminated event (Details.exit_code, a string); lost or none: 2. */
function ending(alloc: AllocStub): NonNullable<DispatchResult['end']> {
  const events = alloc.TaskStates?.[TASK_NAME]?.Events ?? [];
  const terminated = [...events].reverse().find((e) => e.Type === 'Terminated');
  const code = terminated?.Details?.exit_code;
  let exitCode: number;
  if (alloc.ClientStatus === 'lost' || code === undefined || !/^-?\d+$/.test(code)) exitCode = alloc.ClientStatus === 'complete' ? 0 : EXIT_ERROR;
  else exitCode = Number(code);
  const last = events.at(-1);
  const description = [alloc.ClientDescription, last?.DisplayMessage].filter(Boolean).join('; ');
  return { clientStatus: alloc.ClientStatus, exitCode, allocId: alloc.ID, description };
}
