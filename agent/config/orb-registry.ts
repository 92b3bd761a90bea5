/**
 * The local orb registry: orbs live as `<home>/orbs/<namespace>/<name>/<version>.yml`, where
 * home is `DECKHAND_HOME` (default `~/.deckhand`). A reference resolves locally: `1.2.3` exactly,
 * `1.2` / `1` to the highest stored match, `volatile` to the highest stored version. Orbs fetched
 * from an orb registry (orb-fetch.ts) are stored here under the exact version the registry
 * answered, with a note of the reference it answered and where from (`fetched.json` beside them),
 * so the next compile needs no network. Nothing in this file reaches a network.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { configError, ConfigError, type SourcePos } from './diagnostics.js';
import { findIncludes, unresolvedInclude } from './includes.js';
import { isMapValue, keyPos, loadYaml, loadYamlFile, readConfigText, type ValueMap } from './source.js';

export interface OrbRef {
  namespace: string;
  name: string;
  /** as written: exact `1.2.3`, partial `1.2` / `1`, `volatile` (also for a reference without one), or `dev:label` */
  version: string;
}

/** Where an orb stored here came from, when it was fetched rather than imported. */
export interface FetchedFrom {
  /** the registry's host URL, e.g. https://circleci.com */
  registry: string;
  /** the reference as configs wrote it, e.g. circleci/node@5 */
  reference: string;
  /** ISO time */
  fetchedAt: string;
}

const REF = /^([a-z0-9][a-z0-9_-]*)\/([a-z0-9][a-z0-9_-]*)(?:@(volatile|dev:[\w.-]+|\d+(?:\.\d+){0,2}))?$/i;
const EXACT = /^\d+\.\d+\.\d+$/;

/** The keys an orb may have at its top level. */
export const ORB_KEYS = ['version', 'description', 'display', 'orbs', 'commands', 'executors', 'jobs', 'examples', 'parameters'];

export function deckhandHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.DECKHAND_HOME || join(homedir(), '.deckhand');
}

/** `ns/name@version`; without `@version` it means `@volatile`, as CircleCI's registry takes it. */
export function parseOrbRef(ref: string): OrbRef | undefined {
  const m = REF.exec(ref.trim());
  return m ? { namespace: m[1], name: m[2], version: m[3] ?? 'volatile' } : undefined;
}

export function formatOrbRef(r: OrbRef): string {
  return `${r.namespace}/${r.name}@${r.version}`;
}

/** Exact versions (and dev: labels) are what an orb is stored under. */
export function isExactVersion(version: string): boolean {
  return EXACT.test(version) || version.startsWith('dev:');
}

/** Does an exact version answer a reference (exact, partial, volatile or dev)? */
export function versionMatches(reference: string, exact: string): boolean {
  if (reference === exact) return true;
  if (reference === 'volatile') return EXACT.test(exact);
  if (reference.startsWith('dev:') || !EXACT.test(exact)) return false;
  const parts = reference.split('.');
  return parts.length < 3 && exact.split('.').slice(0, parts.length).join('.') === reference;
}

/**
 * An exact version that a reference takes, for the hint of `orb import` (which wants an exact
 * version): `5` → 5.0.0, `1.2` → 1.2.0, volatile → 1.0.0.
 */
export function importVersionFor(reference: string): string {
  if (isExactVersion(reference)) return reference;
  if (reference === 'volatile') return '1.0.0';
  return `${reference}${'.0'.repeat(3 - reference.split('.').length)}`;
}

/** The one line that says an orb is missing, why it could not be fetched, and two commands that add it. */
function missingOrbMessage(r: OrbRef, root: string, have: readonly string[], fetchProblem?: string): string {
  const ref = formatOrbRef(r);
  const versions = have.length ? `; versions there: ${have.join(', ')}` : '';
  const why = fetchProblem ? `; ${fetchProblem}` : '';
  return (
    `orb ${ref} is not in the local orb registry (${root})${versions}${why}; ` +
    `fetch it with: deckhand orb fetch ${ref}; or import its packed file or source folder with: deckhand orb import PATH --name ${r.namespace}/${r.name}@${importVersionFor(r.version)}`
  );
}

export class OrbRegistry {
  readonly root: string;
  constructor(home = deckhandHome()) {
    this.root = join(home, 'orbs');
  }

  private dir(r: Pick<OrbRef, 'namespace' | 'name'>): string {
    return join(this.root, r.namespace, r.name);
  }

  /** Versions stored for an orb, highest first. */
  versions(r: Pick<OrbRef, 'namespace' | 'name'>): string[] {
    const dir = this.dir(r);
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((f) => f.endsWith('.yml'))
      .map((f) => f.slice(0, -4))
      .sort(compareVersionsDesc);
  }

  /** The stored version a reference means: exact, highest matching partial, or highest for volatile. */
  resolveVersion(r: OrbRef): string | undefined {
    const all = this.versions(r);
    if (r.version === 'volatile') return all.find((v) => EXACT.test(v)) ?? all[0];
    return all.find((v) => versionMatches(r.version, v));
  }

  /** Loads an orb's source, or fails naming the orb, why it is missing and the commands that add it. */
  load(r: OrbRef, usedAt?: SourcePos, fetchProblem?: string): { source: ValueMap; file: string; version: string } {
    const version = this.resolveVersion(r);
    if (version === undefined) throw configError(usedAt, missingOrbMessage(r, this.root, this.versions(r), fetchProblem));
    const file = join(this.dir(r), `${version}.yml`);
    const source = loadYamlFile(file, `${r.namespace}/${r.name}@${version}`);
    if (!isMapValue(source)) throw configError({ file, line: 1, col: 1 }, 'an orb must be a YAML map');
    return { source, file, version };
  }

  /** Copies a packed orb file into the registry after checking it as an orb. */
  import(file: string, r: OrbRef): string {
    requireExact(r);
    return this.store(readConfigText(file), r, file);
  }

  /**
   * Stores an orb's packed source under an exact version, after checking that it is an orb with
   * nothing left to pack; `label` names it in messages. Written whole or not at all.
   */
  store(text: string, r: OrbRef, label: string, fetched?: FetchedFrom): string {
    requireExact(r);
    checkOrbSource(text, label);
    const dir = this.dir(r);
    mkdirSync(dir, { recursive: true });
    const dest = join(dir, `${r.version}.yml`);
    const partial = `${dest}.${process.pid}.partial`;
    writeFileSync(partial, text);
    renameSync(partial, dest);
    if (fetched) this.noteFetched(r, fetched);
    return dest;
  }

  /** Where each fetched version came from, by version. */
  fetchedFrom(r: Pick<OrbRef, 'namespace' | 'name'>): Record<string, FetchedFrom> {
    const file = join(this.dir(r), 'fetched.json');
    if (!existsSync(file)) return {};
    try {
      const v = JSON.parse(readFileSync(file, 'utf8')) as unknown;
      return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, FetchedFrom>) : {};
    } catch {
      // a damaged note loses only provenance, never an orb
      return {};
    }
  }

  private noteFetched(r: OrbRef, fetched: FetchedFrom): void {
    const notes = { ...this.fetchedFrom(r), [r.version]: fetched };
    const file = join(this.dir(r), 'fetched.json');
    const partial = `${file}.${process.pid}.partial`;
    writeFileSync(partial, `${JSON.stringify(notes, null, 2)}\n`);
    renameSync(partial, file);
  }

  /** Every stored orb as `ns/name@version`, with where a fetched one came from. */
  list(): { ref: string; fetched?: FetchedFrom }[] {
    if (!existsSync(this.root)) return [];
    const out: { ref: string; fetched?: FetchedFrom }[] = [];
    for (const ns of readdirSync(this.root).sort()) {
      for (const name of readdirSync(join(this.root, ns)).sort()) {
        const notes = this.fetchedFrom({ namespace: ns, name });
        for (const v of this.versions({ namespace: ns, name })) out.push({ ref: `${ns}/${name}@${v}`, ...(notes[v] ? { fetched: notes[v] } : {}) });
      }
    }
    return out;
  }
}

function requireExact(r: OrbRef): void {
  if (!isExactVersion(r.version)) {
    throw configError(undefined, `an orb is stored under an exact version (like ${r.namespace}/${r.name}@${importVersionFor(r.version)}), not "${r.version}"`);
  }
}

/** Parses an orb's packed source and checks its top-level keys and that no `<<include(…)>>` is left. */
function checkOrbSource(text: string, label: string): ValueMap {
  const source = loadYaml(text, { file: label });
  if (!isMapValue(source)) throw configError({ file: label, line: 1, col: 1 }, 'an orb must be a YAML map (with commands, jobs, executors…)');
  for (const key of Object.keys(source)) {
    if (!ORB_KEYS.includes(key)) throw configError(keyPos(source, key) ?? { file: label, line: 1, col: 1 }, `"${key}" is not an orb key; an orb has ${ORB_KEYS.join(', ')}`);
  }
  // examples are documentation, never compiled, and circleci orb pack leaves them as written
  const { examples: _examples, ...compiled } = source;
  const includes = findIncludes(compiled, { file: label, line: 1, col: 1 });
  if (includes.length > 0) throw new ConfigError(includes.map((i) => unresolvedInclude(i.body, i.pos).diagnostics[0]));
  return source;
}

function compareVersionsDesc(a: string, b: string): number {
  const pa = a.split('.').map((x) => Number.parseInt(x, 10));
  const pb = b.split('.').map((x) => Number.parseInt(x, 10));
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pb[i] || 0) - (pa[i] || 0);
    if (d !== 0 && !Number.isNaN(d)) return d;
  }
  return b.localeCompare(a);
}
