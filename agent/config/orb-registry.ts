/**
 * The local orb registry: orbs live as `<home>/orbs/<namespace>/<name>/<version>.yml`, where
 * home is `DECKHAND_HOME` (default `~/.deckhand`). CircleCI resolves `ns/name@version` from its
 * registry at compile time; nothing here ever reaches a network.
 */
import { mkdirSync, readdirSync, copyFileSync, existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { configError, type SourcePos } from './diagnostics.js';
import { isMapValue, loadYamlFile, type ValueMap } from './source.js';

export interface OrbRef {
  namespace: string;
  name: string;
  /** as written: exact `1.2.3`, partial `1.2` / `1`, or `volatile` */
  version: string;
}

const REF = /^([a-z0-9][a-z0-9_-]*)\/([a-z0-9][a-z0-9_-]*)@(volatile|dev:[\w.-]+|\d+(?:\.\d+){0,2})$/i;

export function deckhandHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.DECKHAND_HOME || join(homedir(), '.deckhand');
}

export function parseOrbRef(ref: string): OrbRef | undefined {
  const m = REF.exec(ref.trim());
  return m ? { namespace: m[1], name: m[2], version: m[3] } : undefined;
}

export function formatOrbRef(r: OrbRef): string {
  return `${r.namespace}/${r.name}@${r.version}`;
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
    if (r.version === 'volatile') return all.find((v) => /^\d/.test(v)) ?? all[0];
    if (all.includes(r.version)) return r.version;
    const parts = r.version.split('.');
    if (parts.length < 3) return all.find((v) => v.split('.').slice(0, parts.length).join('.') === r.version);
    return undefined;
  }

  /** Loads an orb's source, or fails naming the orb and the command that imports it. */
  load(r: OrbRef, usedAt?: SourcePos): { source: ValueMap; file: string; version: string } {
    const version = this.resolveVersion(r);
    if (version === undefined) {
      const have = this.versions(r);
      throw configError(
        usedAt,
        `orb ${formatOrbRef(r)} is not in the local orb registry (${this.root})${have.length ? `; versions there: ${have.join(', ')}` : ''}; import it with: deckhand orb import orb.yml --name ${formatOrbRef(r)}`,
      );
    }
    const file = join(this.dir(r), `${version}.yml`);
    const source = loadYamlFile(file, `${r.namespace}/${r.name}@${version}`);
    if (!isMapValue(source)) throw configError({ file, line: 1, col: 1 }, 'an orb must be a YAML map');
    return { source, file, version };
  }

  /** Copies an orb file into the registry after checking it parses as an orb. */
  import(file: string, r: OrbRef): string {
    if (!/^\d+\.\d+\.\d+$/.test(r.version) && !r.version.startsWith('dev:')) {
      throw configError(undefined, `import an orb under an exact version (like ${r.namespace}/${r.name}@1.0.0), not "${r.version}"`);
    }
    const source = loadYamlFile(file);
    if (!isMapValue(source)) throw configError({ file, line: 1, col: 1 }, 'an orb must be a YAML map');
    const known = new Set(['version', 'description', 'display', 'orbs', 'commands', 'jobs', 'executors', 'examples', 'parameters']);
    for (const key of Object.keys(source)) {
      if (!known.has(key)) throw configError({ file, line: 1, col: 1 }, `"${key}" is not an orb key; an orb has ${[...known].join(', ')}`);
    }
    mkdirSync(this.dir(r), { recursive: true });
    const dest = join(this.dir(r), `${r.version}.yml`);
    copyFileSync(file, dest);
    return dest;
  }

  /** Every stored orb as `ns/name@version`. */
  list(): string[] {
    if (!existsSync(this.root)) return [];
    const out: string[] = [];
    for (const ns of readdirSync(this.root).sort()) {
      for (const name of readdirSync(join(this.root, ns)).sort()) {
        for (const v of this.versions({ namespace: ns, name })) out.push(`${ns}/${name}@${v}`);
      }
    }
    return out;
  }
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
