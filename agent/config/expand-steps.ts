/**
 * Step expansion: user and orb commands are inlined (each in its own scope, with its own
 * parameters only — parameters are not inherited), `when`/`unless` steps are decided, `steps`
 * items are spliced, and every built-in step is put in canonical form. The result is the list of
 * built-in steps that the processed config and the JobSpec carry.
 *
 * Expansion is counted as it goes (limits.ts): the steps of the job, everything expanded in the
 * whole compile, and how deep lists of steps sit in one another, so that a config that would
 * expand past a limit is refused at the step that crosses it, not after the memory is spent.
 */
import { canonicalBuiltin, isBuiltinStep, BUILTIN_STEP_KEYS } from './builtin-steps.js';
import { configError, configWarning, type SourcePos, type WarningSink } from './diagnostics.js';
import { executorDefinitionOf, pinExecutorRef } from './executor-refs.js';
import { interpolate } from './interpolate.js';
import { count, LIMITS, StepTally, type ExpansionBudget } from './limits.js';
import { evaluateLogicStatement } from './logic.js';
import { bindArguments, parseParameterDefs, type ParameterDef } from './parameters.js';
import { lookup, resolve, type Scope } from './scope.js';
import { describeType, isMapValue, keyPos, posOf, valuePos, type Value, type ValueMap } from './source.js';
import { didYouMean } from './suggest.js';

/** Steps already expanded (e.g. a `steps` argument expanded in its caller's scope) pass through. */
const expanded = new WeakSet<object>();
/**
 * Steps of a steps argument whose expansion the budget has counted: the first time one is spliced
 * in is that count, so the budget says how many steps a job ends with; each further splice counts.
 */
const prepaid = new WeakSet<object>();

/** Commands may call commands; a chain this deep is a recursion. */
const MAX_DEPTH = 64;

export interface ExpandContext {
  pipeline: ValueMap;
  /** command names on the way here, for the recursion message */
  stack: string[];
  /** where warnings go (keys CircleCI ignores) */
  warn: WarningSink;
  /**
   * Built-in steps already in canonical form in this compile, by the step as written: a step
   * with nothing substituted in it is the same value in every job, and is checked once.
   */
  builtins?: Map<Value, ValueMap>;
  /** what the whole compile has expanded so far */
  budget: ExpansionBudget;
  /** the steps produced so far for the job, or for the steps argument being expanded */
  tally: StepTally;
  /** lists of steps around the one being expanded (command bodies, when/unless, step groups) */
  depth: number;
}

const paramCache = new WeakMap<object, Map<string, ParameterDef>>();

export function commandParameters(def: ValueMap, owner: string): Map<string, ParameterDef> {
  let defs = paramCache.get(def);
  if (!defs) {
    defs = parseParameterDefs(def.parameters, owner);
    paramCache.set(def, defs);
  }
  return defs;
}

export function expandSteps(steps: Value, scope: Scope, ctx: ExpandContext, pos?: SourcePos): ValueMap[] {
  if (steps === null || steps === undefined) return [];
  if (!Array.isArray(steps)) throw configError(posOf(steps) ?? pos, `steps must be a list, got ${describeType(steps)}`);
  if (ctx.depth >= LIMITS.stepNesting) {
    throw configError(posOf(steps) ?? pos, `steps nested more than ${count(LIMITS.stepNesting)} levels deep in ${ctx.tally.job} (command calls, when/unless steps and step groups inside one another; the limit)`);
  }
  const inner: ExpandContext = { ...ctx, depth: ctx.depth + 1 };
  const out: ValueMap[] = [];
  for (let i = 0; i < steps.length; i++) {
    const item = steps[i];
    const ipos = valuePos(steps, i) ?? pos;
    // a refusal points at the job's own step that led to it
    if (ctx.depth === 0) ctx.tally.at = ipos;
    if (isMapValue(item) && expanded.has(item)) {
      if (!prepaid.delete(item)) ctx.budget.expand(ctx.tally.at ?? ipos, ctx.tally.job);
      if (!ctx.tally.add()) throw ctx.tally.refusal(ipos, commandChain(ctx));
      out.push(item);
    } else if (Array.isArray(item)) {
      // `- << parameters.more_steps >>`: a steps parameter used as a step splices its steps
      for (const s of expandSteps(item, scope, inner, ipos)) out.push(s);
    } else {
      for (const s of expandStep(item, scope, inner, ipos)) out.push(s);
    }
  }
  return out;
}

/** The chain of commands in `ctx`, for messages: `build → install`. */
function commandChain(ctx: ExpandContext): string[] {
  return ctx.stack.map((s) => s.split('@')[0]);
}

function expandStep(item: Value, scope: Scope, ctx: ExpandContext, pos: SourcePos | undefined): ValueMap[] {
  ctx.budget.expand(ctx.tally.at ?? pos, ctx.tally.job);
  let name: string;
  let args: Value;
  if (typeof item === 'string') {
    name = item;
    args = null;
  } else if (isMapValue(item)) {
    const keys = Object.keys(item);
    if (keys.length !== 1) {
      throw configError(pos, keys.length === 0 ? 'empty step' : `a step is a map with one key, the step's name; this one has ${keys.map((k) => `"${k}"`).join(', ')} (check the indentation of its arguments)`);
    }
    name = keys[0];
    args = item[name];
  } else {
    throw configError(pos, `a step must be a step name or a map, got ${describeType(item)}`);
  }

  if (name === 'when' || name === 'unless') return conditional(name, args, scope, ctx, pos);
  if (name === 'steps') return expandSteps(args, scope, ctx, pos);

  // a command of the scope's own wins over a built-in of the same name (CircleCI allows overriding)
  const own = name.includes('/') ? undefined : lookup(scope, 'commands', name);
  if (!own && isBuiltinStep(name)) {
    let step = ctx.builtins?.get(item);
    if (step === undefined) {
      step = canonicalBuiltin(name, args, pos, ctx.warn);
      expanded.add(step);
      ctx.builtins?.set(item, step);
    }
    if (!ctx.tally.add()) throw ctx.tally.refusal(pos, commandChain(ctx));
    return [step];
  }
  const cmd = own ?? resolve(scope, 'commands', name, pos, Object.keys(BUILTIN_STEP_KEYS));
  if (ctx.stack.length >= MAX_DEPTH || ctx.stack.includes(cmd.qualifiedName + '@' + cmd.scope.prefix)) {
    throw configError(pos, `command "${name}" calls itself: ${[...commandChain(ctx), cmd.qualifiedName].join(' → ')}`);
  }
  if (args !== null && !isMapValue(args)) {
    throw configError(pos, `arguments of command "${name}" must be a map of parameter: value, got ${describeType(args)}`);
  }
  const owner = `command "${cmd.qualifiedName}"`;
  const bound = bindArguments(commandParameters(cmd.def, owner), args ?? {}, {
    owner,
    pos,
    argsMap: args ?? undefined,
    // a steps argument is counted as it is expanded (in the budget, and on a tally of its own),
    // then in the job's tally each time the command splices it in
    expandStepsArg: (s, p) => markExpanded(expandSteps(s, scope, { ...ctx, tally: new StepTally(ctx.tally.job, ctx.tally.at ?? p) }, p)),
    pinExecutorArg: (v) => pinExecutorRef(v, scope),
    pinExecutorDefault: (v) => pinExecutorRef(v, cmd.scope),
  });
  if (!('steps' in cmd.def)) throw configError(posOf(cmd.def), `${owner} has no "steps"`);
  const body = interpolate(cmd.def.steps, { pipeline: ctx.pipeline, parameters: bound, owner, budget: ctx.budget }, posOf(cmd.def));
  return expandSteps(body, cmd.scope, { ...ctx, stack: [...ctx.stack, cmd.qualifiedName + '@' + cmd.scope.prefix] }, posOf(cmd.def));
}

const CONDITIONAL_KEYS = ['condition', 'steps'];

function conditional(kind: 'when' | 'unless', args: Value, scope: Scope, ctx: ExpandContext, pos: SourcePos | undefined): ValueMap[] {
  if (!isMapValue(args) || !('condition' in args) || !('steps' in args)) {
    throw configError(pos, `a "${kind}" step needs "condition" and "steps"`);
  }
  // CircleCI's published schema leaves this map open; other keys (a description) are ignored
  for (const k of Object.keys(args)) {
    if (!CONDITIONAL_KEYS.includes(k)) {
      ctx.warn(configWarning(keyPos(args, k) ?? pos, `"${k}" in a "${kind}" step is ignored (CircleCI ignores it too)${didYouMean(k, CONDITIONAL_KEYS)}; the step takes "condition" and "steps"`));
    }
  }
  // an executor parameter stands for the executor it names (equal: [*macos-executor, << parameters.os >>])
  const holds = evaluateLogicStatement(args.condition, valuePos(args, 'condition') ?? pos, { equalValue: (v) => executorDefinitionOf(v) ?? v });
  if (holds !== (kind === 'when')) return [];
  // `steps:` is a list, a steps parameter (already a list here), or one step on its own
  const steps = args.steps;
  const list = steps === null || Array.isArray(steps) ? steps : [steps];
  return expandSteps(list, scope, ctx, valuePos(args, 'steps') ?? pos);
}

function markExpanded(steps: ValueMap[]): ValueMap[] {
  for (const s of steps) {
    expanded.add(s);
    prepaid.add(s);
  }
  return steps;
}
