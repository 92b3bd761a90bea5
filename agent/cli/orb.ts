/** `deckhand orb import|list`: the local orb registry. */
import { existsSync } from 'node:fs';
import { OrbRegistry, parseOrbRef } from '../config/orb-registry.js';
import { UsageError } from '../errors.js';

export function orbImportCommand(file: string, name: string): number {
  const ref = parseOrbRef(name);
  if (!ref) throw new UsageError(`--name ${name}: write it as namespace/name@version, e.g. circleci/node@5.1.0`);
  if (!existsSync(file)) throw new UsageError(`orb file ${file} does not exist`);
  const registry = new OrbRegistry();
  const dest = registry.import(file, ref);
  process.stdout.write(`imported ${name} → ${dest}\n`);
  return 0;
}

export function orbListCommand(): number {
  const registry = new OrbRegistry();
  const all = registry.list();
  if (all.length === 0) process.stdout.write(`no orbs in ${registry.root}; add one with: deckhand orb import FILE --name ns/name@version\n`);
  for (const o of all) process.stdout.write(`${o}\n`);
  return 0;
}
