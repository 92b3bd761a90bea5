/**
 * Every real config in ../shared/corpus/configs compiles — with the hand-written orb stand-ins of
 * test/fixtures/orbs imported into a fresh registry — or fails only because an orb is missing
 * from the registry, with that error. Every job of every workflow yields a schema-valid JobSpec.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { compileFile } from '../../agent/config/compile.js';
import { ConfigError } from '../../agent/config/diagnostics.js';
import { parseOrbRef, type OrbRegistry } from '../../agent/config/orb-registry.js';
import { processedYaml } from '../../agent/config/process-output.js';
import { toJobSpec } from '../../agent/config/to-jobspec.js';
import { parseJobSpec } from '../../agent/jobspec/validate.js';
import { emptyRegistry } from '../support/config.js';
import { hasShared, repoRoot, sharedDir } from '../support/shared.js';

interface StandIn {
  name: string;
  file: string;
  versions: string[];
}

function standInRegistry(): OrbRegistry {
  const reg = emptyRegistry();
  const dir = join(repoRoot(), 'test', 'fixtures', 'orbs');
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as StandIn[];
  for (const orb of manifest) {
    for (const v of orb.versions) {
      const ref = parseOrbRef(`${orb.name}@${v}`);
      assert.ok(ref, `manifest reference ${orb.name}@${v}`);
      // partial versions (`5`, `1.2`) and volatile resolve to the highest stored exact version
      reg.import(join(dir, orb.file), /^\d+\.\d+\.\d+$|^dev:/.test(v) ? ref : { ...ref, version: `${v}${'.0'.repeat(Math.max(0, 3 - v.split('.').length))}`.replace(/^volatile(\.0)*$/, '0.0.0') });
    }
  }
  return reg;
}

test('corpus: every real config compiles, or misses only an orb', { skip: !hasShared() && 'no ../shared here' }, () => {
  const dir = join(sharedDir(), 'corpus', 'configs');
  const files = readdirSync(dir).filter((f) => f.endsWith('.yml')).sort();
  assert.ok(files.length >= 50, `corpus has ${files.length} configs`);
  const registry = standInRegistry();
  let compiled = 0;
  let jobs = 0;
  const missingOrb: string[] = [];
  for (const f of files) {
    let result;
    try {
      result = compileFile(join(dir, f), { registry, branch: 'main', revision: 'f'.repeat(40) });
    } catch (err) {
      assert.ok(err instanceof ConfigError, `${f}: ${String(err)}`);
      assert.match(err.message, /orb \S+ is not in the local orb registry .* import it with: deckhand orb import/, `${f} failed for another reason:\n${err.message}`);
      missingOrb.push(f);
      continue;
    }
    compiled++;
    assert.match(processedYaml(result), /^version: 2$/m);
    for (const wf of result.workflows) {
      for (const wj of wf.jobs) {
        const key = wf.keys.get(wj.name);
        if (key === undefined) continue;
        const job = result.jobs.get(key)!;
        if (job.body.macos !== undefined) continue; // macOS jobs may carry macOS-only steps
        parseJobSpec(JSON.parse(JSON.stringify(toJobSpec(result, job, wj, wf.name))));
        jobs++;
      }
    }
  }
  process.stdout.write(`corpus: ${compiled}/${files.length} configs compiled, ${jobs} JobSpecs valid; missing orbs in: ${missingOrb.join(', ') || 'none'}\n`);
  assert.ok(compiled >= files.length - missingOrb.length);
});
