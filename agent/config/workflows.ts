/**
 * Workflows: `when`/`unless` decided, matrix entries expanded (with names, aliases, excludes),
 * `requires` resolved against names and matrix aliases and checked for cycles, filters and
 * contexts normalized. Jobs themselves are instantiated by jobs.ts.
 */
import type { RequiredStatus } from '../jobspec/jobspec.js';
import { ConfigError, configError, configWarning, type SourcePos, type WarningSink } from './diagnostics.js';
import { evaluateExpression, isTruthy, parseExpression, ExprError, type ExprValue } from './expr/index.js';
import { interpolate, type InterpolationScope } from './interpolate.js';
import { count, ExpansionBudget, LIMITS, limitError, LimitError as LimitErrorType } from './limits.js';
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

export interface ExpandWorkflowOptions {
  warn?: WarningSink;
  /** given, a problem with `requires` (an unknown job, a cycle) is reported here and the workflow's jobs still come back */
  report?: (problem: ConfigError) => void;
  /** jobs and requirements of the whole compile so far (limits.ts) */
  budget?: ExpansionBudget;
}

export function expandWorkflow(
  name: string,
  wf: ValueMap,
  pipeline: ValueMap,
  isJobDefined: (ref: string) => boolean,
  opts: ExpandWorkflowOptions = {},
): Workflow {
  const warn = opts.warn ?? (() => undefined);
  const report = opts.report;
  const budget = opts.budget ?? new ExpansionBudget();
  const wfPos = posOf(wf);
  const entries = wf.jobs;
  if (!Array.isArray(entries)) throw configError(valuePos(wf, 'jobs') ?? wfPos, `workflow "${name}" needs "jobs:", a list of jobs`);
  const jobs: WorkflowJob[] = [];
  /** aliases of matrices that expand to no jobs: a requirement on one is a requirement on a job that does not run */
  const vanished = new Set<string>();
  for (let i = 0; i < entries.length; i++) {
    const epos = valuePos(entries, i) ?? wfPos;
    const expanded = expandEntry(entries[i], epos, pipeline, name, isJobDefined, warn, budget);
    if (expanded.vanished !== undefined) vanished.add(expanded.vanished);
    budget.addJobs(expanded.jobs.length, epos, () => `workflow "${name}" adds ${count(expanded.jobs.length)} job${expanded.jobs.length === 1 ? '' : 's'} here`);
    for (const j of expanded.jobs) jobs.push(j);
  }
  const byName = new Map<string, WorkflowJob>();
  /** the next numeric suffix to try per name given twice, so that many repeats stay linear */
  const nextSuffix = new Map<string, number>();
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
      let n = nextSuffix.get(j.alias) ?? 2;
      for (; byName.has(`${j.alias}-${n}`); n++);
      j.name = `${j.alias}-${n}`;
      nextSuffix.set(j.alias, n + 1);
    }
    byName.set(j.name, j);
  }
  const aliases = new Set(jobs.map((j) => j.alias));
  for (const v of [...vanished]) if (byName.has(v) || aliases.has(v)) vanished.delete(v);
  // how many requirements each job had as written; one that names no job at all (an error) keeps the job in
  const written = new Map(jobs.map((j) => [j, Object.keys(j.requires).length]));
  const attempt = (fn: () => void): void => {
    if (!report) return fn();
    try {
      fn();
    } catch (err) {
      if (!(err instanceof ConfigError) || err instanceof LimitErrorType) throw err;
      report(err);
    }
  };
  resolveRequires(name, jobs, byName, vanished, warn, attempt, written, budget);
  attempt(() => checkCycles(name, jobs, byName));
  const kept = dropJobsThatCannotRun(name, jobs, written, warn);
  return { name, jobs: kept, triggers: wf.triggers, pos: wfPos };
}

/**
 * A job whose requirements all name jobs that do not run (a matrix that expands to no jobs, or a
 * job left out for that same reason) does not run either, and so on down the line; a requirement
 * on a job that does not run is dropped. This is how `deckhand run` treats filtered-out jobs, as
 * CircleCI does.
 */
function dropJobsThatCannotRun(wfName: string, jobs: WorkflowJob[], written: Map<WorkflowJob, number>, warn: WarningSink): WorkflowJob[] {
  // a job goes when every one of its requirements is gone; worked off a queue, so a long chain costs its length
  const gone = new Set<string>();
  const requiredBy = new Map<string, WorkflowJob[]>();
  const waiting = new Map<WorkflowJob, number>();
  const queue: WorkflowJob[] = [];
  for (const j of jobs) {
    if ((written.get(j) ?? 0) === 0) continue;
    const reqs = Object.keys(j.requires);
    waiting.set(j, reqs.length);
    if (reqs.length === 0) queue.push(j);
    for (const r of reqs) {
      const list = requiredBy.get(r);
      if (list) list.push(j);
      else requiredBy.set(r, [j]);
    }
  }
  for (let q = 0; q < queue.length; q++) {
    const j = queue[q];
    if (gone.has(j.name)) continue;
    gone.add(j.name);
    const reqs = Object.keys(j.requires);
    warn(configWarning(j.pos, `job "${j.name}" of workflow "${wfName}" does not run: none of the jobs it requires runs${reqs.length ? ` (${reqs.join(', ')})` : ''}`));
    for (const d of requiredBy.get(j.name) ?? []) {
      const left = (waiting.get(d) ?? 0) - 1;
      waiting.set(d, left);
      if (left === 0) queue.push(d);
    }
  }
  if (gone.size === 0) return jobs;
  return jobs
    .filter((j) => !gone.has(j.name))
    .map((j) => {
      for (const r of Object.keys(j.requires)) if (gone.has(r)) delete j.requires[r];
      return j;
    });
}

function expandEntry(
  entry: Value,
  pos: SourcePos | undefined,
  pipeline: ValueMap,
  wfName: string,
  isJobDefined: (ref: string) => boolean,
  warn: WarningSink,
  budget: ExpansionBudget,
): { jobs: WorkflowJob[]; vanished?: string } {
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
  const scope: InterpolationScope = { pipeline, budget };
  const matrixRaw = raw.matrix;
  if (matrixRaw === undefined || matrixRaw === null) return { jobs: [entryToJob(ref, raw, interpolate(raw, scope, pos) as ValueMap, pos, undefined, isJobDefined)] };

  if (!isMapValue(matrixRaw) || !isMapValue(matrixRaw.parameters)) {
    throw configError(valuePos(raw, 'matrix') ?? pos, `"matrix" of job "${ref}" needs "parameters:", a map of parameter: [values]`);
  }
  const matrix = interpolate(matrixRaw, scope, pos) as ValueMap;
  // a copy: interpolate may hand back the config's own map, and repeats are taken out below
  const params: ValueMap = { ...(matrix.parameters as ValueMap) };
  copyPos(matrix.parameters, params);
  const names = Object.keys(params).sort();
  const alias = typeof matrix.alias === 'string' ? matrix.alias : ref;
  let empty = false;
  for (const p of names) {
    const values = params[p];
    const ppos = valuePos(matrixRaw.parameters, p) ?? pos;
    if (values === null || (Array.isArray(values) && values.length === 0)) {
      warn(configWarning(ppos, `matrix parameter "${p}" of job "${ref}" has no values, so the matrix expands to no jobs`));
      empty = true;
      continue;
    }
    if (!Array.isArray(values)) throw configError(ppos, `matrix parameter "${p}" of job "${ref}" must be a list of values, got ${describeType(values)}`);
    params[p] = uniqueValues(values, (v, at) => warn(configWarning(at ?? ppos, `matrix parameter "${p}" of job "${ref}" lists ${renderMatrixValue(v)} more than once; it runs once`)));
  }
  if (empty) return { jobs: [], vanished: alias };
  const excludes = matrix.exclude === undefined ? [] : matrix.exclude;
  if (!Array.isArray(excludes)) throw configError(valuePos(matrixRaw, 'exclude') ?? pos, '"exclude" of a matrix must be a list of parameter maps');

  // the size is known before a combination is made: a matrix past the limit is refused at once
  const sizes = Object.keys(params).map((p) => (params[p] as Value[]).length);
  const size = sizes.reduce((a, b) => a * b, 1);
  if (size > budget.jobsLeft) {
    throw limitError(
      keyPos(raw, 'matrix') ?? pos,
      `the matrix of job "${ref}" in workflow "${wfName}" makes ${count(size)} jobs (${sizes.map(count).join(' × ')} combinations)${budget.jobsLeft < LIMITS.jobsPerPipeline ? `, and the config has ${count(LIMITS.jobsPerPipeline - budget.jobsLeft)} jobs before it` : ''}; a config may have at most ${count(LIMITS.jobsPerPipeline)} jobs (all workflows together, matrices expanded)`,
    );
  }
  if (excludes.length * size > LIMITS.excludeComparisons) {
    throw limitError(
      valuePos(matrixRaw, 'exclude') ?? pos,
      `the matrix of job "${ref}" has ${count(excludes.length)} exclude entries for ${count(size)} combinations; at most ${count(LIMITS.excludeComparisons)} entries × combinations are allowed (list the combinations to keep as separate entries instead)`,
    );
  }
  let combos: Map<string, Value>[] = [new Map()];
  for (const p of Object.keys(params)) {
    const next: Map<string, Value>[] = [];
    for (const c of combos) for (const v of params[p] as Value[]) next.push(new Map([...c, [p, v]]));
    combos = next;
  }
  // an exclude value matches a combination's value when both read the same as text (`1` and "1"),
  // each value turned into text once
  const text = combos.map((c) => new Map([...c].map(([k, v]) => [k, String(v)])));
  const matches = (ex: Value, i: number): boolean => isMapValue(ex) && Object.entries(ex).every(([k, v]) => text[i].has(k) && text[i].get(k) === String(v));
  const kept = combos.filter((_c, i) => !excludes.some((ex) => matches(ex, i)));
  if (excludes.length > 0) {
    excludes.forEach((ex, i) => {
      if (!combos.some((_c, ci) => matches(ex, ci))) {
        throw configError(valuePos(matrixRaw.exclude, i) ?? pos, `matrix exclude entry ${i + 1} of job "${ref}" matches no combination of the matrix parameters`);
      }
    });
  }
  const { matrix: _m, ...withoutMatrix } = raw;
  copyPos(raw, withoutMatrix);
  const jobs = kept.map((combo) => {
    const shared = interpolate(withoutMatrix, { pipeline, matrix: combo, budget }, pos) as ValueMap;
    const inst: ValueMap = { ...shared };
    copyPos(shared, inst);
    for (const [k, v] of combo) inst[k] = v;
    if (inst.name === undefined) inst.name = [ref, ...names.map((n) => renderMatrixValue(combo.get(n) ?? null))].join('-');
    return entryToJob(ref, raw, inst, pos, alias, isJobDefined);
  });
  return { jobs, ...(jobs.length === 0 ? { vanished: alias } : {}) };
}

/** The values of a matrix parameter with repeats left out (CircleCI runs each combination once). */
function uniqueValues(values: Value[], repeated: (v: Value, pos: SourcePos | undefined) => void): Value[] {
  const seen = new Set<string>();
  const out: Value[] = [];
  values.forEach((v, i) => {
    const key = JSON.stringify(v);
    if (seen.has(key)) {
      repeated(v, valuePos(values, i));
      return;
    }
    seen.add(key);
    out.push(v);
  });
  return out;
}

function renderMatrixValue(v: Value): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
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

function resolveRequires(
  wfName: string,
  jobs: WorkflowJob[],
  byName: Map<string, WorkflowJob>,
  vanished: ReadonlySet<string>,
  warn: WarningSink,
  attempt: (fn: () => void) => void,
  written: Map<WorkflowJob, number>,
  budget: ExpansionBudget,
): void {
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
      if (targets.length === 0 && vanished.has(req)) {
        warn(configWarning(j.pos, `job "${j.name}" of workflow "${wfName}" requires "${req}", whose matrix expands to no jobs; that requirement is dropped`));
        continue;
      }
      if (targets.length === 0) {
        written.set(j, 0);
        attempt(() => {
          throw configError(j.pos, `job "${j.name}" in workflow "${wfName}" requires "${req}", which is not a job of this workflow${didYouMean(req, [...byName.keys(), ...byAlias.keys()])}`);
        });
        continue;
      }
      budget.addRequirements(targets.length, j.pos, `job "${j.name}" of workflow "${wfName}"`);
      for (const t of targets) resolved[t] = statuses;
    }
    j.requires = resolved;
  }
}

/** Depth-first, with a stack of its own: a chain of requirements is as long as the config makes it. */
function checkCycles(wfName: string, jobs: WorkflowJob[], byName: Map<string, WorkflowJob>): void {
  const state = new Map<string, 1 | 2>();
  for (const start of jobs) {
    if (state.has(start.name)) continue;
    state.set(start.name, 1);
    const path: { job: WorkflowJob; deps: string[]; next: number }[] = [{ job: start, deps: Object.keys(start.requires), next: 0 }];
    while (path.length > 0) {
      const top = path[path.length - 1];
      if (top.next === top.deps.length) {
        state.set(top.job.name, 2);
        path.pop();
        continue;
      }
      const dep = byName.get(top.deps[top.next++]);
      if (!dep) continue;
      const s = state.get(dep.name);
      if (s === 2) continue;
      if (s === 1) {
        const names = path.map((p) => p.job.name);
        const cycle = [...names.slice(names.indexOf(dep.name)), dep.name];
        // a long cycle is told by its ends, so that the message stays one readable line
        const told = cycle.length > 12 ? `${[...cycle.slice(0, 6), '…', ...cycle.slice(-3)].join(' → ')} (${count(cycle.length - 1)} jobs)` : cycle.join(' → ');
        throw configError(dep.pos, `jobs of workflow "${wfName}" require each other in a cycle: ${told}`);
      }
      state.set(dep.name, 1);
      path.push({ job: dep, deps: Object.keys(dep.requires), next: 0 });
    }
  }
}
