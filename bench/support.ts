/** Shared bits of the benchmarks: timing and the stand-in orb registry. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { OrbRegistry, parseOrbRef } from '../agent/config/orb-registry.js';

/** Median wall time in milliseconds of `runs` calls of fn (after `warmup` unmeasured calls). */
export async function median(runs: number, fn: () => unknown | Promise<unknown>, warmup = 3): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

export const repo = new URL('..', new URL('..', import.meta.url)).pathname;

/** A fresh registry holding the test stand-ins under every version the corpus asks for. */
export function standInRegistry(): OrbRegistry {
  const reg = new OrbRegistry(mkdtempSync(join(tmpdir(), 'deckhand-bench-home-')));
  const dir = join(repo, 'test', 'fixtures', 'orbs');
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { name: string; file: string; versions: string[] }[];
  for (const orb of manifest) {
    for (const v of orb.versions) {
      const exact = /^\d+\.\d+\.\d+$|^dev:/.test(v) ? v : v === 'volatile' ? '0.0.0' : `${v}${'.0'.repeat(3 - v.split('.').length)}`;
      reg.import(join(dir, orb.file), parseOrbRef(`${orb.name}@${exact}`)!);
    }
  }
  return reg;
}
