/**
 * `deckhand nomad job`: the parameterized batch job that runs Deckhand jobs of one resource class
 * on a Nomad fleet, dispatched once per job run (per parallel node) as CircleCI Server dispatches
 * its tasks. One job per class because a dispatch cannot change a job's resources
 * (https://developer.hashicorp.com/nomad/docs/job-specification/parameterized). Rendered as HCL
 * for `nomad job run`, or as the JSON of Nomad's job API (`{"Job": …}`, field names of its Go
 * types, durations in nanoseconds) for `nomad job run -json` and `PUT /v1/jobs`.
 *
 * What it says, and why:
 * - `parameterized`: the payload (the assignment) is required; meta names the run and its node;
 * - the class's CPU and memory plus the agent's own overhead, as `resources`;
 * - no restarts and no reschedules: a job run must not be repeated behind the dispatcher's back
 *   (an infrastructure failure is re-queued by whoever dispatched);
 * - `kill_signal` SIGTERM and a `kill_timeout` within the client's `max_kill_timeout`, so a
 *   cancel is graceful (the agent budgets its cancel from the same figure);
 * - a dynamic port labelled `ssh`, for SSH into builds;
 * - a constraint to the clients of Deckhand's node class.
 */
import { resourcesFor } from '../config/resource-classes.js';
import { DeckhandError, UsageError } from '../errors.js';
import { formatDuration } from './durations.js';
import { renderHcl, type HclBlock, type HclValue } from './hcl.js';

export type JobDriver = 'deckhand' | 'raw_exec';

export interface JobFileOptions {
  resourceClass: string;
  driver: JobDriver;
  /** default `deckhand-<class>` */
  jobId?: string;
  /** the clients' node class (client-config's --node-class) */
  nodeClass: string;
  datacenters: string[];
  killTimeoutMs: number;
  /** the clients' max_kill_timeout: kill_timeout must fit in it */
  maxKillTimeoutMs: number;
  /** MHz one CPU of the class stands for in Nomad's cpu figure */
  mhzPerCpu: number;
  /** the agent's own share, added to the class's */
  agentCpuMhz: number;
  agentMemoryMb: number;
  /** raw_exec: the deckhand command on the clients */
  deckhandCommand: string;
}

export const JOB_DEFAULTS = {
  driver: 'deckhand' as JobDriver,
  nodeClass: 'deckhand',
  datacenters: ['*'],
  killTimeoutMs: 25_000,
  maxKillTimeoutMs: 30_000,
  mhzPerCpu: 2000,
  agentCpuMhz: 250,
  agentMemoryMb: 256,
  deckhandCommand: 'deckhand',
};

/** The meta a dispatch may give: the run, and its node of a parallel job (`deckhand nomad dispatch` sets them). */
export const META_REQUIRED = ['run_id'];
export const META_OPTIONAL = ['node_index', 'node_total', 'workflow_id', 'job_name'];
export const PAYLOAD_FILE = 'payload';
export const GROUP_NAME = 'agent';
export const TASK_NAME = 'agent';
export const SSH_PORT_LABEL = 'ssh';

/** The parameterized job's ID for a resource class: `deckhand-medium`, `deckhand-medium-plus`, `deckhand-arm-large`. */
export function jobIdFor(resourceClass: string): string {
  return `deckhand-${resourceClass.replace(/\+/g, '-plus').replace(/[^A-Za-z0-9-]/g, '-')}`;
}

interface JobModel {
  id: string;
  cpuMhz: number;
  memoryMb: number;
  killTimeout: string;
  driverConfig: Record<string, string | string[]>;
}

function model(o: JobFileOptions): JobModel {
  let cpus: number;
  let memoryMb: number;
  try {
    ({ cpus, memoryMb } = resourcesFor('docker', o.resourceClass));
  } catch (err) {
    throw new UsageError(`--resource-class: ${err instanceof DeckhandError ? err.message.replace(/ for the docker executor/, '') : String(err)}`);
  }
  if (cpus === 0) throw new UsageError(`--resource-class ${o.resourceClass} is a self-hosted runner class with no size: give one of CircleCI's Docker classes (small, medium, large, …)`);
  if (o.killTimeoutMs > o.maxKillTimeoutMs) {
    throw new UsageError(`--kill-timeout ${formatDuration(o.killTimeoutMs)} is over the clients' max_kill_timeout of ${formatDuration(o.maxKillTimeoutMs)}: Nomad would cut the graceful cancel short; lower it, or raise --max-kill-timeout with the clients' setting`);
  }
  const killTimeout = formatDuration(o.killTimeoutMs);
  const driverConfig: Record<string, string | string[]> =
    o.driver === 'deckhand'
      ? { payload: PAYLOAD_FILE, kill_timeout: killTimeout }
      : { command: o.deckhandCommand, args: ['agent', 'nomad-task', '--payload', `\${NOMAD_TASK_DIR}/${PAYLOAD_FILE}`, '--kill-timeout', killTimeout] };
  return { id: o.jobId ?? jobIdFor(o.resourceClass), cpuMhz: cpus * o.mhzPerCpu + o.agentCpuMhz, memoryMb: memoryMb + o.agentMemoryMb, killTimeout, driverConfig };
}

/** The job as Nomad's job API takes it: `{"Job": {...}}`. */
export function jobJson(o: JobFileOptions): { Job: Record<string, unknown> } {
  const m = model(o);
  return {
    Job: {
      ID: m.id,
      Name: m.id,
      Type: 'batch',
      Datacenters: o.datacenters,
      Meta: { deckhand_resource_class: o.resourceClass },
      ParameterizedJob: { Payload: 'required', MetaRequired: META_REQUIRED, MetaOptional: META_OPTIONAL },
      Constraints: [{ LTarget: '${node.class}', RTarget: o.nodeClass, Operand: '=' }],
      TaskGroups: [
        {
          Name: GROUP_NAME,
          Count: 1,
          RestartPolicy: { Attempts: 0, Mode: 'fail' },
          ReschedulePolicy: { Attempts: 0, Unlimited: false },
          Networks: [{ DynamicPorts: [{ Label: SSH_PORT_LABEL }] }],
          Tasks: [
            {
              Name: TASK_NAME,
              Driver: o.driver,
              Config: m.driverConfig,
              KillSignal: 'SIGTERM',
              KillTimeout: o.killTimeoutMs * 1_000_000,
              DispatchPayload: { File: PAYLOAD_FILE },
              Resources: { CPU: m.cpuMhz, MemoryMB: m.memoryMb },
            },
          ],
        },
      ],
    },
  };
}

/** The same job as a Nomad job file (HCL). */
export function jobHcl(o: JobFileOptions): string {
  const m = model(o);
  // raw_exec's args carry ${NOMAD_TASK_DIR}, which Nomad interpolates: written unescaped
  const config = Object.entries(m.driverConfig).map(([k, v]): [string, HclValue] => [k, Array.isArray(v) ? { raw: v } : v]);
  const task: HclBlock = {
    type: 'task',
    labels: [TASK_NAME],
    attributes: [
      ['driver', o.driver],
      ['kill_signal', 'SIGTERM'],
      ['kill_timeout', m.killTimeout],
    ],
    blocks: [
      { type: 'dispatch_payload', attributes: [['file', PAYLOAD_FILE]] },
      { type: 'config', attributes: config },
      { type: 'resources', attributes: [['cpu', m.cpuMhz], ['memory', m.memoryMb]] },
    ],
  };
  const text = renderHcl([
    {
      type: 'job',
      labels: [m.id],
      comment: `Deckhand jobs of resource class ${o.resourceClass}: ${m.cpuMhz} MHz and ${m.memoryMb} MB each (the class and the agent's own share).\nRendered by deckhand nomad job; dispatched by deckhand nomad dispatch (docs/nomad.md).`,
      attributes: [
        ['type', 'batch'],
        ['datacenters', o.datacenters],
      ],
      blocks: [
        { type: 'meta', attributes: [['deckhand_resource_class', o.resourceClass]] },
        { type: 'parameterized', attributes: [['payload', 'required'], ['meta_required', META_REQUIRED], ['meta_optional', META_OPTIONAL]] },
        { type: 'constraint', attributes: [['attribute', { raw: '${node.class}' }], ['value', o.nodeClass]] },
        {
          type: 'group',
          labels: [GROUP_NAME],
          attributes: [['count', 1]],
          blocks: [
            { type: 'restart', comment: 'a job run is never repeated behind the dispatcher\'s back', attributes: [['attempts', 0], ['mode', 'fail']] },
            { type: 'reschedule', attributes: [['attempts', 0], ['unlimited', false]] },
            { type: 'network', blocks: [{ type: 'port', labels: [SSH_PORT_LABEL] }] },
            task,
          ],
        },
      ],
    },
  ]);
  return `${text}\n`;
}
