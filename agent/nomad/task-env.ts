/**
 * What a Nomad task's environment tells the agent: where its task directory is (the dispatch
 * payload is written there), which allocation and job it is, the resources Nomad reserved for it,
 * and the job's meta. Pure functions over an environment the caller passes (`process.env` in the
 * CLI), so that tests can reproduce one exactly.
 *
 * Facts relied on (Nomad's client, client/taskenv/env.go, and its runtime environment docs,
 * https://developer.hashicorp.com/nomad/docs/runtime/environment):
 * - each variable is set only when it has a value: NOMAD_CPU_CORES only when the task asked for
 *   cores, NOMAD_MEMORY_MAX_LIMIT only with memory oversubscription;
 * - every meta key (job, group and task meta merged, dispatch meta included) is set twice,
 *   as NOMAD_META_<key> and NOMAD_META_<KEY upper-cased>; characters other than [A-Za-z0-9_.]
 *   in a key become `_`;
 * - a dispatched job's optional meta keys that the dispatch did not give are set to "";
 * - a dispatched job's ID is `<parent ID>/dispatch-<unix time>-<8 hex>`, and NOMAD_JOB_PARENT_ID
 *   is the parameterized job's ID.
 */
import { UsageError } from '../errors.js';

export interface NomadTask {
  /** NOMAD_TASK_DIR: the task's local/ directory, where dispatch_payload writes */
  taskDir?: string;
  /** NOMAD_ALLOC_DIR: the allocation's shared alloc/ directory */
  allocDir?: string;
  /** NOMAD_SECRETS_DIR: the task's secrets/ directory (templates put tokens there) */
  secretsDir?: string;
  /** NOMAD_ALLOC_ID */
  allocId?: string;
  /** NOMAD_ALLOC_NAME: `<job>.<group>[<index>]` */
  allocName?: string;
  /** NOMAD_ALLOC_INDEX */
  allocIndex?: number;
  /** NOMAD_JOB_ID: for a dispatched job, `<parent>/dispatch-<time>-<hex>` */
  jobId?: string;
  /** NOMAD_JOB_NAME */
  jobName?: string;
  /** NOMAD_JOB_PARENT_ID: the parameterized job a dispatched job was made from */
  parentJobId?: string;
  /** NOMAD_TASK_NAME */
  taskName?: string;
  /** NOMAD_GROUP_NAME */
  group?: string;
  /** NOMAD_NAMESPACE */
  namespace?: string;
  /** NOMAD_REGION */
  region?: string;
  /** NOMAD_DC */
  datacenter?: string;
  /** NOMAD_CPU_LIMIT: the task's CPU share, in MHz */
  cpuLimit?: number;
  /** NOMAD_CPU_CORES: the reserved cores in cpuset notation (`0-2,7`), when the task asked for cores */
  cpuCores?: string;
  /** NOMAD_MEMORY_LIMIT, in MB */
  memoryLimit?: number;
  /** NOMAD_MEMORY_MAX_LIMIT, in MB, with memory oversubscription */
  memoryMaxLimit?: number;
  /** every NOMAD_META_<key> variable by <key>, both case forms as Nomad sets them */
  meta: Record<string, string>;
}

/** This job's slice of a parallel job, from meta: 0-based index below total. */
export interface NodeSlice {
  index: number;
  total: number;
}

const META_PREFIX = 'NOMAD_META_';

/** The task as its environment describes it; fields Nomad did not set are absent. */
export function readNomadTask(env: Record<string, string | undefined>): NomadTask {
  const text = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value === '' ? undefined : value;
  };
  const whole = (name: string): number | undefined => {
    const value = text(name);
    if (value === undefined) return undefined;
    return parseWhole(value, name, 'a whole number');
  };
  const meta: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (name.startsWith(META_PREFIX) && name.length > META_PREFIX.length && value !== undefined) meta[name.slice(META_PREFIX.length)] = value;
  }
  const task: NomadTask = {
    taskDir: text('NOMAD_TASK_DIR'),
    allocDir: text('NOMAD_ALLOC_DIR'),
    secretsDir: text('NOMAD_SECRETS_DIR'),
    allocId: text('NOMAD_ALLOC_ID'),
    allocName: text('NOMAD_ALLOC_NAME'),
    allocIndex: whole('NOMAD_ALLOC_INDEX'),
    jobId: text('NOMAD_JOB_ID'),
    jobName: text('NOMAD_JOB_NAME'),
    parentJobId: text('NOMAD_JOB_PARENT_ID'),
    taskName: text('NOMAD_TASK_NAME'),
    group: text('NOMAD_GROUP_NAME'),
    namespace: text('NOMAD_NAMESPACE'),
    region: text('NOMAD_REGION'),
    datacenter: text('NOMAD_DC'),
    cpuLimit: whole('NOMAD_CPU_LIMIT'),
    cpuCores: text('NOMAD_CPU_CORES'),
    memoryLimit: whole('NOMAD_MEMORY_LIMIT'),
    memoryMaxLimit: whole('NOMAD_MEMORY_MAX_LIMIT'),
    meta,
  };
  for (const key of Object.keys(task) as (keyof NomadTask)[]) if (task[key] === undefined) delete task[key];
  return task;
}

/** Whether the environment is a Nomad task's (an allocation ID is always set in one). */
export function isNomadTask(task: NomadTask): boolean {
  return task.allocId !== undefined;
}

/**
 * A meta value by key, as the job spelled it or upper-cased (Nomad sets both; a variable set by
 * hand may have only one). An empty value (an optional dispatch meta key not given) is absent.
 * Returns the variable's name too, for messages. Throws if the two spellings disagree.
 */
export function readMeta(task: NomadTask, key: string): { name: string; value: string } | undefined {
  const cleaned = key.replace(/[^A-Za-z0-9_.]/g, '_');
  const forms = [...new Set([cleaned, cleaned.toUpperCase()])];
  const found = forms.filter((k) => task.meta[k] !== undefined && task.meta[k] !== '').map((k) => ({ name: META_PREFIX + k, value: task.meta[k] }));
  if (found.length === 2 && found[0].value !== found[1].value) {
    throw new UsageError(`${found[0].name} is ${JSON.stringify(found[0].value)} but ${found[1].name} is ${JSON.stringify(found[1].value)}: set meta ${key} once`);
  }
  return found[0];
}

/**
 * The node index and total a job's meta gives (`node_index`, `node_total`): how one Nomad job per
 * parallel node tells the agent its slice. Undefined when neither is set; both or none.
 */
export function readNodeSlice(task: NomadTask): NodeSlice | undefined {
  const index = readMeta(task, 'node_index');
  const total = readMeta(task, 'node_total');
  if (index === undefined && total === undefined) return undefined;
  if (index === undefined) throw new UsageError(`${total!.name} is set but NOMAD_META_node_index is not: set both meta node_index and node_total, or neither`);
  if (total === undefined) throw new UsageError(`${index.name} is set but NOMAD_META_node_total is not: set both meta node_index and node_total, or neither`);
  const n = parseWhole(total.value, total.name, 'a whole number of parallel nodes, 1 or more');
  if (n < 1) throw new UsageError(`${total.name} is ${JSON.stringify(total.value)}: it must be a whole number of parallel nodes, 1 or more`);
  const i = parseWhole(index.value, index.name, `a whole number below ${total.name} (${n}), counted from 0`);
  if (i >= n) throw new UsageError(`${index.name} is ${i} but ${total.name} is ${n}: the index counts from 0, so it must be below the total`);
  return { index: i, total: n };
}

/**
 * What is worth recording about the task in the job's log, flat: ids, placement, limits, and the
 * meta keys once each (the upper-cased copy Nomad adds left out; empty optional keys left out).
 */
export function describeNomadTask(task: NomadTask): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  const put = (name: string, value: string | number | undefined) => {
    if (value !== undefined) out[name] = value;
  };
  put('nomad.allocId', task.allocId);
  put('nomad.allocName', task.allocName);
  put('nomad.allocIndex', task.allocIndex);
  put('nomad.jobId', task.jobId);
  put('nomad.jobName', task.jobName);
  put('nomad.parentJobId', task.parentJobId);
  put('nomad.group', task.group);
  put('nomad.task', task.taskName);
  put('nomad.namespace', task.namespace);
  put('nomad.region', task.region);
  put('nomad.datacenter', task.datacenter);
  put('nomad.cpuMhz', task.cpuLimit);
  put('nomad.cpuCores', task.cpuCores);
  put('nomad.memoryMb', task.memoryLimit);
  put('nomad.memoryMaxMb', task.memoryMaxLimit);
  for (const key of Object.keys(task.meta).sort()) {
    const value = task.meta[key];
    if (value === '') continue;
    const upper = key.toUpperCase();
    // the upper-cased twin of a key the job spelled otherwise
    if (key === upper && Object.keys(task.meta).some((k) => k !== key && k.toUpperCase() === upper && task.meta[k] === value)) continue;
    out[`nomad.meta.${key}`] = value;
  }
  return out;
}

function parseWhole(value: string, name: string, what: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new UsageError(`${name} is ${JSON.stringify(value)}: it must be ${what}`);
  return Number(value);
}
