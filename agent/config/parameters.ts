/**
 * Parameter declarations (of jobs, commands, executors and the pipeline) and the binding of
 * arguments to them: unknown and missing arguments, types, enums, env var names, YAML 1.1
 * booleans. Binding happens once per use, so every error points at the use.
 */
import { configError, type SourcePos } from './diagnostics.js';
import { describeType, isMapValue, keyPos, valuePos, type Value, type ValueMap } from './source.js';
import { didYouMean } from './suggest.js';

export const PARAMETER_TYPES = ['string', 'boolean', 'integer', 'enum', 'executor', 'steps', 'env_var_name'] as const;
export type ParameterType = (typeof PARAMETER_TYPES)[number];

export interface ParameterDef {
  name: string;
  type: ParameterType;
  /** absent means the argument is required */
  default?: Value;
  enum?: string[];
  pos?: SourcePos;
}

const NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;
const ENV_VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const YAML11_TRUE = /^(y|yes|true|on)$/i;
const YAML11_FALSE = /^(n|no|false|off)$/i;

/** A boolean as YAML 1.1 spells it (`yes/no/on/off/y/n`, any case); undefined when it is not one. */
export function yaml11Boolean(v: Value): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && YAML11_TRUE.test(v)) return true;
  if (typeof v === 'string' && YAML11_FALSE.test(v)) return false;
  return undefined;
}

/** Reads a `parameters:` map. `owner` names the element in messages, e.g. `job "build"`. */
export function parseParameterDefs(
  defs: Value | undefined,
  owner: string,
  allowed: readonly ParameterType[] = PARAMETER_TYPES,
): Map<string, ParameterDef> {
  const out = new Map<string, ParameterDef>();
  if (defs === undefined || defs === null) return out;
  if (!isMapValue(defs)) throw configError(undefined, `parameters of ${owner} must be a map`);
  for (const [name, raw] of Object.entries(defs)) {
    const pos = keyPos(defs, name);
    if (!NAME.test(name)) {
      throw configError(pos, `parameter name "${name}" of ${owner} must start with a letter and use only letters, digits, "_" and "-"`);
    }
    if (!isMapValue(raw)) throw configError(valuePos(defs, name), `parameter "${name}" of ${owner} must be a map with at least "type"`);
    const type = raw.type;
    if (typeof type !== 'string' || !(allowed as readonly string[]).includes(type)) {
      throw configError(
        valuePos(raw, 'type') ?? pos,
        `parameter "${name}" of ${owner} has type ${JSON.stringify(type ?? null)}; use one of ${allowed.join(', ')}${typeof type === 'string' ? didYouMean(type, allowed) : ''}`,
      );
    }
    const def: ParameterDef = { name, type: type as ParameterType, pos };
    if (def.type === 'enum') {
      if (!Array.isArray(raw.enum) || raw.enum.length === 0) {
        throw configError(valuePos(raw, 'enum') ?? pos, `enum parameter "${name}" of ${owner} needs a non-empty "enum:" list of allowed values`);
      }
      def.enum = raw.enum.map((x) => String(x));
    }
    if ('default' in raw) {
      def.default = coerce(def, raw.default, `default of parameter "${name}" of ${owner}`, valuePos(raw, 'default') ?? pos);
    }
    out.set(name, def);
  }
  return out;
}

/** Checks a value against a parameter's type; returns it in canonical form. */
export function coerce(def: ParameterDef, v: Value, what: string, pos?: SourcePos): Value {
  const fail = (expected: string): never => {
    throw configError(pos, `${what} must be ${expected}, got ${describeType(v)}${typeof v === 'string' || typeof v === 'number' ? ` (${JSON.stringify(v)})` : ''}`);
  };
  switch (def.type) {
    case 'string':
      if (typeof v === 'string') return v;
      if (typeof v === 'number' || typeof v === 'boolean') return String(v);
      if (v === null) return '';
      return fail('a string');
    case 'boolean':
      return yaml11Boolean(v) ?? fail('a boolean (true/false, yes/no, on/off)');
    case 'integer':
      if (typeof v === 'number' && Number.isInteger(v)) return v;
      if (typeof v === 'string' && /^-?\d+$/.test(v.trim())) return Number(v.trim());
      return fail('an integer');
    case 'enum': {
      const s = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : fail('one of the enum values');
      if (!def.enum?.includes(s)) {
        throw configError(pos, `${what} is "${s}", which is not one of ${def.enum?.map((e) => JSON.stringify(e)).join(', ')}${didYouMean(s, def.enum ?? [])}`);
      }
      return s;
    }
    case 'env_var_name':
      if (typeof v !== 'string') return fail('an environment variable name');
      if (!ENV_VAR_NAME.test(v)) throw configError(pos, `${what} is "${v}", which is not a valid environment variable name (letters, digits and "_", not starting with a digit)`);
      return v;
    case 'executor':
      if (typeof v === 'string') return v;
      if (isMapValue(v) && typeof v.name === 'string') return v;
      return fail('an executor name or a map with "name"');
    case 'steps':
      if (v === null) return [];
      if (Array.isArray(v)) return v;
      return fail('a list of steps');
  }
}

export interface BindContext {
  /** the element whose parameters are bound, e.g. `command "install"` */
  owner: string;
  /** where it is used */
  pos?: SourcePos;
  /** the map holding the arguments, for per-argument positions */
  argsMap?: ValueMap;
  /** turns a `steps` argument into expanded steps in the caller's scope */
  expandStepsArg?: (steps: Value[], pos?: SourcePos) => Value[];
  /** pins an `executor` argument to the caller's scope (it names the caller's executor) */
  pinExecutorArg?: (executor: Value) => Value;
  /** pins an `executor` parameter's default to the declaring element's scope */
  pinExecutorDefault?: (executor: Value) => Value;
}

/** Binds arguments to declarations: every declared parameter gets a value or it is an error. */
export function bindArguments(defs: Map<string, ParameterDef>, args: ValueMap, ctx: BindContext): Map<string, Value> {
  const bound = new Map<string, Value>();
  for (const [name, value] of Object.entries(args)) {
    const pos = (ctx.argsMap && keyPos(ctx.argsMap, name)) ?? ctx.pos;
    const def = defs.get(name);
    if (!def) {
      const known = [...defs.keys()];
      throw configError(
        pos,
        `${ctx.owner} has no parameter "${name}"${didYouMean(name, known)}${known.length ? `; its parameters are: ${known.join(', ')}` : '; it takes no parameters'}`,
      );
    }
    let v = coerce(def, value, `argument "${name}" of ${ctx.owner}`, (ctx.argsMap && valuePos(ctx.argsMap, name)) ?? pos);
    if (def.type === 'steps' && ctx.expandStepsArg) v = ctx.expandStepsArg(v as Value[], pos);
    if (def.type === 'executor' && ctx.pinExecutorArg) v = ctx.pinExecutorArg(v);
    bound.set(name, v);
  }
  for (const def of defs.values()) {
    if (bound.has(def.name)) continue;
    if (!('default' in def)) {
      throw configError(ctx.pos, `${ctx.owner} requires the parameter "${def.name}" (${def.type}), which is not given`);
    }
    let v = def.default ?? null;
    if (def.type === 'executor' && v !== null && ctx.pinExecutorDefault) v = ctx.pinExecutorDefault(v);
    bound.set(def.name, v);
  }
  return bound;
}
