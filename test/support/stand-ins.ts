/**
 * A fresh orb registry holding the hand-written stand-ins of test/fixtures/orbs under every
 * version the corpus asks for. Partial versions (`5`, `1.2`) are stored as `5.0.0`, `1.2.0` and
 * `volatile` as `0.0.0`, so each reference resolves to its stand-in.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseOrbRef, type OrbRegistry } from '../../agent/config/orb-registry.js';
import { emptyRegistry } from './config.js';
import { repoRoot } from './repo-root.js';

interface StandIn {
  name: string;
  file: string;
  versions: string[];
}

function exactVersion(v: string): string {
  if (/^\d+\.\d+\.\d+$/.test(v) || v.startsWith('dev:')) return v;
  if (v === 'volatile') return '0.0.0';
  return `${v}${'.0'.repeat(3 - v.split('.').length)}`;
}

export function standInRegistry(): OrbRegistry {
  const reg = emptyRegistry();
  const dir = join(repoRoot(), 'test', 'fixtures', 'orbs');
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as StandIn[];
  for (const orb of manifest) {
    for (const v of orb.versions) {
      const ref = parseOrbRef(`${orb.name}@${exactVersion(v)}`);
      if (!ref) throw new Error(`test/fixtures/orbs/manifest.json: bad reference ${orb.name}@${v}`);
      reg.import(join(dir, orb.file), ref);
    }
  }
  return reg;
}
