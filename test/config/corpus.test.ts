/**
 * Every real config of the test corpus (its `configs/`, see test/support/corpus.ts) compiles —
 * with the hand-written orb stand-ins of test/fixtures/orbs imported into a fresh registry — or
 * fails only because an orb is missing from the registry, with that error. Every job of every
 * workflow yields a schema-valid JobSpec.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { compileFile } from '../../agent/config/compile.js';
import { ConfigError } from '../../agent/config/diagnostics.js';
import { processedYaml } from '../../agent/config/process-output.js';
import { toJobSpec } from '../../agent/config/to-jobspec.js';
import { parseJobSpec } from '../../agent/jobspec/validate.js';
import { corpusPath, corpusSkip } from '../support/corpus.js';
import { standInRegistry } from '../support/stand-ins.js';

test('corpus: every real config compiles, or misses only an orb', { skip: corpusSkip() }, () => {
  const dir = corpusPath('configs');
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
      assert.match(err.message, /orb \S+ is not in the local orb registry .*; fetch it with: deckhand orb fetch /, `${f} failed for another reason:\n${err.message}`);
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
  // the stand-ins cover every orb the corpus imports, so every config must compile fully
  assert.deepEqual(missingOrb, [], 'configs that need an orb with no stand-in');
  assert.equal(compiled, files.length);
});
