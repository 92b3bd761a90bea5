/**
 * Job instantiation: one use of a job (from a workflow entry, with arguments) becomes one
 * processed 2.0 job — parameters substituted, executor resolved and merged, steps expanded,
 * pre-steps and post-steps wrapped around.
 */
import { configError, type SourcePos, type WarningSink } from './diagnostics.js';
import { commandParameters, expandSteps, type ExpandContext } from './expand-steps.js';
import { executorRefScope, pinExecutorRef } from './executor-refs.js';
import { interpolate } from './interpolate.js';
import { ExpansionBudget, StepTally } from './limits.js';
import { bindArguments } from './parameters.js';
import { resolve, type Scope } from './scope.js';
import { copyPos, describeType, isMapValue, posOf, valuePos, type Value, type ValueMap } from './source.js';

export interface JobUse {
  /** the job as named in the workflow, e.g. `test` or `node/test` */
  ref: string;
  args: ValueMap;
  /** the map the arguments were written in, for positions */
  argsMap?: ValueMap;
  pos?: SourcePos;
  preSteps?: Value;
  postSteps?: Value;
}

export interface ProcessedJob {
  /** the job definition it came from, e.g. `node/test` */
  definition: string;
  /** the processed 2.0 job map */
  body: ValueMap;
  pos?: SourcePos;
}

const EXECUTOR_KEYS = ['docker', 'machine', 'macos'] as const;

export interface InstantiateOptions {
  warn?: WarningSink;
  /** built-in steps already in canonical form in this compile (ExpandContext.builtins) */
  builtins?: Map<Value, ValueMap>;
  /** what the compile has expanded so far; a job compiled on its own gets one of its own */
  budget?: ExpansionBudget;
  /** the job as the workflow names it, for messages (default: its definition's name) */
  name?: string;
}

export function instantiateJob(root: Scope, use: JobUse, pipeline: ValueMap, opts: InstantiateOptions = {}): ProcessedJob {
  const job = resolve(root, 'jobs', use.ref, use.pos);
  const owner = `job "${job.qualifiedName}"`;
  const budget = opts.budget ?? new ExpansionBudget();
  const label = `job "${opts.name ?? job.qualifiedName}"`;
  const ctx: ExpandContext = { pipeline, stack: [], warn: opts.warn ?? (() => undefined), budget, tally: new StepTally(label), depth: 0, ...(opts.builtins ? { builtins: opts.builtins } : {}) };
  const bound = bindArguments(commandParameters(job.def, owner), use.args, {
    owner,
    pos: use.pos,
    argsMap: use.argsMap,
    // counted on its own, then again where the job splices it in
    expandStepsArg: (s, p) => expandSteps(s, root, { ...ctx, tally: new StepTally(label) }, p),
    // an argument names an executor of the workflow's scope; a default, one of the job's own
    pinExecutorArg: (v) => pinExecutorRef(v, root),
    pinExecutorDefault: (v) => pinExecutorRef(v, job.scope),
  });
  const { parameters: _declared, ...rest } = job.def;
  copyPos(job.def, rest);
  const body = interpolate(rest, { pipeline, parameters: bound, owner, budget }, posOf(job.def)) as ValueMap;
  const defPos = posOf(job.def);

  const merged = mergeExecutor(body, job.scope, pipeline, defPos, owner, budget);
  const type = typeof body.type === 'string' ? body.type : 'build';
  if (type === 'build' || type === 'release') {
    if (!EXECUTOR_KEYS.some((k) => k in merged)) {
      throw configError(defPos, `${owner} has no executor; give it docker:, machine:, macos: or executor:`);
    }
    if (!('steps' in body)) throw configError(defPos, `${owner} has no steps`);
  }
  const steps = [
    ...expandSteps(use.preSteps ?? null, root, ctx, use.pos),
    ...expandSteps(body.steps ?? null, job.scope, ctx, valuePos(body, 'steps') ?? defPos),
    ...expandSteps(use.postSteps ?? null, root, ctx, use.pos),
  ];
  const out: ValueMap = { ...merged, steps };
  copyPos(job.def, out);
  return { definition: job.qualifiedName, body: out, pos: defPos };
}

/** The job's own executor keys win over its `executor:`; `environment` maps merge, the job winning. */
function mergeExecutor(body: ValueMap, scope: Scope, pipeline: ValueMap, pos: SourcePos | undefined, owner: string, budget: ExpansionBudget): ValueMap {
  const { executor: use, steps: _steps, ...job } = body;
  if (use === undefined || use === null) return job;
  let name: string;
  let args: ValueMap = {};
  let argsMap: ValueMap | undefined;
  if (typeof use === 'string') name = use;
  else if (isMapValue(use) && typeof use.name === 'string') {
    const { name: n, ...a } = use;
    name = n;
    args = a;
    argsMap = use;
  } else {
    throw configError(valuePos(body, 'executor') ?? pos, `"executor" of ${owner} must be an executor name or a map with "name", got ${describeType(use)}`);
  }
  const usePos = valuePos(body, 'executor') ?? pos;
  const exec = resolve(executorRefScope(use) ?? scope, 'executors', name, usePos);
  const execOwner = `executor "${exec.qualifiedName}"`;
  const bound = bindArguments(commandParameters(exec.def, execOwner), args, { owner: execOwner, pos: usePos, argsMap });
  const { parameters: _p, description: _d, ...execBody } = exec.def;
  const resolved = interpolate(execBody, { pipeline, parameters: bound, owner: execOwner, budget }, posOf(exec.def)) as ValueMap;
  if (!EXECUTOR_KEYS.some((k) => k in resolved)) {
    throw configError(posOf(exec.def) ?? usePos, `${execOwner} has no docker:, machine: or macos:`);
  }
  const out: ValueMap = { ...resolved };
  if (EXECUTOR_KEYS.some((k) => k in job)) for (const k of EXECUTOR_KEYS) delete out[k];
  for (const [k, v] of Object.entries(job)) {
    if (k === 'environment' && isMapValue(v) && isMapValue(out.environment)) out.environment = { ...out.environment, ...v };
    else out[k] = v;
  }
  return out;
}
