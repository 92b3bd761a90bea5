/**
 * Name scopes. The config and every orb is a scope of commands, executors and jobs; a scope's
 * orbs are child scopes reached as `alias/element`. An element is always expanded in the scope
 * it was defined in, so an orb's command finds the orb's own commands and imported orbs.
 */
import { ConfigError, configError, type Diagnostic, type SourcePos } from './diagnostics.js';
import { formatOrbRef, parseOrbRef, type OrbRef, type OrbRegistry } from './orb-registry.js';
import { isMapValue, keyPos, valuePos, type ValueMap } from './source.js';
import { didYouMean } from './suggest.js';

export type ElementKind = 'commands' | 'executors' | 'jobs';

export interface Scope {
  /** for messages: `the config` or `orb circleci/node@5.0.2` */
  label: string;
  /** prefix of qualified names, e.g. `node/` (empty for the config itself) */
  prefix: string;
  commands: Map<string, ValueMap>;
  executors: Map<string, ValueMap>;
  jobs: Map<string, ValueMap>;
  orbs: Map<string, Scope>;
  /** an orb that could not be loaded stands as an empty scope that answers every use with this */
  unavailable?: Diagnostic;
}

export interface Resolved {
  def: ValueMap;
  /** the scope the element is defined in (and expands in) */
  scope: Scope;
  /** `node/install` for an orb command used from the config */
  qualifiedName: string;
}

const SINGULAR: Record<ElementKind, string> = { commands: 'command', executors: 'executor', jobs: 'job' };

export interface ScopeBuilder {
  registry: OrbRegistry;
  /** orbs already loaded, by resolved reference, so a diamond loads each orb once */
  cache: Map<string, Scope>;
  /** why orbs could not be fetched, by reference as written (`circleci/node@5`): added to their message */
  fetchProblems?: ReadonlyMap<string, string>;
  /**
   * When set, an orb that cannot be loaded is reported here and the build goes on without it
   * (every use of it then fails with the same problem), so that one run can report every missing
   * orb; otherwise the first one fails the build.
   */
  unavailable?: (ref: OrbRef, problem: ConfigError) => void;
}

export function buildScope(source: ValueMap, label: string, prefix: string, builder: ScopeBuilder, chain: string[] = []): Scope {
  const scope: Scope = {
    label,
    prefix,
    commands: elements(source, 'commands', label),
    executors: elements(source, 'executors', label),
    jobs: elements(source, 'jobs', label),
    orbs: new Map(),
  };
  const orbs = source.orbs;
  if (orbs === undefined || orbs === null) return scope;
  if (!isMapValue(orbs)) throw configError(valuePos(source, 'orbs'), `"orbs" in ${label} must be a map of alias: orb`);
  for (const [alias, spec] of Object.entries(orbs)) {
    const pos = valuePos(orbs, alias);
    const childPrefix = `${prefix}${alias}/`;
    if (isMapValue(spec)) {
      scope.orbs.set(alias, buildScope(spec, `inline orb "${alias}"`, childPrefix, builder, chain));
      continue;
    }
    if (typeof spec !== 'string') throw configError(pos, `orb "${alias}" must be "namespace/name@version" or an inline orb map`);
    const ref = parseOrbRef(spec);
    if (!ref) throw configError(pos, `orb "${alias}" is "${spec}"; write it as namespace/name@version, e.g. circleci/node@5.1.0`);
    const key = formatOrbRef(ref);
    if (chain.includes(key)) throw configError(pos, `orbs import each other in a cycle: ${[...chain, key].join(' → ')}`);
    let child = builder.cache.get(key);
    if (!child) {
      try {
        const loaded = builder.registry.load(ref, pos, builder.fetchProblems?.get(key));
        child = buildScope(loaded.source, `orb ${ref.namespace}/${ref.name}@${loaded.version}`, childPrefix, builder, [...chain, key]);
      } catch (err) {
        if (!(err instanceof ConfigError) || !builder.unavailable) throw err;
        builder.unavailable(ref, err);
        child = { label: `orb ${key}`, prefix: childPrefix, commands: new Map(), executors: new Map(), jobs: new Map(), orbs: new Map(), unavailable: err.diagnostics[0] };
      }
      builder.cache.set(key, child);
    }
    scope.orbs.set(alias, child);
  }
  return scope;
}

function elements(source: ValueMap, kind: ElementKind, label: string): Map<string, ValueMap> {
  const out = new Map<string, ValueMap>();
  const section = source[kind];
  if (section === undefined || section === null) return out;
  if (!isMapValue(section)) throw configError(valuePos(source, kind), `"${kind}" in ${label} must be a map of name: definition`);
  for (const [name, def] of Object.entries(section)) {
    if (!isMapValue(def)) {
      throw configError(valuePos(section, name) ?? keyPos(section, name), `${SINGULAR[kind]} "${name}" in ${label} must be a map`);
    }
    out.set(name, def);
  }
  return out;
}

/** Finds `name` or `alias/name` in a scope; undefined when it does not exist. */
export function lookup(scope: Scope, kind: ElementKind, name: string): Resolved | undefined {
  const slash = name.indexOf('/');
  if (slash < 0) {
    const def = scope[kind].get(name);
    return def ? { def, scope, qualifiedName: name } : undefined;
  }
  const orb = scope.orbs.get(name.slice(0, slash));
  if (!orb) return undefined;
  const inner = lookup(orb, kind, name.slice(slash + 1));
  return inner ? { ...inner, qualifiedName: `${name.slice(0, slash)}/${inner.qualifiedName}` } : undefined;
}

/** Like lookup, but an unknown name is a positioned error with a suggestion. */
export function resolve(scope: Scope, kind: ElementKind, name: string, pos: SourcePos | undefined, extra: string[] = []): Resolved {
  const found = lookup(scope, kind, name);
  if (found) return found;
  const slash = name.indexOf('/');
  const orb = slash >= 0 ? scope.orbs.get(name.slice(0, slash)) : undefined;
  // a use of an orb that could not be loaded: the orb's own problem, once (repeats are merged)
  if (orb?.unavailable) throw new ConfigError(orb.unavailable);
  if (slash >= 0 && !orb) {
    const alias = name.slice(0, slash);
    throw configError(pos, `"${name}" uses orb "${alias}", which ${scope.label} does not import${didYouMean(alias, scope.orbs.keys())}; add it under orbs:`);
  }
  throw configError(pos, `${SINGULAR[kind]} "${name}" is not defined in ${scope.label}${didYouMean(name, [...names(scope, kind), ...extra])}`);
}

/** Every name of a kind reachable from a scope, for suggestions. */
export function names(scope: Scope, kind: ElementKind): string[] {
  const out = [...scope[kind].keys()];
  for (const [alias, orb] of scope.orbs) for (const n of orb[kind].keys()) out.push(`${alias}/${n}`);
  return out;
}

