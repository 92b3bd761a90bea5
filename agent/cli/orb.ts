/** `deckhand orb import|pack|fetch|list`: the local orb registry, filled from files, source folders or an orb registry. */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { formatDiagnostic } from '../config/diagnostics.js';
import { packOrb } from '../config/orb-pack.js';
import { deckhandHome, formatOrbRef, importVersionFor, isExactVersion, OrbRegistry, parseOrbRef } from '../config/orb-registry.js';
import { fetchInto } from '../config/orb-resolve.js';
import { UsageError } from '../errors.js';
import { fetchedLine, orbSource, type OrbFlags } from './orb-access.js';

function registry(): OrbRegistry {
  return new OrbRegistry(deckhandHome(process.env));
}

/** A source folder must hold @orb.yml; saying so here makes a wrong folder a usage error, not a config problem. */
function sourceFolder(path: string): boolean {
  if (!existsSync(path)) throw new UsageError(`${path} does not exist: give an orb's packed file (orb.yml) or its source folder (the one holding @orb.yml)`);
  if (!statSync(path).isDirectory()) return false;
  if (!existsSync(join(path, '@orb.yml'))) {
    throw new UsageError(`${path} is a folder without @orb.yml: give the orb's source folder (where @orb.yml, commands/, jobs/… are; often src/) or its packed file`);
  }
  return true;
}

export function orbImportCommand(path: string, name: string): number {
  const ref = parseOrbRef(name);
  if (!ref || !name.includes('@')) throw new UsageError(`--name ${name}: write it as namespace/name@version, e.g. circleci/node@5.1.0`);
  if (!isExactVersion(ref.version)) {
    throw new UsageError(`--name ${name}: an orb is imported under an exact version (like ${ref.namespace}/${ref.name}@${importVersionFor(ref.version)}), which also answers @${ref.version}`);
  }
  const reg = registry();
  let dest: string;
  if (sourceFolder(path)) {
    const packed = packOrb(path);
    for (const w of packed.warnings) process.stderr.write(`${formatDiagnostic(w)}\n`);
    dest = reg.store(packed.text, ref, `${formatOrbRef(ref)} (packed from ${path})`);
  } else {
    dest = reg.import(path, ref);
  }
  process.stdout.write(`imported ${formatOrbRef(ref)} → ${dest}\n`);
  return 0;
}

export function orbPackCommand(dir: string): number {
  if (!sourceFolder(dir)) throw new UsageError(`${dir} is a file; orb pack takes an orb's source folder (the one holding @orb.yml)`);
  const packed = packOrb(dir);
  for (const w of packed.warnings) process.stderr.write(`${formatDiagnostic(w)}\n`);
  process.stdout.write(packed.text);
  return 0;
}

export async function orbFetchCommand(refs: string[], flags: OrbFlags): Promise<number> {
  const parsed = refs.map((r) => {
    const ref = parseOrbRef(r);
    if (!ref) throw new UsageError(`${r}: write an orb reference as namespace/name@version (e.g. circleci/node@5, circleci/node@5.1.0, circleci/node@volatile)`);
    return ref;
  });
  const source = orbSource(flags, process.env);
  const reg = registry();
  for (const ref of parsed) process.stderr.write(fetchedLine(await fetchInto(ref, source, reg)));
  return 0;
}

export function orbListCommand(): number {
  const reg = registry();
  const all = reg.list();
  if (all.length === 0) process.stdout.write(`no orbs in ${reg.root}; add one with: deckhand orb fetch ns/name@version, or deckhand orb import PATH --name ns/name@version\n`);
  for (const o of all) process.stdout.write(o.fetched ? `${o.ref}\tfetched for ${o.fetched.reference} from ${o.fetched.registry}\n` : `${o.ref}\n`);
  return 0;
}
