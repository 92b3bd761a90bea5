/**
 * Workflows: `when`/`unless` decided, matrix entries expanded (with names, aliases, excludes),
 * `requires` resolved against names and matrix aliases and checked for cycles, filters and
 * contexts normalized. Jobs themselves are instantiated by jobs.ts.
 */
import type { RequiredStatus } from '../jobspec/jobspec.js';
import { configError, type SourcePos } from './diagnostics.js';
import { evaluateExpression, isTruthy, parseExpression, ExprError, type ExprValue } from './expr/index.js';
import { interpolate, type InterpolationScope } from './interpolate.js';
import { evaluateLogicStatement } from './logic.js';
import { copyPos, describeType, isMapValue, keyPos, posOf, valuePos, type Value, type ValueMap } from './source.js';
import { didYouMean } from './suggest.js';

/** Keys of a workflow job entry that are not job parameters. */
export const RESERVED_ENTRY_KEYS = ['name', 'requires', 'context', 'type', 'filters', 'matrix', 'pre-steps', 'post-steps', 'serial-group', 'override-with'];

const STATUSES: readonly RequiredStatus[] = ['success', 'failed', 'canceled', 'unauthorized', 'not_run'];

export interface BranchTagFilter {
  only?: string[];
  ignore?: string[];
}

/** Map-form filters, or an expression (the newer form) evaluated against pipeline values. */
export type Filters = { branches?: BranchTagFilter; tags?: BranchTagFilter; pull_requests?: Value } | { expression: string };

export interface WorkflowJob {
  /** unique within the workflow */
  name: string;
  /** the job as referenced, e.g. `test`, `node/test`; for approval jobs the entry's key */
  ref: string;
  type: 'build' | 'release' | 'no-op' | 'approval';
  requires: Record<string, RequiredStatus[]>;
  filters?: Filters;
  contexts: string[];
  serialGroup?: string;
  /** job parameter arguments, interpolated */
  args: ValueMap;
  argsMap?: ValueMap;
  preSteps?: Value;
  postSteps?: Value;
  /** the matrix alias this instance answers to in `requires` */
  alias: string;
  pos?: SourcePos;
}

export interface Workflow {
  name: string;
  jobs: WorkflowJob[];
  /** legacy scheduled triggers, passed through */
  triggers?: Value;
  pos?: SourcePos;
}

/** Decides a workflow's `when`/`unless` (logic statement or expression string). */
export function workflowRuns(wf: ValueMap, scope: InterpolationScope): boolean {
  for (const kind of ['when', 'unless'] as const) {
    if (!(kind in wf)) continue;
    const pos = valuePos(wf, kind);
    const raw = wf[kind];
    let holds: boolean;
    if (typeof raw === 'string' && !raw.includes('<<')) holds = evalExpression(raw, scope, pos);
    else holds = evaluateLogicStatement(interpolate(raw, scope, pos), pos);
    if (holds !== (kind === 'when')) return false;
  }
  return true;
}

function evalExpression(src: string, scope: InterpolationScope, pos: SourcePos | undefined): boolean {
  try {
    return isTruthy(evaluateExpression(src, { pipeline: scope.pipeline as ExprValue }));
  } catch (err) {
    if (err instanceof ExprError) throw configError(pos, `in expression "${src}": ${err.message}`);
    throw err;
  }
}

export function expandWorkflow(name: string, wf: ValueMap, pipeline: ValueMap, isJobDefined: (ref: string) => boolean): Workflow {
  const wfPos = posOf(wf);
  const entries = wf.jobs;
  if (!Array.isArray(entries)) throw configError(valuePos(wf, 'jobs') ?? wfPos, `workflow "${name}" needs "jobs:", a list of jobs`);
  const jobs: WorkflowJob[] = [];
  entries.forEach((entry, i) => {
    const epos = valuePos(entries, i) ?? wfPos;
    for (const j of expandEntry(entry, epos, pipeline, name, isJobDefined)) jobs.push(j);
  });
  const byName = new Map<string, WorkflowJob>();
  for (const j of jobs) {
    const prev = byName.get(j.name);
    if (prev && (prev.pos === j.pos || prev.type === 'approval' || j.type === 'approval')) {
      throw configError(j.pos, `workflow "${name}" has two jobs named "${j.name}"${prev.pos === j.pos ? ' (its matrix expands to the same name twice)' : ''}; give ${prev.pos === j.pos ? 'the matrix a name template such as name: x-<< matrix.p >>' : 'one a distinct "name:"'}`);
    }
    if (prev) {
      // CircleCI accepts two entries with one name (e.g. behind exclusive filters): the later one
      // gets a numeric suffix, and `requires` of that name waits for both
      j.alias = j.name;
      prev.alias = j.name;
      for (let n = 2; byName.has(j.name); n++) j.name = `${j.alias}-${n}`;
    }
    byName.set(j.name, j);
  }
  resolveRequires(name, jobs, byName);
  checkCycles(name, jobs, byName);
  return { name, jobs, triggers: wf.triggers, pos: wfPos };
}

function expandEntry(entry: Value, pos: SourcePos | undefined, pipeline: ValueMap, wfName: string, isJobDefined: (ref: string) => boolean): WorkflowJob[] {
  let ref: string;
  let raw: ValueMap;
  if (typeof entry === 'string') {
    ref = entry;
    raw = {};
  } else if (isMapValue(entry) && Object.keys(entry).length === 1) {
    ref = Object.keys(entry)[0];
    const v = entry[ref];
    if (v !== null && !isMapValue(v)) throw configError(valuePos(entry, ref) ?? pos, `job "${ref}" in workflow "${wfName}" takes a map of options, got ${describeType(v)}`);
    raw = v ?? {};
  } else {
    throw configError(pos, `each job in workflow "${wfName}" is a job name or a map with one key (the job name)${isMapValue(entry) ? `; this one has ${Object.keys(entry).length} keys (check indentation)` : ''}`);
  }
  const scope: InterpolationScope = { pipeline };
  const matrixRaw = raw.matrix;
  if (matrixRaw === undefined || matrixRaw === null) return [entryToJob(ref, raw, interpolate(raw, scope, pos) as ValueMap, pos, undefined, isJobDefined)];

  if (!isMapValue(matrixRaw) || !isMapValue(matrixRaw.parameters)) {
    throw configError(valuePos(raw, 'matrix') ?? pos, `"matrix" of job "${ref}" needs "parameters:", a map of parameter: [values]`);
  }
  const matrix = interpolate(matrixRaw, scope, pos) as ValueMap;
  const params = matrix.parameters as ValueMap;
  const names = Object.keys(params).sort();
  for (const p of names) {
    if (!Array.isArray(params[p]) || (params[p] as Value[]).length === 0) {
      throw configError(valuePos(matrixRaw.parameters, p) ?? pos, `matrix parameter "${p}" of job "${ref}" must be a non-empty list of values`);
    }
  }
  const excludes = matrix.exclude === undefined ? [] : matrix.exclude;
  if (!Array.isArray(excludes)) throw configError(valuePos(matrixRaw, 'exclude') ?? pos, '"exclude" of a matrix must be a list of parameter maps');
  const alias = typeof matrix.alias === 'string' ? matrix.alias : ref;

  const combos: Map<string, Value>[] = [new Map()];
  for (const p of Object.keys(params)) {
    const next: Map<string, Value>[] = [];
    for (const c of combos) for (const v of params[p] as Value[]) next.push(new Map([...c, [p, v]]));
    combos.splice(0, combos.length, ...next);
  }
  const kept = combos.filter((c) => !excludes.some((ex) => isMapValue(ex) && Object.entries(ex).every(([k, v]) => c.has(k) && sameValue(c.get(k) ?? null, v))));
  if (excludes.length > 0) {
    excludes.forEach((ex, i) => {
      if (!isMapValue(ex) || !combos.some((c) => Object.entries(ex).every(([k, v]) => c.has(k) && sameValue(c.get(k) ?? null, v)))) {
        throw configError(valuePos(matrixRaw.exclude, i) ?? pos, `matrix exclude entry ${i + 1} of job "${ref}" matches no combination of the matrix parameters`);
      }
    });
  }
  const { matrix: _m, ...withoutMatrix } = raw;
  copyPos(raw, withoutMatrix);
  return kept.map((combo) => {
    const inst = interpolate(withoutMatrix, { pipeline, matrix: combo }, pos) as ValueMap;
    for (const [k, v] of combo) inst[k] = v;
    if (inst.name === undefined) inst.name = [ref, ...names.map((n) => renderMatrixValue(combo.get(n) ?? null))].join('-');
    return entryToJob(ref, raw, inst, pos, alias, isJobDefined);
  });
}

function renderMatrixValue(v: Value): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function sameValue(a: Value, b: Value): boolean {
  return JSON.stringify(a) === JSON.stringify(b) || String(a) === String(b);
}

function entryToJob(
  ref: string,
  raw: ValueMap,
  inst: ValueMap,
  pos: SourcePos | undefined,
  /** the matrix alias; a job without a matrix answers to its own name */
  alias: string | undefined,
  isJobDefined: (ref: string) => boolean,
): WorkflowJob {
  const type = inst.type === undefined ? 'build' : inst.type;
  if (type !== 'approval' && type !== 'build' && type !== 'no-op' && type !== 'release') {
    throw configError(valuePos(raw, 'type') ?? pos, `"type" of job "${ref}" is ${JSON.stringify(type)}; a workflow job's type is approval (or omitted)`);
  }
  if (type === 'approval' && isJobDefined(ref) && inst.name === undefined) {
    // CircleCI: an approval job is a workflow-only name and must not shadow a job definition
    throw configError(pos, `approval job "${ref}" has the name of a job defined in jobs:; give the approval a different name`);
  }
  const name = inst.name === undefined ? ref : String(inst.name);
  const args: ValueMap = {};
  for (const [k, v] of Object.entries(inst)) if (!RESERVED_ENTRY_KEYS.includes(k)) args[k] = v;
  copyPos(raw, args);
  const contexts = inst.context === undefined || inst.context === null ? [] : Array.isArray(inst.context) ? inst.context.map(String) : [String(inst.context)];
  const job: WorkflowJob = {
    name,
    ref,
    type: type as WorkflowJob['type'],
    requires: parseRequires(inst.requires, raw, pos, ref),
    contexts,
    args,
    argsMap: raw,
    preSteps: inst['pre-steps'],
    postSteps: inst['post-steps'],
    alias: alias ?? name,
    pos,
  };
  if (inst.filters !== undefined && inst.filters !== null) job.filters = parseFilters(inst.filters, valuePos(raw, 'filters') ?? pos, ref);
  if (typeof inst['serial-group'] === 'string') job.serialGroup = inst['serial-group'];
  return job;
}

function parseRequires(v: Value | undefined, raw: ValueMap, pos: SourcePos | undefined, ref: string): Record<string, RequiredStatus[]> {
  const out: Record<string, RequiredStatus[]> = {};
  if (v === undefined || v === null) return out;
  const rpos = valuePos(raw, 'requires') ?? pos;
  if (!Array.isArray(v)) throw configError(rpos, `"requires" of job "${ref}" must be a list of job names`);
  v.forEach((item, i) => {
    const ipos = (Array.isArray(raw.requires) ? valuePos(raw.requires, i) : undefined) ?? rpos;
    if (typeof item === 'string') {
      out[item] = ['success'];
      return;
    }
    if (!isMapValue(item)) throw configError(ipos, `an entry of "requires" must be a job name or {job: status}, got ${describeType(item)}`);
    for (const [name, st] of Object.entries(item)) {
      const list = Array.isArray(st) ? st : [st];
      const statuses: RequiredStatus[] = [];
      for (const s of list) {
        if (s === 'terminal') statuses.push(...STATUSES);
        else if (typeof s === 'string' && (STATUSES as readonly string[]).includes(s)) statuses.push(s as RequiredStatus);
        else throw configError(ipos, `"${String(s)}" is not a job status; use ${[...STATUSES, 'terminal'].join(', ')}${typeof s === 'string' ? didYouMean(s, [...STATUSES, 'terminal']) : ''}`);
      }
      out[name] = [...new Set(statuses)];
    }
  });
  return out;
}

function parseFilters(v: Value, pos: SourcePos | undefined, ref: string): Filters {
  if (typeof v === 'string') {
    try {
      parseExpression(v);
    } catch (err) {
      if (err instanceof ExprError) throw configError(pos, `filters of job "${ref}": ${err.message}`);
      throw err;
    }
    return { expression: v };
  }
  if (!isMapValue(v)) throw configError(pos, `"filters" of job "${ref}" must be a map (branches/tags) or an expression string`);
  const out: { branches?: BranchTagFilter; tags?: BranchTagFilter; pull_requests?: Value } = {};
  for (const [k, f] of Object.entries(v)) {
    const kpos = keyPos(v, k) ?? pos;
    if (k === 'pull_requests') {
      // newer CircleCI filter for GitHub App pipelines; kept for the scheduler, not evaluated locally
      out.pull_requests = f;
      continue;
    }
    if (k !== 'branches' && k !== 'tags') throw configError(kpos, `filters have "branches", "tags" and "pull_requests", not "${k}"${didYouMean(k, ['branches', 'tags', 'pull_requests'])}`);
    if (!isMapValue(f)) throw configError(kpos, `filters.${k} must be a map with only and/or ignore`);
    const bt: BranchTagFilter = {};
    for (const [which, pats] of Object.entries(f)) {
      if (which !== 'only' && which !== 'ignore') throw configError(keyPos(f, which) ?? kpos, `filters.${k} has "only" and "ignore", not "${which}"${didYouMean(which, ['only', 'ignore'])}`);
      const list = (Array.isArray(pats) ? pats : [pats]).map(String);
      for (const p of list) checkPattern(p, valuePos(f, which) ?? kpos);
      bt[which] = list;
    }
    out[k] = bt;
  }
  return out;
}

function checkPattern(p: string, pos: SourcePos | undefined): void {
  if (p.length > 1 && p.startsWith('/') && p.endsWith('/')) {
    try {
      new RegExp(p.slice(1, -1));
    } catch (err) {
      throw configError(pos, `filter pattern ${p} is not a valid regular expression: ${(err as Error).message}`);
    }
  }
}

/** Does a map-form branch/tag filter let `value` through? `/re/` must match the whole string. */
export function filterAllows(f: BranchTagFilter | undefined, value: string): boolean {
  if (!f) return true;
  const match = (p: string): boolean =>
    p.length > 1 && p.startsWith('/') && p.endsWith('/') ? new RegExp(`^(?:${p.slice(1, -1)})$`).test(value) : p === value;
  if (f.only) return f.only.some(match);
  if (f.ignore) return !f.ignore.some(match);
  return true;
}

function resolveRequires(wfName: string, jobs: WorkflowJob[], byName: Map<string, WorkflowJob>): void {
  const byAlias = new Map<string, string[]>();
  for (const j of jobs) {
    const list = byAlias.get(j.alias) ?? [];
    list.push(j.name);
    byAlias.set(j.alias, list);
  }
  for (const j of jobs) {
    const resolved: Record<string, RequiredStatus[]> = {};
    for (const [req, statuses] of Object.entries(j.requires)) {
      const targets = [...new Set([...(byName.has(req) ? [req] : []), ...(byAlias.get(req) ?? [])])];
      if (targets.length === 0) {
        throw configError(j.pos, `job "${j.name}" in workflow "${wfName}" requires "${req}", which is not a job of this workflow${didYouMean(req, [...byName.keys(), ...byAlias.keys()])}`);
      }
      for (const t of targets) resolved[t] = statuses;
    }
    j.requires = resolved;
  }
}

function checkCycles(wfName: string, jobs: WorkflowJob[], byName: Map<string, WorkflowJob>): void {
  const state = new Map<string, 1 | 2>();
  const path: string[] = [];
  const visit = (j: WorkflowJob): void => {
    const s = state.get(j.name);
    if (s === 2) return;
    if (s === 1) {
      const cycle = [...path.slice(path.indexOf(j.name)), j.name];
      throw configError(j.pos, `jobs of workflow "${wfName}" require each other in a cycle: ${cycle.join(' → ')}`);
    }
    state.set(j.name, 1);
    path.push(j.name);
    for (const r of Object.keys(j.requires)) {
      const dep = byName.get(r);
      if (dep) visit(dep);
    }
    path.pop();
    state.set(j.name, 2);
  };
  for (const j of jobs) visit(j);
}
