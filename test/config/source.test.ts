import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { compileFile } from '../../agent/config/compile.js';
import { ConfigError } from '../../agent/config/diagnostics.js';
import { LIMITS } from '../../agent/config/limits.js';
import { keyPos, loadYaml, loadYamlFile, MAX_CONFIG_BYTES, valuePos, type ValueMap } from '../../agent/config/source.js';
import { emptyRegistry, yaml } from '../support/config.js';
import { nestedBlockLists, nestedFlowLists } from '../support/expanding-configs.js';

test('positions of keys and values are 1-based line:col', () => {
  const doc = loadYaml(yaml`
    version: 2.1
    jobs:
      build:
        docker:
          - image: busybox
  `, { file: 'c.yml' }) as ValueMap;
  const jobs = doc.jobs as ValueMap;
  assert.deepEqual(keyPos(jobs, 'build'), { file: 'c.yml', line: 3, col: 3 });
  const docker = (jobs.build as ValueMap).docker as ValueMap[];
  assert.deepEqual(valuePos(docker[0], 'image'), { file: 'c.yml', line: 5, col: 16 });
});

test('merge keys: explicit keys win, merged keys keep their own positions', () => {
  const doc = loadYaml(yaml`
    defaults: &defaults
      docker: [{image: a}]
      working_directory: ~/x
    jobs:
      build:
        <<: *defaults
        working_directory: ~/y
  `, { file: 'c.yml' }) as ValueMap;
  const build = (doc.jobs as ValueMap).build as ValueMap;
  assert.equal(build.working_directory, '~/y');
  assert.deepEqual(build.docker, [{ image: 'a' }]);
  assert.equal(keyPos(build, 'docker')?.line, 2);
});

test('aliases are copies: editing one use leaves the other alone', () => {
  const doc = loadYaml('a: &x {k: 1}\nb: *x\n', { file: 'c.yml' }) as ValueMap;
  (doc.a as ValueMap).k = 2;
  assert.equal((doc.b as ValueMap).k, 1);
});

test('an alias bomb ends in a positioned error, quickly', () => {
  const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < 12; i++) lines.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]`);
  const started = Date.now();
  assert.throws(() => loadYaml(lines.join('\n'), { file: 'bomb.yml' }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /^bomb\.yml:\d+:\d+: YAML aliases expand to more than/);
    return true;
  });
  assert.ok(Date.now() - started < 5000, 'bounded time');
});

test('invalid YAML and duplicate keys are positioned errors', () => {
  const fails = (text: string, re: RegExp) =>
    assert.throws(() => loadYaml(text, { file: 'c.yml' }), (e: unknown) => e instanceof ConfigError && re.test(e.message));
  fails('jobs:\n  build: [\n', /^c\.yml:\d+:\d+: invalid YAML/);
  fails('a: 1\na: 2\n', /^c\.yml:2:1: invalid YAML: .*\(each key may appear once in a map\)$/);
});

test('a config over the size limit is refused before parsing', () => {
  const big = `# ${'x'.repeat(MAX_CONFIG_BYTES)}\n`;
  const started = Date.now();
  assert.throws(() => loadYaml(big, { file: 'big.yml' }), (e: unknown) => e instanceof ConfigError && /^big\.yml:1:1: config is larger than/.test(e.message));
  assert.ok(Date.now() - started < 2000);
});

/** The first problem of loading `text`, as FILE:LINE:COL: message. */
function loadProblem(text: string): string {
  try {
    loadYaml(text, { file: 'c.yml' });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  return assert.fail('expected a ConfigError');
}

test('100,000 levels of nesting are refused at the level past the limit, quickly, not with a stack overflow', () => {
  const started = Date.now();
  // the root map is level 1, so the 256th list is the 257th level: "x: " and 255 brackets before it
  assert.equal(loadProblem(nestedFlowLists(100_000)), `c.yml:2:259: maps and lists nested more than ${LIMITS.nesting} levels deep (the limit; anchors count where they are used); flatten the structure`);
  assert.match(loadProblem(nestedBlockLists(100_000)), /^c\.yml:3:511: maps and lists nested more than 256 levels deep/);
  assert.match(loadProblem(`version: 2.1\nx: ${'{a: '.repeat(100_000)}1${'}'.repeat(100_000)}\n`), /^c\.yml:2:\d+: maps and lists nested more than 256 levels deep/);
  // the largest nest a config file can hold (4 MB of brackets) costs no more
  assert.match(loadProblem(nestedFlowLists(MAX_CONFIG_BYTES / 2 - 10)), /^c\.yml:2:259: /);
  assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
});

test('nesting up to the limit loads, and compiles', () => {
  const deepest = loadYaml(nestedFlowLists(LIMITS.nesting - 1), { file: 'c.yml' }) as ValueMap;
  let depth = 1;
  for (let v = deepest.x; Array.isArray(v) && v.length > 0; v = v[0]) depth++;
  assert.equal(depth, LIMITS.nesting - 1);
  loadYaml(nestedBlockLists(LIMITS.nesting - 1), { file: 'c.yml' });
  const config = `version: 2.1\nx-deep: ${'['.repeat(LIMITS.nesting - 1)}1${']'.repeat(LIMITS.nesting - 1)}\njobs:\n  build:\n    docker: [{image: x}]\n    steps: [checkout]\nworkflows: {main: {jobs: [build]}}\n`;
  const dir = mkdtempSync(join(tmpdir(), 'deckhand-nest-'));
  writeFileSync(join(dir, 'config.yml'), config);
  assert.equal(compileFile(join(dir, 'config.yml'), { registry: emptyRegistry() }).jobs.size, 1);
});

test('nesting through aliases counts where the anchor is used', () => {
  const deep = (n: number, inner: string) => `${'['.repeat(n)}${inner}${']'.repeat(n)}`;
  loadYaml(`a: &a ${deep(100, '1')}\nb: ${deep(100, '*a')}\n`, { file: 'c.yml' });
  // b's 100 lists, then a's: the anchor's 156th list is the 257th level
  assert.equal(loadProblem(`a: &a ${deep(200, '1')}\nb: ${deep(100, '*a')}\n`).split(': ')[0], 'c.yml:1:162');
});

function fileWith(bytes: number[] | Buffer): string {
  const dir = mkdtempSync(join(tmpdir(), 'deckhand-utf8-'));
  const file = join(dir, 'config.yml');
  writeFileSync(file, Buffer.from(bytes));
  return file;
}

test('a config that is not UTF-8 is refused at the byte offset and line:col of its first bad byte', () => {
  const latin1 = Buffer.concat([Buffer.from('version: 2.1\njobs:\n  build:\n    docker: [{image: "caf'), Buffer.from([0xe9]), Buffer.from('"}]\n')]);
  const file = fileWith(latin1);
  assert.throws(() => loadYamlFile(file, 'config.yml'), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.message, 'config.yml:4:26: not valid UTF-8 at byte offset 53 (0xe9); save the file as UTF-8');
    return true;
  });
  // columns count characters before it on its line, as every other column does
  const after = Buffer.concat([Buffer.from('# h\u00e9llo \u{1F600} '), Buffer.from([0xff])]);
  assert.throws(() => loadYamlFile(fileWith(after), 'c.yml'), /^ConfigError: c\.yml:1:12: not valid UTF-8 at byte offset 14 \(0xff\)/);
  // compileFile reads the same way: never a config decoded with replacement characters
  assert.throws(() => compileFile(file, { registry: emptyRegistry() }), /not valid UTF-8 at byte offset 53/);
});

test('UTF-8 is checked strictly: sequences cut short, overlong forms and surrogates are refused; BOM and 4-byte characters load', () => {
  const problem = (bytes: number[]) => {
    try {
      loadYamlFile(fileWith(bytes), 'c.yml');
    } catch (err) {
      if (err instanceof ConfigError) return err.message;
      throw err;
    }
    return 'loaded';
  };
  const a = [0x61, 0x3a, 0x20]; // "a: "
  assert.match(problem([...a, 0xe2, 0x82]), /c\.yml:1:4: not valid UTF-8 at byte offset 3 \(0xe2\)/);
  assert.match(problem([...a, 0xc0, 0x80]), /byte offset 3 \(0xc0\)/);
  assert.match(problem([...a, 0xed, 0xa0, 0x80]), /byte offset 3 \(0xed\)/);
  assert.match(problem([...a, 0xf4, 0x90, 0x80, 0x80]), /byte offset 3 \(0xf4\)/);
  assert.match(problem([...a, 0x80]), /byte offset 3 \(0x80\)/);
  assert.equal(problem([0xef, 0xbb, 0xbf, ...a, 0xf0, 0x9f, 0x98, 0x80]), 'loaded');
});
