/**
 * Step expansion: user and orb commands are inlined (each in its own scope, with its own
 * parameters only — parameters are not inherited), `when`/`unless` steps are decided, `steps`
 * items are spliced, and every built-in step is put in canonical form. The result is the list of
 * built-in steps that the processed config and the JobSpec carry.
 */
import { canonicalBuiltin, isBuiltinStep, BUILTIN_STEP_KEYS } from './builtin-steps.js';
import { configError, type SourcePos } from './diagnostics.js';
import { interpolate } from './interpolate.js';
import { evaluateLogicStatement } from './logic.js';
import { bindArguments, parseParameterDefs, type ParameterDef } from './parameters.js';
import { lookup, resolve, type Scope } from './scope.js';
import { describeType, isMapValue, posOf, valuePos, type Value, type ValueMap } from './source.js';

/** Steps already expanded (e.g. a `steps` argument expanded in its caller's scope) pass through. */
const expanded = new WeakSet<object>();

/** Commands may call commands; a chain this deep is a recursion. */
const MAX_DEPTH = 64;

export interface ExpandContext {
  pipeline: ValueMap;
  /** command names on the way here, for the recursion message */
  stack: string[];
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
    const step = canonicalBuiltin(name, args, pos);
    expanded.add(step);
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
  });
  if (!('steps' in cmd.def)) throw configError(posOf(cmd.def), `${owner} has no "steps"`);
  const body = interpolate(cmd.def.steps, { pipeline: ctx.pipeline, parameters: bound, owner }, posOf(cmd.def));
  return expandSteps(body, cmd.scope, { ...ctx, stack: [...ctx.stack, cmd.qualifiedName + '@' + cmd.scope.prefix] }, posOf(cmd.def));
}

function conditional(kind: 'when' | 'unless', args: Value, scope: Scope, ctx: ExpandContext, pos: SourcePos | undefined): ValueMap[] {
  if (!isMapValue(args) || !('condition' in args) || !('steps' in args)) {
    throw configError(pos, `a "${kind}" step needs "condition" and "steps"`);
  }
  for (const k of Object.keys(args)) {
    if (k !== 'condition' && k !== 'steps') throw configError(pos, `a "${kind}" step takes only "condition" and "steps", not "${k}"`);
  }
  const holds = evaluateLogicStatement(args.condition, valuePos(args, 'condition') ?? pos);
  return holds === (kind === 'when') ? expandSteps(args.steps, scope, ctx, valuePos(args, 'steps') ?? pos) : [];
}

function markExpanded(steps: ValueMap[]): ValueMap[] {
  for (const s of steps) expanded.add(s);
  return steps;
}
