/**
 * Compile time of a large generated config (bench/large-config.ts: over 200 KB, several hundred
 * jobs once matrices are expanded) against the floor of parsing the same text with the `yaml`
 * package alone, in the same run. The two are timed in turns, so that a busy machine slows both
 * alike; the figure is the ratio of their medians (wall time, and CPU time of this process).
 * Target: under 2.5x the floor.
 */
import { parse } from 'yaml';
import { compileText } from '../agent/config/compile.js';
import { emptyRegistry } from '../test/support/config.js';
import { largeConfig } from './large-config.js';
import { middle } from './support.js';

const text = largeConfig();
const registry = emptyRegistry();
const result = compileText(text, 'large.yml', { registry, branch: 'main' });
const runs = Number(process.env.RUNS ?? 25);

const floor = { wall: [] as number[], cpu: [] as number[] };
const compile = { wall: [] as number[], cpu: [] as number[] };
function time(into: { wall: number[]; cpu: number[] }, fn: () => unknown): void {
  const cpu = process.cpuUsage();
  const t = process.hrtime.bigint();
  fn();
  into.wall.push(Number(process.hrtime.bigint() - t) / 1e6);
  const used = process.cpuUsage(cpu);
  into.cpu.push((used.user + used.system) / 1000);
}
for (let i = 0; i < 3; i++) {
  parse(text, { merge: true, maxAliasCount: -1 });
  compileText(text, 'large.yml', { registry, branch: 'main' });
}
for (let i = 0; i < runs; i++) {
  time(floor, () => parse(text, { merge: true, maxAliasCount: -1 }));
  time(compile, () => compileText(text, 'large.yml', { registry, branch: 'main' }));
}

console.log(JSON.stringify({
  bench: 'compile-large',
  bytes: Buffer.byteLength(text),
  lines: text.split('\n').length,
  jobs: result.jobs.size,
  runs,
  floorYamlParseMs: +middle(floor.wall).toFixed(1),
  compileMs: +middle(compile.wall).toFixed(1),
  ratio: +(middle(compile.wall) / middle(floor.wall)).toFixed(2),
  cpuRatio: +(middle(compile.cpu) / middle(floor.cpu)).toFixed(2),
  target: '< 2.5x',
}));
