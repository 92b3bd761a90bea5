import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../agent/config/diagnostics.js';
import { keyPos, loadYaml, MAX_CONFIG_BYTES, valuePos, type ValueMap } from '../../agent/config/source.js';
import { yaml } from '../support/config.js';

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
