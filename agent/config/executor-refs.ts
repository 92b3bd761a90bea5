/**
 * The values of `executor` parameters. Such a value names an executor of the scope that passed it
 * (the config passing `{name: vale/default}` to an orb job names the config's orb alias), not of
 * the scope that declares the parameter; a default names one of the declaring element's own. Each
 * value is pinned to the scope its name is looked up in, so that `executor: << parameters.e >>`
 * finds the right one and a logic statement can compare it with the executor it names.
 */
import { lookup, type Scope } from './scope.js';
import { copyPos, isMapValue, type Value, type ValueMap } from './source.js';

const pinned = new WeakMap<object, Scope>();

/** `v` (a name or `{name, …args}`) as a reference looked up in `scope`; a value already pinned keeps its scope. */
export function pinExecutorRef(v: Value, scope: Scope): Value {
  if (isMapValue(v) && pinned.has(v)) return v;
  if (typeof v !== 'string' && !isMapValue(v)) return v;
  const ref: ValueMap = typeof v === 'string' ? { name: v } : { ...v };
  copyPos(v, ref);
  pinned.set(ref, scope);
  return ref;
}

/** The scope an executor parameter's value names its executor in, if it is one. */
export function executorRefScope(v: Value): Scope | undefined {
  return isMapValue(v) ? pinned.get(v) : undefined;
}

/** The definition, as written, of the executor an executor parameter's value names (undefined for other values). */
export function executorDefinitionOf(v: Value): ValueMap | undefined {
  const scope = executorRefScope(v);
  if (!scope || !isMapValue(v) || typeof v.name !== 'string') return undefined;
  return lookup(scope, 'executors', v.name)?.def;
}

/** An executor reference written into a string is its name (as it was given). */
export function executorRefName(v: Value): string | undefined {
  return executorRefScope(v) !== undefined && isMapValue(v) && typeof v.name === 'string' ? v.name : undefined;
}
