/**
 * The compiler's bounds on expansion (agent/config/limits.ts): a config past one is refused with
 * the position that crosses it and the count, in bounded time and memory; one just under each
 * still compiles. Times here are generous (a loaded machine must not fail them); the speed itself
 * is measured by bench/compile-bounds.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compileText } from '../../agent/config/compile.js';
import { ConfigError } from '../../agent/config/diagnostics.js';
import { LIMITS, LimitError } from '../../agent/config/limits.js';
import { assertConfigError, compile, emptyRegistry, yaml } from '../support/config.js';
import { doublingCommands, doublingString, levelsFor, matrixConfig } from '../support/expanding-configs.js';

/** Runs fn, returning what it threw and how long it took and how much heap it grew. */
function timed(fn: () => unknown): { err: unknown; ms: number; heapGrowthMb: number } {
  global.gc?.();
  const heap = process.memoryUsage().heapUsed;
  const started = performance.now();
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  return { err, ms: performance.now() - started, heapGrowthMb: (process.memoryUsage().heapUsed - heap) / 1048576 };
}

function firstProblem(err: unknown): { line?: number; col?: number; message: string } {
  assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
  const d = err.diagnostics[0];
  return { line: d.pos?.line, col: d.pos?.col, message: d.message };
}

describe('steps per job', () => {
  test('commands that run each other twice per level (2^22 steps) are refused at the job\'s step, with the count, quickly', () => {
    const { text, jobStepLine } = doublingCommands([22]);
    assert.ok(text.length < 1300, `a small config: ${text.length} bytes`);
    const r = timed(() => compile(text));
    const p = firstProblem(r.err);
    assert.equal(p.line, jobStepLine);
    assert.equal(p.col, 7);
    assert.match(p.message, /^job "build" expands to more than 50,000 steps, the most a job may have; step 50,001 came from c22 → c21 → c20 → … → c1 → c0/);
    assert.ok(r.ms < 10_000, `refused in ${r.ms.toFixed(0)} ms`);
    assert.ok(r.heapGrowthMb < 300, `heap grew ${r.heapGrowthMb.toFixed(0)} MB`);
  });

  test('a job of exactly 50,000 steps compiles; one more step is refused', () => {
    const levels = levelsFor(LIMITS.stepsPerJob);
    const ok = compile(doublingCommands(levels).text);
    assert.equal((ok.jobs.get('build')!.body.steps as unknown[]).length, LIMITS.stepsPerJob);
    const over = doublingCommands(levels, 1);
    assertConfigError(() => compile(over.text), over.jobStepLine + levels.length, 7, /^job "build" expands to more than 50,000 steps/);
  });

  test('a steps argument counts where it is spliced in, each time', () => {
    const text = yaml`
      version: 2.1
      commands:
        twice:
          parameters: {s: {type: steps}}
          steps: [<< parameters.s >>, << parameters.s >>]
      jobs:
        build:
          docker: [{image: x}]
          steps:
            - twice: {s: [{run: a}, {run: b}, {run: c}]}
      workflows: {main: {jobs: [build]}}
    `;
    const compiled = compile(text);
    assert.equal((compiled.jobs.get('build')!.body.steps as unknown[]).length, 6);
    // the call and the six steps it splices in: the argument's own expansion is not counted apart
    assert.equal(compiled.expanded.expansions, 7);
  });

  test('a steps argument past the limit on its own is refused while it is expanded', () => {
    const { text } = doublingCommands([17]);
    const withArg = text.replace('commands:\n', 'commands:\n  hold:\n    parameters: {s: {type: steps}}\n    steps: [run: nothing]\n').replace('    - c17\n', '    - hold: {s: [c17]}\n');
    assertConfigError(() => compile(withArg), undefined, undefined, /^job "build" expands to more than 50,000 steps/);
  });
});

describe('jobs per config', () => {
  test('a matrix of 10^6 combinations is refused at its "matrix:" with the count, at once', () => {
    const { text, matrixLine } = matrixConfig([10, 10, 10, 10, 10, 10]);
    const r = timed(() => compile(text));
    const p = firstProblem(r.err);
    assert.ok(r.err instanceof LimitError);
    assert.equal(p.line, matrixLine);
    assert.match(p.message, /^the matrix of job "build" in workflow "main" makes 1,000,000 jobs \(10 × 10 × 10 × 10 × 10 × 10 combinations\); a config may have at most 10,000 jobs/);
    assert.ok(r.ms < 5_000, `refused in ${r.ms.toFixed(0)} ms`);
    assert.ok(r.heapGrowthMb < 100, `heap grew ${r.heapGrowthMb.toFixed(0)} MB`);
  });

  test('a matrix of exactly 10,000 jobs compiles; one job more is refused at its entry', () => {
    const ok = compile(matrixConfig([100, 100]).text);
    assert.equal(ok.workflows[0].jobs.length, LIMITS.jobsPerPipeline);
    const over = matrixConfig([100, 100], ['      - build:', '          name: one-more']);
    const line = over.text.split('\n').lastIndexOf('      - build:') + 1;
    assertConfigError(() => compile(over.text), line, 9, /^workflow "main" adds 1 job here, which brings the config to 10,001 jobs; a config may have at most 10,000/);
  });

  test('jobs of all workflows count together', () => {
    const { text } = matrixConfig([100, 96]);
    const twice = text.replace('workflows:\n  main:\n', 'workflows:\n  second:\n    jobs:\n      - build:\n          matrix:\n            parameters: {p0: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], p1: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41]}\n  main:\n');
    assertConfigError(() => compile(twice), undefined, undefined, /makes 9,600 jobs \(100 × 96 combinations\), and the config has 410 jobs before it; a config may have at most 10,000/);
  });

  test('exclude entries times combinations are bounded before they are compared', () => {
    const excludes = Array.from({ length: 200 }, (_, i) => `              - {p0: ${i % 100}, p1: ${Math.floor(i / 100)}}`);
    const { text } = matrixConfig([100, 100], []);
    const withExcludes = `${text.trimEnd()}\n            exclude:\n${excludes.join('\n')}\n`;
    assertConfigError(() => compile(withExcludes), undefined, undefined, /^the matrix of job "build" has 200 exclude entries for 10,000 combinations; at most 1,000,000/);
  });
});

describe('the whole config', () => {
  test('steps and command calls of all jobs together are bounded; config validate stops at that limit', () => {
    const entries = Array.from({ length: 8 }, (_, i) => `      - build: {name: b${i}}`);
    const { text, jobStepLine } = doublingCommands(levelsFor(40_000), 0, entries);
    const r = timed(() => compileText(text, 'config.yml', { registry: emptyRegistry(), collectProblems: true }));
    assert.ok(r.err instanceof ConfigError);
    // one problem: the compile does not go on to fail every later job the same way
    assert.equal(r.err.diagnostics.length, 1, r.err.message);
    const p = firstProblem(r.err);
    assert.equal(p.line, jobStepLine);
    assert.match(p.message, /^the config expands to more than 250,000 steps, command calls and when\/unless steps in all its jobs together \(the limit\), here while expanding job "b\d"/);
    assert.ok(r.ms < 10_000, `refused in ${r.ms.toFixed(0)} ms`);
  });

  test('a string doubled at every command call is refused by the characters << >> writes', () => {
    const r = timed(() => compile(doublingString(40)));
    assert.match(firstProblem(r.err).message, /^<< >> substitutions write more than 16,777,216 characters in all/);
    assert.ok(r.heapGrowthMb < 400, `heap grew ${r.heapGrowthMb.toFixed(0)} MB`);
  });

  test('requirements on a matrix alias from every job of another matrix are bounded', () => {
    const values = Array.from({ length: 400 }, (_, i) => i).join(', ');
    const text = yaml`
      version: 2.1
      jobs:
        a:
          parameters: {p: {type: integer}}
          docker: [{image: x}]
          steps: [checkout]
      workflows:
        w:
          jobs:
            - a: {name: x-<< matrix.p >>, matrix: {alias: xs, parameters: {p: [${values}]}}}
            - a: {name: y-<< matrix.p >>, requires: [xs], matrix: {parameters: {p: [${values}]}}}
    `;
    assertConfigError(() => compile(text), 11, 9, /^job "y-250" of workflow "w" brings the config to 100,400 requirements between jobs once matrix aliases are expanded; a config may have at most 100,000/);
  });

  test('a chain of 9,000 requirements compiles (no recursion as deep as the chain), and a cycle at its end is found', () => {
    const entries = ['      - a: {name: j0}'];
    for (let i = 1; i < 9000; i++) entries.push(`      - a: {name: j${i}, requires: [j${i - 1}]}`);
    const text = ['version: 2.1', 'jobs:', '  a:', '    docker: [{image: x}]', '    steps: [checkout]', 'workflows:', '  w:', '    jobs:', ...entries, ''].join('\n');
    assert.equal(compile(text).workflows[0].jobs.length, 9000);
    const cyclic = text.replace('- a: {name: j0}', '- a: {name: j0, requires: [j8999]}');
    assertConfigError(() => compile(cyclic), undefined, undefined, /^jobs of workflow "w" require each other in a cycle: j0 → j8999 → j8998 → /);
  });

  test('steps nested past the limit (commands inside when steps inside commands…) are refused, not a stack overflow', () => {
    const nest = (commands: number): string => {
      const out = ['version: 2.1', 'commands:'];
      for (let i = 0; i < commands; i++) {
        let body = i + 1 < commands ? `c${i + 1}` : '{run: echo bottom}';
        for (let w = 0; w < 4; w++) body = `{when: {condition: true, steps: [${body}]}}`;
        out.push(`  c${i}:`, '    steps:', `    - ${body}`);
      }
      out.push('jobs:', '  build:', '    docker: [{image: x}]', '    steps: [c0]', 'workflows: {main: {jobs: [build]}}', '');
      return out.join('\n');
    };
    // each command is one list and four when steps deep: 51 make 255 levels, 60 make 300
    assert.equal((compile(nest(51)).jobs.get('build')!.body.steps as unknown[]).length, 1);
    assertConfigError(() => compile(nest(60)), undefined, undefined, /^steps nested more than 256 levels deep in job "build"/);
  });
});
