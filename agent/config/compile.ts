/**
 * The compiler's entry point: config.yml → validated → scopes (orbs loaded) → pipeline values →
 * workflows expanded → every workflow job instantiated. The result holds processed 2.0 jobs and
 * workflows; `process-output.ts` renders it as YAML and `to-jobspec.ts` turns one job into a JobSpec.
 */
import { ConfigError, configError, type Diagnostic, type SourcePos } from './diagnostics.js';
import { instantiateJob, type ProcessedJob } from './jobs.js';
import { OrbRegistry } from './orb-registry.js';
import { bindArguments, parseParameterDefs } from './parameters.js';
import { makePipelineValues, type PipelineOptions } from './pipeline.js';
import { buildScope, lookup, resolve, type Scope } from './scope.js';
import { validateConfigShape } from './schema/validate.js';
import { copyPos, isMapValue, keyPos, loadYaml, loadYamlFile, posOf, valuePos, type Value, type ValueMap } from './source.js';
import { interpolate } from './interpolate.js';
import { expandWorkflow, workflowRuns, type Workflow, type WorkflowJob } from './workflows.js';
import type { PipelineValues } from '../jobspec/jobspec.js';

export interface CompileOptions extends PipelineOptions {
  /** the orb registry (default: under DECKHAND_HOME) */
  registry?: OrbRegistry;
}

export interface CompiledJob extends ProcessedJob {
  /** the key under `jobs:` of the processed config (unique across workflows) */
  key: string;
}

export interface CompiledWorkflow extends Workflow {
  /** processed job key per workflow job name (absent for approval jobs) */
  keys: Map<string, string>;
}

export interface CompiledConfig {
  file: string;
  version: string;
  setup: boolean;
  pipeline: PipelineValues;
  jobs: Map<string, CompiledJob>;
  workflows: CompiledWorkflow[];
  /** workflows whose `when`/`unless` ruled them out */
  skippedWorkflows: string[];
  /** the config's own scope, to compile a job that no workflow uses */
  root: Scope;
}

const V21_ONLY = ['orbs', 'commands', 'executors', 'parameters'];

export function compileFile(path: string, opts: CompileOptions = {}): CompiledConfig {
  return compileSource(loadYamlFile(path), path, opts);
}

export function compileText(text: string, file: string, opts: CompileOptions = {}): CompiledConfig {
  return compileSource(loadYaml(text, { file }), file, opts);
}

/** Structural problems only (no orbs loaded), all of them: what `config validate` reports first. */
export function checkShape(root: Value, file: string): Diagnostic[] {
  if (!isMapValue(root)) return [{ pos: { file, line: 1, col: 1 }, message: 'a config must be a YAML map with version, jobs and workflows' }];
  return validateConfigShape(root, file);
}

export function compileSource(root: Value, file: string, opts: CompileOptions = {}): CompiledConfig {
  const problems = checkShape(root, file);
  if (problems.length > 0) throw new ConfigError(problems);
  const config = root as ValueMap;
  const version = String(config.version);
  if (version !== '2.1') {
    for (const k of V21_ONLY) {
      if (k in config) throw configError(keyPos(config, k), `"${k}" needs version 2.1; this config is version ${version} (change "version: ${version}" to "version: 2.1")`);
    }
  }
  const pipeline = makePipelineValues({ ...opts, parameters: pipelineParameters(config, opts.parameters ?? {}, file) });
  const pipelineMap = pipeline as unknown as ValueMap;
  // orb references may be written with pipeline values, e.g. circleci/android@<< pipeline.parameters.v >>
  const withOrbs = interpolateOrbRefs(config, pipelineMap);
  const registry = opts.registry ?? new OrbRegistry();
  const scope = buildScope(withOrbs, 'the config', '', { registry, cache: new Map() });

  const jobs = new Map<string, CompiledJob>();
  const workflows: CompiledWorkflow[] = [];
  const skipped: string[] = [];
  const isJobDefined = (ref: string): boolean => lookup(scope, 'jobs', ref) !== undefined;
  const bodies = new Map<string, string>();

  for (const [name, wfRaw] of workflowEntries(config)) {
    if (!isMapValue(wfRaw)) throw configError(valuePos(config.workflows, name), `workflow "${name}" must be a map with "jobs:"`);
    if (!workflowRuns(wfRaw, { pipeline: pipelineMap })) {
      skipped.push(name);
      continue;
    }
    const wf = expandWorkflow(name, wfRaw, pipelineMap, isJobDefined);
    const keys = new Map<string, string>();
    for (const wj of wf.jobs) {
      if (wj.type === 'approval') continue;
      const job = instantiateJob(scope, useOf(wj), pipelineMap);
      const serialized = JSON.stringify(job.body);
      // one processed job per distinct body; a same-named job with other arguments in another workflow gets a suffix
      let key = wj.name;
      for (let n = 2; bodies.has(key) && bodies.get(key) !== serialized; n++) key = `${wj.name}-${n}`;
      bodies.set(key, serialized);
      jobs.set(key, { ...job, key });
      keys.set(wj.name, key);
    }
    workflows.push({ ...wf, keys });
  }
  return { file, version, setup: config.setup === true, pipeline, jobs, workflows, skippedWorkflows: skipped, root: scope };
}

/** Interpolates the `ns/name@version` strings of `orbs:` (inline orbs keep their own `<< >>`). */
function interpolateOrbRefs(config: ValueMap, pipeline: ValueMap): ValueMap {
  const orbs = config.orbs;
  if (!isMapValue(orbs)) return config;
  const refs: ValueMap = {};
  for (const [alias, spec] of Object.entries(orbs)) refs[alias] = typeof spec === 'string' ? interpolate(spec, { pipeline }, valuePos(orbs, alias)) : spec;
  copyPos(orbs, refs);
  const out: ValueMap = { ...config, orbs: refs };
  copyPos(config, out);
  return out;
}

function useOf(wj: WorkflowJob) {
  return { ref: wj.ref, args: wj.args, argsMap: wj.argsMap, pos: wj.pos, preSteps: wj.preSteps, postSteps: wj.postSteps };
}

/** Workflows in order; a 2.0 config without workflows runs its `build` job, as on CircleCI. */
function workflowEntries(config: ValueMap): [string, Value][] {
  const wfs = config.workflows;
  if (isMapValue(wfs)) return Object.entries(wfs).filter(([k]) => k !== 'version');
  if (isMapValue(config.jobs) && 'build' in config.jobs) {
    const implicit: ValueMap = { jobs: ['build'] };
    return [['workflow', implicit]];
  }
  return [];
}

function pipelineParameters(config: ValueMap, given: Record<string, string | number | boolean>, file: string): Record<string, string | number | boolean> {
  const defs = parseParameterDefs(config.parameters, 'the pipeline', ['string', 'boolean', 'integer', 'enum']);
  for (const d of defs.values()) {
    if (!('default' in d)) throw configError(d.pos, `pipeline parameter "${d.name}" needs a default (CircleCI requires one for every pipeline parameter)`);
  }
  const where: SourcePos = posOf(config.parameters) ?? { file, line: 1, col: 1 };
  const bound = bindArguments(defs, given, { owner: 'the pipeline (parameters:)', pos: where });
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of bound) if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = v;
  return out;
}

/** A job's processed form on its own: a workflow job by name, else a job definition with default arguments. */
export function findJob(compiled: CompiledConfig, name: string, workflow?: string): { job: CompiledJob; workflow?: CompiledWorkflow; wfJob?: WorkflowJob } {
  for (const wf of compiled.workflows) {
    if (workflow !== undefined && wf.name !== workflow) continue;
    const key = wf.keys.get(name);
    if (key !== undefined) return { job: compiled.jobs.get(key)!, workflow: wf, wfJob: wf.jobs.find((j) => j.name === name) };
  }
  if (workflow !== undefined && !compiled.workflows.some((w) => w.name === workflow)) {
    const all = [...compiled.workflows.map((w) => w.name), ...compiled.skippedWorkflows];
    throw configError(undefined, `no workflow "${workflow}" to run${all.length ? `; workflows: ${all.join(', ')}` : ''}`);
  }
  const pipeline = compiled.pipeline as unknown as ValueMap;
  try {
    const job = instantiateJob(compiled.root, { ref: name, args: {} }, pipeline);
    return { job: { ...job, key: name } };
  } catch (err) {
    if (err instanceof ConfigError && lookup(compiled.root, 'jobs', name) === undefined) {
      const inWorkflows = compiled.workflows.flatMap((w) => w.jobs.map((j) => j.name));
      resolve(compiled.root, 'jobs', name, undefined, inWorkflows);
    }
    throw err;
  }
}
