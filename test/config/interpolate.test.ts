/** `<< … >>` interpolation: whole values keep their type; several in one string are each rendered. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../agent/config/diagnostics.js';
import { interpolateString } from '../../agent/config/interpolate.js';
import { jobSpec, yaml } from '../support/config.js';

const scope = {
  pipeline: {},
  parameters: new Map<string, string | number | boolean | string[]>([
    ['image-name', 'cimg/node'],
    ['image-tag', '20.1'],
    ['n', 3],
    ['list', ['a', 'b']],
  ]),
  owner: 'job "build"',
};

test('a string that starts with << and ends with >> but holds several is several interpolations', () => {
  assert.equal(interpolateString('<<parameters.image-name>>:<<parameters.image-tag>>', scope), 'cimg/node:20.1');
  assert.equal(interpolateString('<< parameters.image-name >>-<< parameters.n >>', scope), 'cimg/node-3');
  // exactly one keeps its type
  assert.equal(interpolateString('<< parameters.n >>', scope), 3);
  assert.deepEqual(interpolateString(' << parameters.list >> ', scope), ['a', 'b']);
});

test('\\<< is a literal <<, with or without a >> after it on the line', () => {
  assert.equal(interpolateString('cat \\<<EOF > out', scope), 'cat <<EOF > out');
  assert.equal(interpolateString('echo \\<< parameters.n >>', scope), 'echo << parameters.n >>');
  assert.equal(interpolateString('cat <<EOF >> out', scope), 'cat <<EOF >> out');
});

test('an include left in a string is an error, not text for a shell', () => {
  assert.throws(() => interpolateString('<<include(scripts/x.sh)>>', scope, { file: 'c.yml', line: 3, col: 9 }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /^c\.yml:3:9: <<include\(scripts\/x\.sh\)>> was never replaced/);
    return true;
  });
});

test('in a config: an image built from two parameters', () => {
  const spec = jobSpec(yaml`
    version: 2.1
    jobs:
      build:
        parameters:
          image-name: {type: string, default: cimg/node}
          image-tag: {type: string, default: "20.1"}
        docker: [{image: <<parameters.image-name>>:<<parameters.image-tag>>}]
        steps: [checkout]
    workflows: {w: {jobs: [{build: {image-tag: "22.0"}}]}}
  `, 'build');
  assert.equal(spec.executor.kind === 'docker' && spec.executor.containers[0].image, 'cimg/node:22.0');
});
