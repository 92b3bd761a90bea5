/**
 * Step expansion: user and orb commands are inlined (each in its own scope, with its own
 * parameters only — parameters are not inherited), `when`/`unless` steps are decided, `steps`
 * items are spliced, and every built-in step is put in canonical form. The result is the list of
 * built-in steps that the processed config and the JobSpec carry.
 */
import { canonicalBuiltin, isBuiltinStep, BUILTIN_STEP_KEYS } from './builtin-steps.js';
import { configError, configWarning, type SourcePos, type WarningSink } from './diagnostics.js';
import { executorDefinitionOf, pinExecutorRef } from './executor-refs.js';
import { interpolate } from './interpolate.js';
import { evaluateLogicStatement } from './logic.js';
import { bindArguments, parseParameterDefs, type ParameterDef } from './parameters.js';
import { lookup, resolve, type Scope } from './scope.js';
import { describeType, isMapValue, keyPos, posOf, valuePos, type Value, type ValueMap } from './source.js';
import { didYouMean } from './suggest.js';

/** Steps already expanded (e.g. a `steps` argument expanded in its caller's scope) pass through. */
const expanded = new WeakSet<object>();

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
  const out: ValueMap[] = [];
  steps.forEach((item, i) => {
    const ipos = valuePos(steps, i) ?? pos;
    if (isMapValue(item) && expanded.has(item)) {
      out.push(item);
      return;
    }
    if (Array.isArray(item)) {
      // `- << parameters.more_steps >>`: a steps parameter used as a step splices its steps
      for (const s of expandSteps(item, scope, ctx, ipos)) out.push(s);
      return;
    }
    for (const s of expandStep(item, scope, ctx, ipos)) out.push(s);
  });
  return out;
}

function expandStep(item: Value, scope: Scope, ctx: ExpandContext, pos: SourcePos | undefined): ValueMap[] {
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
    return [step];
  }
  const cmd = own ?? resolve(scope, 'commands', name, pos, Object.keys(BUILTIN_STEP_KEYS));
  if (ctx.stack.length >= MAX_DEPTH || ctx.stack.includes(cmd.qualifiedName + '@' + cmd.scope.prefix)) {
    throw configError(pos, `command "${name}" calls itself: ${[...ctx.stack.map((s) => s.split('@')[0]), cmd.qualifiedName].join(' → ')}`);
  }
  if (args !== null && !isMapValue(args)) {
    throw configError(pos, `arguments of command "${name}" must be a map of parameter: value, got ${describeType(args)}`);
  }
  const owner = `command "${cmd.qualifiedName}"`;
  const bound = bindArguments(commandParameters(cmd.def, owner), args ?? {}, {
    owner,
    pos,
    argsMap: args ?? undefined,
    expandStepsArg: (s, p) => markExpanded(expandSteps(s, scope, ctx, p)),
    pinExecutorArg: (v) => pinExecutorRef(v, scope),
    pinExecutorDefault: (v) => pinExecutorRef(v, cmd.scope),
  });
  if (!('steps' in cmd.def)) throw configError(posOf(cmd.def), `${owner} has no "steps"`);
  const body = interpolate(cmd.def.steps, { pipeline: ctx.pipeline, parameters: bound, owner }, posOf(cmd.def));
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
  for (const s of steps) expanded.add(s);
  return steps;
}
