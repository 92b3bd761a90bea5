/**
 * Compile time of the largest corpus config against the floor of parsing the same file with the
 * `yaml` package alone, in the same run. Target: under 3x the floor.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { compileText } from '../agent/config/compile.js';
import { corpusPath } from '../test/support/corpus.js';
import { median, standInRegistry } from './support.js';

const dir = corpusPath('configs');
const largest = readdirSync(dir)
  .filter((f) => f.endsWith('.yml'))
  .map((f) => ({ f, size: statSync(join(dir, f)).size }))
  .sort((a, b) => b.size - a.size)[0];
const text = readFileSync(join(dir, largest.f), 'utf8');
const registry = standInRegistry();
const runs = 40;

const floor = await median(runs, () => parse(text, { merge: true, maxAliasCount: -1 }));
const compile = await median(runs, () => compileText(text, largest.f, { registry, branch: 'main' }));
const result = compileText(text, largest.f, { registry, branch: 'main' });

console.log(JSON.stringify({
  bench: 'compile',
  config: largest.f,
  bytes: largest.size,
  jobs: result.jobs.size,
  floorYamlParseMs: +floor.toFixed(2),
  compileMs: +compile.toFixed(2),
  ratio: +(compile / floor).toFixed(2),
  target: '< 3x',
}));
