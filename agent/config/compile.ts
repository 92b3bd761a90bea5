/**
 * The compiler's entry point: config.yml → validated → scopes (orbs loaded) → pipeline values →
 * workflows expanded → every workflow job instantiated. The result holds processed 2.0 jobs and
 * workflows; `process-output.ts` renders it as YAML and `to-jobspec.ts` turns one job into a JobSpec.
 */
import { ConfigError, configError, isWarning, sortUnique, type Diagnostic, type SourcePos } from './diagnostics.js';
import { findIncludes, unresolvedInclude } from './includes.js';
import { instantiateJob, type ProcessedJob } from './jobs.js';
import { ExpansionBudget, LimitError } from './limits.js';
import { OrbRegistry, type OrbRef } from './orb-registry.js';
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
  /** why orbs could not be fetched, by reference as written (orb-fetch.ts): told with the missing orb */
  orbFetchProblems?: ReadonlyMap<string, string>;
  /**
   * Go on past a problem to find the others (every missing orb, every workflow and job), then fail
   * with all of them: what `config validate` wants. Otherwise the first problem fails the compile.
   */
  collectProblems?: boolean;
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
  /** what CircleCI accepts and ignores or quietly mends, positioned; ordered by position */
  warnings: Diagnostic[];
  /** how much the compile expanded, to compare with LIMITS (limits.ts) */
  expanded: ExpansionBudget['used'];
}

const V21_ONLY = ['orbs', 'commands', 'executors', 'parameters'];

export function compileFile(path: string, opts: CompileOptions = {}): CompiledConfig {
  return compileSource(loadYamlFile(path), path, opts);
}

export function compileText(text: string, file: string, opts: CompileOptions = {}): CompiledConfig {
  return compileSource(loadYaml(text, { file }), file, opts);
}

/** Structural problems and warnings only (no orbs loaded), all of them: what `config validate` reports first. */
export function checkShape(root: Value, file: string): Diagnostic[] {
  if (!isMapValue(root)) return [{ pos: { file, line: 1, col: 1 }, message: 'a config must be a YAML map with version, jobs and workflows' }];
  return validateConfigShape(root, file);
}

/** The config with its pipeline values bound and orb references interpolated: where compiling starts. */
export interface PreparedConfig {
  config: ValueMap;
  version: string;
  pipeline: PipelineValues;
  /** the config with `orbs:` references written out (`circleci/android@<< pipeline.parameters.v >>`) */
  withOrbs: ValueMap;
}

/**
 * Checks the config's shape (throwing every structural problem, unless `tolerateShape`: then only
 * a config that is not a map fails) and binds its pipeline values.
 */
export function prepareConfig(root: Value, file: string, opts: CompileOptions = {}, tolerateShape = false): PreparedConfig & { warnings: Diagnostic[] } {
  const shape = checkShape(root, file);
  const warnings = shape.filter(isWarning);
  const problems = shape.filter((d) => !isWarning(d));
  if (problems.length > 0 && (!tolerateShape || !isMapValue(root))) throw withWarnings(new ConfigError(problems), warnings, file);
  const config = root as ValueMap;
  const version = String(config.version);
  if (version !== '2.1') {
    for (const k of V21_ONLY) {
      if (k in config) throw configError(keyPos(config, k), `"${k}" needs version 2.1; this config is version ${version} (change "version: ${version}" to "version: 2.1")`);
    }
  }
  const pipeline = makePipelineValues({ ...opts, parameters: pipelineParameters(config, opts.parameters ?? {}, file) });
  // orb references may be written with pipeline values, e.g. circleci/android@<< pipeline.parameters.v >>
  const withOrbs = interpolateOrbRefs(config, pipeline as unknown as ValueMap);
  return { config, version, pipeline, withOrbs, warnings };
}

/** The config's orbs as scopes, every orb that cannot be loaded reported to `unavailable` instead of failing. */
export function orbScopes(prepared: PreparedConfig, registry: OrbRegistry, unavailable: (ref: OrbRef, problem: ConfigError) => void, fetchProblems?: ReadonlyMap<string, string>): Scope {
  return buildScope(prepared.withOrbs, 'the config', '', { registry, cache: new Map(), unavailable, ...(fetchProblems ? { fetchProblems } : {}) });
}

export function compileSource(root: Value, file: string, opts: CompileOptions = {}): CompiledConfig {
  const prepared = prepareConfig(root, file, opts);
  const { config, version, pipeline, withOrbs } = prepared;
  const pipelineMap = pipeline as unknown as ValueMap;
  const warnings: Diagnostic[] = [...prepared.warnings];
  const warn = (d: Diagnostic): void => {
    warnings.push(d);
  };
  const problems: Diagnostic[] = [];
  const collect = opts.collectProblems === true;
  /** runs one part of the compile; with collectProblems a ConfigError is noted and the rest goes on */
  const attempt = <T>(fn: () => T): T | undefined => {
    if (!collect) return fn();
    try {
      return fn();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.diagnostics);
      // past a limit of the whole compile, going on would only cross it again
      if (err instanceof LimitError) throw withWarnings(new ConfigError(sortUnique(problems, file)), warnings, file);
      return undefined;
    }
  };

  // an include left unpacked is an error wherever it is, used or not
  for (const inc of findIncludes(config, posOf(config) ?? { file, line: 1, col: 1 })) attempt(() => { throw unresolvedInclude(inc.body, inc.pos); });
  const registry = opts.registry ?? new OrbRegistry();
  const scope = buildScope(withOrbs, 'the config', '', {
    registry,
    cache: new Map(),
    ...(opts.orbFetchProblems ? { fetchProblems: opts.orbFetchProblems } : {}),
    ...(collect ? { unavailable: (_ref: OrbRef, err: ConfigError) => void problems.push(...err.diagnostics) } : {}),
  });

  const jobs = new Map<string, CompiledJob>();
  const workflows: CompiledWorkflow[] = [];
  const skipped: string[] = [];
  const isJobDefined = (ref: string): boolean => lookup(scope, 'jobs', ref) !== undefined;
  /** per job name given to different bodies: the key each body got, by its text, and the next suffix */
  const clashes = new Map<string, { byText: Map<string, string>; next: number }>();
  const builtins = new Map<Value, ValueMap>();
  const budget = new ExpansionBudget();

  for (const [name, wfRaw] of workflowEntries(config)) {
    if (!isMapValue(wfRaw)) {
      attempt(() => { throw configError(valuePos(config.workflows, name), `workflow "${name}" must be a map with "jobs:"`); });
      continue;
    }
    const runs = attempt(() => workflowRuns(wfRaw, { pipeline: pipelineMap }));
    if (runs === undefined) continue;
    if (!runs) {
      skipped.push(name);
      continue;
    }
    const wf = attempt(() => expandWorkflow(name, wfRaw, pipelineMap, isJobDefined, { warn, budget, ...(collect ? { report: (err: ConfigError) => void problems.push(...err.diagnostics) } : {}) }));
    if (wf === undefined) continue;
    const keys = new Map<string, string>();
    for (const wj of wf.jobs) {
      if (wj.type === 'approval') continue;
      const job = attempt(() => instantiateJob(scope, useOf(wj), pipelineMap, { warn, builtins, budget, name: wj.name }));
      if (job === undefined) continue;
      // one processed job per distinct body; a same-named job with other arguments in another workflow gets a suffix
      let key = wj.name;
      if (jobs.has(key)) {
        // compared only on a clash of names (most jobs have a name of their own), by the text of
        // every body given that name so far, so that many workflows reusing a name stay linear
        const serialized = JSON.stringify(job.body);
        let clash = clashes.get(wj.name);
        if (!clash) {
          clash = { byText: new Map([[JSON.stringify(jobs.get(key)!.body), key]]), next: 2 };
          clashes.set(wj.name, clash);
        }
        const same = clash.byText.get(serialized);
        if (same !== undefined) key = same;
        else {
          while (jobs.has(`${wj.name}-${clash.next}`)) clash.next++;
          key = `${wj.name}-${clash.next++}`;
          clash.byText.set(serialized, key);
        }
      }
      jobs.set(key, { ...job, key });
      keys.set(wj.name, key);
    }
    workflows.push({ ...wf, keys });
  }
  if (problems.length > 0) throw withWarnings(new ConfigError(sortUnique(problems, file)), warnings, file);
  return { file, version, setup: config.setup === true, pipeline, jobs, workflows, skippedWorkflows: skipped, root: scope, warnings: sortUnique(warnings, file), expanded: budget.used };
}

function withWarnings(err: ConfigError, warnings: Diagnostic[], file?: string): ConfigError {
  err.warnings = sortUnique(warnings, file);
  return err;
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

/** A job's processed form on its own: a workflow job by name (an approval too), else a job definition with default arguments. */
export function findJob(compiled: CompiledConfig, name: string, workflow?: string): { job: CompiledJob; workflow?: CompiledWorkflow; wfJob?: WorkflowJob } {
  for (const wf of compiled.workflows) {
    if (workflow !== undefined && wf.name !== workflow) continue;
    const key = wf.keys.get(name);
    if (key !== undefined) return { job: compiled.jobs.get(key)!, workflow: wf, wfJob: wf.jobs.find((j) => j.name === name) };
    const approval = wf.jobs.find((j) => j.name === name && j.type === 'approval');
    if (approval) {
      // an approval is a workflow-only job: no executor, no steps
      const body: ValueMap = { type: 'approval' };
      return { job: { key: name, definition: approval.ref, body, ...(approval.pos ? { pos: approval.pos } : {}) }, workflow: wf, wfJob: approval };
    }
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
