/**
 * One processed 2.0 job → a JobSpec: executor, resources, environment and every step typed with
 * its defaults filled in (CircleCI's defaults, per the configuration reference).
 */
import {
  JOBSPEC_VERSION,
  type ContainerImageSpec,
  type ExecutorSpec,
  type JobSpec,
  type Step,
  type StepCondition,
  type WorkflowIdentity,
} from '../jobspec/jobspec.js';
import type { CompiledConfig, CompiledJob } from './compile.js';
import { configError, type SourcePos } from './diagnostics.js';
import { yaml11Boolean } from './parameters.js';
import { resourcesFor } from './resource-classes.js';
import { describeType, isMapValue, posOf, valuePos, type Value, type ValueMap } from './source.js';
import type { WorkflowJob } from './workflows.js';

const DEFAULT_NO_OUTPUT_TIMEOUT = 600;

export function toJobSpec(compiled: CompiledConfig, job: CompiledJob, wfJob?: WorkflowJob, workflowName?: string): JobSpec {
  const body = job.body;
  const pos = job.pos;
  const type = jobType(body.type, pos);
  // a no-op or approval job needs no machine unless it names one
  const executor: ExecutorSpec = (type === 'no-op' || type === 'approval') && !('docker' in body || 'machine' in body || 'macos' in body) ? { kind: 'none' } : executorOf(body, pos);
  const workflow: WorkflowIdentity | undefined = workflowName !== undefined && wfJob ? { name: workflowName, requires: wfJob.requires } : undefined;
  const spec: JobSpec = {
    schemaVersion: JOBSPEC_VERSION,
    job: { name: wfJob?.name ?? job.key, definition: job.definition, type },
    executor,
    resources: executor.kind === 'none' ? { class: 'none', cpus: 0, memoryMb: 0 } : resourcesFor(executor.kind, optString(body.resource_class, 'resource_class', pos), valuePos(body, 'resource_class') ?? pos),
    workingDirectory: optString(body.working_directory, 'working_directory', pos) ?? '~/project',
    environment: envMap(body.environment, valuePos(body, 'environment') ?? pos),
    parallelism: parallelism(body.parallelism, valuePos(body, 'parallelism') ?? pos),
    steps: (Array.isArray(body.steps) ? body.steps : []).map((s, i) => toStep(s, valuePos(body.steps, i) ?? pos)),
    contexts: wfJob?.contexts ?? [],
    pipeline: compiled.pipeline,
  };
  if (workflow) spec.workflow = workflow;
  const shell = optString(body.shell, 'shell', pos);
  if (shell !== undefined) spec.shell = shell;
  const cacheDays = cacheRetentionDays(body.retention, valuePos(body, 'retention') ?? pos);
  if (cacheDays !== undefined) spec.cacheRetentionDays = cacheDays;
  return spec;
}

function jobType(v: Value | undefined, pos?: SourcePos): JobSpec['job']['type'] {
  if (v === undefined || v === null) return 'build';
  if (v === 'build' || v === 'release' || v === 'no-op' || v === 'approval') return v;
  throw configError(pos, `job type ${JSON.stringify(v)} is not one of build, release, no-op, approval`);
}

function executorOf(body: ValueMap, pos?: SourcePos): ExecutorSpec {
  if (Array.isArray(body.docker)) {
    if (body.docker.length === 0) throw configError(valuePos(body, 'docker') ?? pos, '"docker" needs at least one image (the first is where steps run)');
    return { kind: 'docker', containers: body.docker.map((d, i) => containerOf(d, valuePos(body.docker, i) ?? pos)) };
  }
  if (body.machine !== undefined) {
    const m = body.machine;
    if (m === true) return { kind: 'machine', dockerLayerCaching: false };
    if (isMapValue(m)) {
      const spec: ExecutorSpec = { kind: 'machine', dockerLayerCaching: m.docker_layer_caching === true };
      if (typeof m.image === 'string') spec.image = m.image;
      return spec;
    }
    throw configError(valuePos(body, 'machine') ?? pos, '"machine" must be true or a map with "image"');
  }
  if (isMapValue(body.macos)) return { kind: 'macos', xcode: String(body.macos.xcode ?? '') };
  throw configError(pos, 'the job has no executor (docker, machine or macos)');
}

function containerOf(d: Value, pos?: SourcePos): ContainerImageSpec {
  if (!isMapValue(d) || typeof d.image !== 'string' || d.image === '') {
    throw configError(posOf(d) ?? pos, 'each docker entry needs "image", e.g. - image: cimg/base:current');
  }
  const c: ContainerImageSpec = { image: d.image, environment: envMap(d.environment, valuePos(d, 'environment') ?? pos) };
  if (typeof d.name === 'string') c.name = d.name;
  if (d.entrypoint !== undefined) c.entrypoint = argv(d.entrypoint, 'entrypoint', valuePos(d, 'entrypoint') ?? pos);
  if (d.command !== undefined) c.command = argv(d.command, 'command', valuePos(d, 'command') ?? pos);
  if (d.user !== undefined) c.user = String(d.user);
  if (isMapValue(d.auth)) c.auth = { username: String(d.auth.username ?? ''), password: String(d.auth.password ?? '') };
  if (isMapValue(d.aws_auth)) {
    const a = d.aws_auth;
    c.awsAuth = {};
    if (a.aws_access_key_id !== undefined) c.awsAuth.accessKeyId = String(a.aws_access_key_id);
    if (a.aws_secret_access_key !== undefined) c.awsAuth.secretAccessKey = String(a.aws_secret_access_key);
    if (a.oidc_role_arn !== undefined) c.awsAuth.oidcRoleArn = String(a.oidc_role_arn);
  }
  return c;
}

/** A list is taken as is; a string is split into words, honouring simple quotes. */
function argv(v: Value, key: string, pos?: SourcePos): string[] {
  if (Array.isArray(v)) return v.map(String);
  if (typeof v === 'string') return v.match(/"[^"]*"|'[^']*'|\S+/g)?.map((w) => (/^["'].*["']$/.test(w) ? w.slice(1, -1) : w)) ?? [];
  throw configError(pos, `"${key}" must be a string or a list of strings, got ${describeType(v)}`);
}

function envMap(v: Value | undefined, pos?: SourcePos): Record<string, string> {
  const out: Record<string, string> = {};
  if (v === undefined || v === null) return out;
  // CircleCI also accepts a list of `KEY=value` strings or one-key maps, and a `KEY=value` string
  if (Array.isArray(v) || typeof v === 'string') {
    const items = typeof v === 'string' ? v.split('\n').filter((l) => l.trim()) : v;
    for (const item of items) {
      if (isMapValue(item)) {
        Object.assign(out, envMap(item, posOf(item) ?? pos));
        continue;
      }
      const s = String(item);
      const eq = s.indexOf('=');
      if (eq <= 0) throw configError(pos, `environment entry "${s}" must be KEY=value or KEY: value`);
      out[s.slice(0, eq).trim()] = s.slice(eq + 1);
    }
    return out;
  }
  if (!isMapValue(v)) throw configError(pos, `"environment" must be a map of NAME: value, got ${describeType(v)}`);
  for (const [k, x] of Object.entries(v)) {
    if (isMapValue(x) || Array.isArray(x)) throw configError(valuePos(v, k) ?? pos, `environment variable ${k} must be a string, got ${describeType(x)}`);
    out[k] = x === null ? '' : String(x);
  }
  return out;
}

function parallelism(v: Value | undefined, pos?: SourcePos): number {
  if (v === undefined || v === null) return 1;
  const n = typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) throw configError(pos, `"parallelism" must be a whole number of at least 1, got ${JSON.stringify(v)}`);
  return n;
}

/** `retention: {caches: 7d}` → 7; the schema has checked the form unless a parameter filled it in. */
function cacheRetentionDays(v: Value | undefined, pos?: SourcePos): number | undefined {
  if (!isMapValue(v) || v.caches === undefined || v.caches === null) return undefined;
  const m = typeof v.caches === 'string' ? /^([1-9]|[12][0-9]|30)d$/.exec(v.caches.trim()) : null;
  if (!m) throw configError(valuePos(v, 'caches') ?? pos, `"retention.caches" must be a number of days from "1d" to "30d", got ${JSON.stringify(v.caches)}`);
  return Number(m[1]);
}

function optString(v: Value | undefined, key: string, pos?: SourcePos): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  throw configError(pos, `"${key}" must be a string, got ${describeType(v)}`);
}

/** Go-style durations as CircleCI takes them: `10m`, `1.25h`, `90s`, `1h30m`; a bare number is seconds. */
export function parseDuration(v: Value, what: string, pos?: SourcePos): number {
  if (typeof v === 'number' && v >= 0) return v;
  if (typeof v === 'string') {
    const s = v.trim();
    if (/^\d+(\.\d+)?$/.test(s)) return Number(s);
    const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
    let total = 0;
    let m: RegExpExecArray | null;
    let consumed = 0;
    while ((m = re.exec(s)) !== null) {
      total += Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] as 'ms' | 's' | 'm' | 'h'];
      consumed = re.lastIndex;
    }
    if (consumed === s.length && s.length > 0) return total;
  }
  throw configError(pos, `${what} must be a duration like 10m, 1.25h or 90s, got ${JSON.stringify(v)}`);
}

function bool(v: Value | undefined, what: string, pos?: SourcePos): boolean {
  if (v === undefined || v === null) return false;
  const b = yaml11Boolean(v);
  if (b === undefined) throw configError(pos, `${what} must be true or false, got ${JSON.stringify(v)}`);
  return b;
}

function condition(v: Value | undefined, dflt: StepCondition, pos?: SourcePos): StepCondition {
  if (v === undefined || v === null) return dflt;
  if (v === 'on_success' || v === 'on_fail' || v === 'always') return v;
  throw configError(pos, `"when" must be on_success, on_fail or always, got ${JSON.stringify(v)}`);
}

function strList(v: Value | undefined, what: string, pos?: SourcePos): string[] {
  if (v === undefined || v === null) return [];
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.map(String);
  throw configError(pos, `${what} must be a list of strings, got ${describeType(v)}`);
}

function str(v: Value | undefined, what: string, pos?: SourcePos): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw configError(pos, `${what} must be a string, got ${describeType(v)}`);
}

/** Canonical step `{type: args}` → typed Step with defaults. */
export function toStep(step: Value, pos?: SourcePos): Step {
  if (!isMapValue(step)) throw configError(pos, 'internal: a processed step must be a map');
  const type = Object.keys(step)[0];
  const a = (step[type] ?? {}) as ValueMap;
  const at = (k: string): SourcePos | undefined => valuePos(a, k) ?? pos;
  const name = (dflt: string): string => (a.name === undefined || a.name === null ? dflt : str(a.name, `"name" of ${type}`, at('name')));
  switch (type) {
    case 'run': {
      const command = str(a.command, '"command" of run', at('command'));
      const s: Step = {
        type: 'run',
        name: name(command),
        command,
        environment: envMap(a.environment, at('environment')),
        background: bool(a.background, '"background" of run', at('background')),
        noOutputTimeoutSeconds: a.no_output_timeout === undefined ? DEFAULT_NO_OUTPUT_TIMEOUT : parseDuration(a.no_output_timeout, '"no_output_timeout"', at('no_output_timeout')),
        when: condition(a.when, 'on_success', at('when')),
      };
      if (a.shell !== undefined) s.shell = str(a.shell, '"shell" of run', at('shell'));
      if (a.working_directory !== undefined) s.workingDirectory = str(a.working_directory, '"working_directory" of run', at('working_directory'));
      if (a.max_auto_reruns !== undefined) {
        const n = Number(a.max_auto_reruns);
        if (!Number.isInteger(n) || n < 1 || n > 5) throw configError(at('max_auto_reruns'), `"max_auto_reruns" must be 1 to 5, got ${JSON.stringify(a.max_auto_reruns)}`);
        s.maxAutoReruns = n;
      }
      if (a.auto_rerun_delay !== undefined) {
        const d = parseDuration(a.auto_rerun_delay, '"auto_rerun_delay"', at('auto_rerun_delay'));
        if (d > 600) throw configError(at('auto_rerun_delay'), `"auto_rerun_delay" may be at most 10m, got ${JSON.stringify(a.auto_rerun_delay)}`);
        if (s.maxAutoReruns === undefined) throw configError(at('auto_rerun_delay'), '"auto_rerun_delay" needs "max_auto_reruns"');
        s.autoRerunDelaySeconds = d;
      }
      return s;
    }
    case 'checkout': {
      const method = a.method === undefined ? 'blobless' : a.method;
      if (method !== 'blobless' && method !== 'full') throw configError(at('method'), `checkout "method" must be blobless or full, got ${JSON.stringify(method)}`);
      const s: Step = { type: 'checkout', name: name('Checkout code'), method, when: condition(a.when, 'on_success', at('when')) };
      if (a.path !== undefined) s.path = str(a.path, '"path" of checkout', at('path'));
      return s;
    }
    case 'setup_remote_docker': {
      const s: Step = { type: 'setup_remote_docker', name: name('Setup a remote Docker engine'), dockerLayerCaching: bool(a.docker_layer_caching, '"docker_layer_caching"', at('docker_layer_caching')), when: condition(a.when, 'on_success', at('when')) };
      if (a.version !== undefined) s.version = str(a.version, '"version" of setup_remote_docker', at('version'));
      return s;
    }
    case 'save_cache':
      return { type: 'save_cache', name: name('Saving Cache'), key: str(a.key, '"key" of save_cache', at('key')), paths: strList(a.paths, '"paths" of save_cache', at('paths')), when: condition(a.when, 'on_success', at('when')) };
    case 'restore_cache': {
      const keys = [...(a.key !== undefined ? [str(a.key, '"key" of restore_cache', at('key'))] : []), ...strList(a.keys, '"keys" of restore_cache', at('keys'))];
      return { type: 'restore_cache', name: name('Restoring Cache'), keys, when: condition(a.when, 'on_success', at('when')) };
    }
    case 'store_artifacts': {
      // CircleCI uploads artifacts and test results even after a failed step
      const s: Step = { type: 'store_artifacts', name: name('Uploading artifacts'), path: str(a.path, '"path" of store_artifacts', at('path')), when: condition(a.when, 'always', at('when')) };
      if (a.destination !== undefined) s.destination = str(a.destination, '"destination" of store_artifacts', at('destination'));
      return s;
    }
    case 'store_test_results':
      return { type: 'store_test_results', name: name('Uploading test results'), path: str(a.path, '"path" of store_test_results', at('path')), when: condition(a.when, 'always', at('when')) };
    case 'persist_to_workspace':
      return { type: 'persist_to_workspace', name: name('Persisting to Workspace'), root: str(a.root, '"root" of persist_to_workspace', at('root')), paths: strList(a.paths, '"paths" of persist_to_workspace', at('paths')), when: condition(a.when, 'on_success', at('when')) };
    case 'attach_workspace':
      return { type: 'attach_workspace', name: name('Attaching Workspace'), at: str(a.at, '"at" of attach_workspace', at('at')), when: condition(a.when, 'on_success', at('when')) };
    case 'add_ssh_keys':
      return { type: 'add_ssh_keys', name: name('Add SSH Keys'), fingerprints: strList(a.fingerprints, '"fingerprints" of add_ssh_keys', at('fingerprints')), when: condition(a.when, 'on_success', at('when')) };
    default:
      throw configError(pos, `step "${type}" runs only on CircleCI's macOS executors and cannot be part of a JobSpec`);
  }
}
