/**
 * How fast the compiler refuses configs that expand past its limits (agent/config/limits.ts),
 * against the floor of parsing the same text with the `yaml` package alone, in the same run:
 * commands that run each other twice per level (2^22 steps asked for, 1 KB of text), a matrix of
 * 10^6 combinations, and 100,000 nested lists (where yaml.parse itself fails on the stack, so its
 * floor is that failure). Counting while expanding means a refusal costs the work up to the
 * limit, so each is also compared with compiling a config just under it (50,000 steps; 10,000
 * jobs). All are timed in turns; medians of wall time. The generators are the tests' own
 * (test/support/expanding-configs.ts). Target: each refusal under 250 ms, and no slower than
 * compiling the config just under the limit.
 */
import { parse } from 'yaml';
import { compileText } from '../agent/config/compile.js';
import { ConfigError } from '../agent/config/diagnostics.js';
import { emptyRegistry } from '../test/support/config.js';
import { doublingCommands, levelsFor, matrixConfig, nestedFlowLists } from '../test/support/expanding-configs.js';
import { middle } from './support.js';

const runs = Number(process.env.RUNS ?? 15);
const registry = emptyRegistry();

const cases: { name: string; text: string; underLimit?: string }[] = [
  { name: '2^22 steps (commands twice per level)', text: doublingCommands([22]).text, underLimit: doublingCommands(levelsFor(50_000)).text },
  { name: '10^6 matrix combinations', text: matrixConfig([10, 10, 10, 10, 10, 10]).text, underLimit: matrixConfig([100, 100]).text },
  { name: '100,000 nested lists', text: nestedFlowLists(100_000) },
];

function ms(fn: () => unknown): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

/** The compile, which must fail with a ConfigError (anything else is a broken benchmark). */
function refuse(text: string): string {
  try {
    compileText(text, 'config.yml', { registry, branch: 'main' });
  } catch (err) {
    if (err instanceof ConfigError) return err.diagnostics[0].message;
    throw err;
  }
  throw new Error('the config compiled; it should have been refused');
}

/** yaml.parse of the text; the nest makes it throw, which is as far as it gets. */
function floor(text: string): void {
  try {
    parse(text, { merge: true, maxAliasCount: -1 });
  } catch {
    // the yaml package's own failure on 100,000 levels
  }
}

const compileUnder = (text: string) => compileText(text, 'config.yml', { registry, branch: 'main' });

const results = cases.map(({ name, text, underLimit }) => {
  for (let i = 0; i < 3; i++) {
    floor(text);
    refuse(text);
    if (underLimit) compileUnder(underLimit);
  }
  const floors: number[] = [];
  const refusals: number[] = [];
  const unders: number[] = [];
  for (let i = 0; i < runs; i++) {
    floors.push(ms(() => floor(text)));
    refusals.push(ms(() => refuse(text)));
    if (underLimit) unders.push(ms(() => compileUnder(underLimit)));
  }
  const refusal = middle(refusals);
  return {
    case: name,
    bytes: Buffer.byteLength(text),
    floorYamlParseMs: +middle(floors).toFixed(2),
    refuseMs: +refusal.toFixed(2),
    ratio: +(refusal / middle(floors)).toFixed(3),
    ...(underLimit ? { compileJustUnderMs: +middle(unders).toFixed(2) } : {}),
    message: refuse(text).slice(0, 80),
  };
});

console.log(JSON.stringify({ bench: 'compile-bounds', runs, results, target: '< 250 ms each, and no slower than compiling just under the limit' }));
