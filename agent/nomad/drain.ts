/**
 * `deckhand nomad drain`: a client stops taking jobs and lets the running ones finish, which is
 * what an autoscaling group's lifecycle hook must do before the machine goes away
 * (https://developer.hashicorp.com/nomad/api-docs/nodes#drain-node). Batch allocations — every
 * Deckhand job — are not migrated: they run until they end or the deadline passes, and are then
 * stopped, not replaced (https://developer.hashicorp.com/nomad/commands/node/drain). Unless told
 * not to, it waits for the drain to finish (the node's drain strategy cleared), following the
 * node with blocking queries, as `nomad node drain` does.
 */
import { UsageError } from '../errors.js';
import { type NomadApi, pathSegment } from './nomad-api.js';

export interface DrainOptions {
  /** the node to drain; absent: the client the API address belongs to (--self) */
  nodeId?: string;
  /** ms; 0: no deadline */
  deadlineMs: number;
  wait: boolean;
  say: (line: string) => void;
  signal?: AbortSignal;
}

interface AgentSelf {
  stats?: { client?: { node_id?: string } };
}

interface NodeState {
  ID: string;
  Name?: string;
  DrainStrategy?: unknown | null;
  SchedulingEligibility?: string;
}

/** The request body of a drain (Nomad's NodeUpdateDrainRequest). */
export function drainRequest(nodeId: string, deadlineMs: number): Record<string, unknown> {
  return {
    NodeID: nodeId,
    DrainSpec: { Deadline: deadlineMs * 1_000_000, IgnoreSystemJobs: false },
    MarkEligible: false,
    Meta: { message: 'drained by deckhand nomad drain' },
  };
}

export async function selfNodeId(api: NomadApi, signal?: AbortSignal): Promise<string> {
  const { value } = await api.request<AgentSelf>('GET', '/v1/agent/self', { signal });
  const id = value?.stats?.client?.node_id;
  if (!id) throw new UsageError(`the Nomad agent at ${api.connection.address} is not a client (it reports no client node id): run drain --self on the client itself, or give --node ID`);
  return id;
}

export async function drainNode(api: NomadApi, options: DrainOptions): Promise<{ nodeId: string; done: boolean }> {
  const nodeId = options.nodeId ?? (await selfNodeId(api, options.signal));
  await api.request('PUT', `/v1/node/${pathSegment(nodeId)}/drain`, { body: drainRequest(nodeId, options.deadlineMs), signal: options.signal });
  options.say(`node ${nodeId}: draining (no new jobs; running jobs finish${options.deadlineMs > 0 ? ` or are stopped after ${options.deadlineMs / 1000} s` : ', with no deadline'})`);
  if (!options.wait) return { nodeId, done: false };
  let index: number | undefined;
  for (;;) {
    const { value, index: next } = await api.request<NodeState>('GET', `/v1/node/${pathSegment(nodeId)}`, { ...(index !== undefined ? { index, waitSeconds: 300 } : {}), signal: options.signal });
    if (value && (value.DrainStrategy === null || value.DrainStrategy === undefined)) {
      options.say(`node ${nodeId}: drain complete; it is ${value.SchedulingEligibility ?? 'ineligible'} for new jobs`);
      return { nodeId, done: true };
    }
    index = Math.max(next, 1);
  }
}
