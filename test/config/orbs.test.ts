import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../agent/config/diagnostics.js';
import { parseOrbRef } from '../../agent/config/orb-registry.js';
import { assertConfigError, emptyRegistry, jobSpec, yaml } from '../support/config.js';

const helperOrb = yaml`
  version: 2.1
  commands:
    say:
      parameters: {msg: {type: string}}
      steps: [{run: echo helper << parameters.msg >>}]
`;
const mainOrb = yaml`
  version: 2.1
  orbs:
    helper: acme/helper@1.0.0
  executors:
    default:
      parameters: {tag: {type: string, default: "1.0"}}
      docker: [{image: "acme/img:<< parameters.tag >>"}]
  commands:
    install:
      steps:
        - helper/say: {msg: installing}
  jobs:
    test:
      parameters:
        after: {type: steps, default: []}
      executor: default
      steps:
        - install
        - steps: << parameters.after >>
`;

function registryWithOrbs() {
  const reg = emptyRegistry();
  const dir = mkdtempSync(join(tmpdir(), 'orbs-'));
  writeFileSync(join(dir, 'helper.yml'), helperOrb);
  writeFileSync(join(dir, 'main.yml'), mainOrb);
  reg.import(join(dir, 'helper.yml'), parseOrbRef('acme/helper@1.0.0')!);
  reg.import(join(dir, 'main.yml'), parseOrbRef('acme/tools@2.3.1')!);
  reg.import(join(dir, 'main.yml'), parseOrbRef('acme/tools@2.4.0')!);
  return reg;
}

const config = (ref: string) => yaml`
  version: 2.1
  orbs:
    tools: ${ref}
  commands:
    local: {steps: [{run: echo local}]}
  workflows:
    w:
      jobs:
        - tools/test:
            after: [local]
`;

test('registry orbs: jobs, executors and commands resolve in the orb\'s own scope; orbs use orbs', () => {
  const spec = jobSpec(config('acme/tools@2.3.1'), 'tools/test', { registry: registryWithOrbs() });
  assert.equal(spec.job.definition, 'tools/test');
  assert.ok(spec.executor.kind === 'docker');
  assert.equal(spec.executor.containers[0].image, 'acme/img:1.0');
  // a steps argument is expanded in the caller's scope (the config's `local` command)
  assert.deepEqual(spec.steps.map((s) => s.type === 'run' && s.command), ['echo helper installing', 'echo local']);
});

test('partial versions and volatile pick the highest stored match', () => {
  const reg = registryWithOrbs();
  assert.equal(reg.resolveVersion(parseOrbRef('acme/tools@2')!), '2.4.0');
  assert.equal(reg.resolveVersion(parseOrbRef('acme/tools@2.3')!), '2.3.1');
  assert.equal(reg.resolveVersion(parseOrbRef('acme/tools@volatile')!), '2.4.0');
  assert.equal(reg.resolveVersion(parseOrbRef('acme/tools@2.5')!), undefined);
  assert.deepEqual(reg.list().map((o) => o.ref), ['acme/helper@1.0.0', 'acme/tools@2.4.0', 'acme/tools@2.3.1']);
  // a reference without a version means volatile
  assert.deepEqual(parseOrbRef('acme/tools'), { namespace: 'acme', name: 'tools', version: 'volatile' });
});

test('a missing orb names the orb and commands that add it: fetch, or import under an exact version', () => {
  assertConfigError(
    () => jobSpec(config('acme/tools@9.9.9'), 'tools/test'),
    3,
    10,
    /orb acme\/tools@9\.9\.9 is not in the local orb registry .*; fetch it with: deckhand orb fetch acme\/tools@9\.9\.9; or import its packed file or source folder with: deckhand orb import PATH --name acme\/tools@9\.9\.9$/,
  );
});

test('the import a missing partial, volatile or dev reference suggests is one that import accepts and the reference then finds', () => {
  const dir = mkdtempSync(join(tmpdir(), 'orbs-'));
  writeFileSync(join(dir, 'helper.yml'), helperOrb);
  writeFileSync(join(dir, 'main.yml'), mainOrb);
  for (const ref of ['acme/tools@2', 'acme/tools@2.7', 'acme/tools@volatile', 'acme/tools@dev:alpha']) {
    const reg = emptyRegistry();
    reg.import(join(dir, 'helper.yml'), parseOrbRef('acme/helper@1.0.0')!);
    const err = assertConfigError(() => jobSpec(config(ref), 'tools/test', { registry: reg }), 3, 10, /is not in the local orb registry/);
    const name = / --name (\S+)$/.exec(err.diagnostics[0].message)?.[1];
    assert.ok(name, err.message);
    reg.import(join(dir, 'main.yml'), parseOrbRef(name)!);
    assert.equal(jobSpec(config(ref), 'tools/test', { registry: reg }).job.definition, 'tools/test', `${ref} after importing ${name}`);
  }
});

test('importing refuses a partial version, and an orb with an unpacked include', () => {
  const reg = emptyRegistry();
  const dir = mkdtempSync(join(tmpdir(), 'orbs-'));
  writeFileSync(join(dir, 'main.yml'), mainOrb);
  assert.throws(() => reg.import(join(dir, 'main.yml'), parseOrbRef('acme/tools@2')!), /stored under an exact version \(like acme\/tools@2\.0\.0\)/);
  writeFileSync(join(dir, 'inc.yml'), 'version: 2.1\ncommands:\n  x:\n    steps:\n      - run: <<include(scripts/x.sh)>>\n');
  assert.throws(() => reg.import(join(dir, 'inc.yml'), parseOrbRef('acme/inc@1.0.0')!), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.diagnostics.length, 1);
    assert.match(err.message, /inc\.yml:5:14: <<include\(scripts\/x\.sh\)>> was never replaced: .*deckhand orb pack DIR/);
    return true;
  });
  assert.deepEqual(reg.list(), []);
});

test('an unpacked include in a config, or in an orb stored by hand, is an error, never a command', () => {
  assertConfigError(
    () => jobSpec('version: 2.1\njobs:\n  b:\n    docker: [{image: x}]\n    steps:\n      - run: <<include(x.sh)>>\n', 'b'),
    6,
    14,
    /<<include\(x\.sh\)>> was never replaced/,
  );
  const reg = emptyRegistry();
  const stored = join(reg.root, 'acme', 'inc');
  mkdirSync(stored, { recursive: true });
  writeFileSync(join(stored, '1.0.0.yml'), 'version: 2.1\ncommands:\n  x:\n    steps:\n      - run: <<include(scripts/x.sh)>>\n');
  const text = 'version: 2.1\norbs: {inc: acme/inc@1}\njobs:\n  b:\n    docker: [{image: x}]\n    steps: [inc/x]\n';
  const err = assertConfigError(() => jobSpec(text, 'b', { registry: reg }), 5, 14, /<<include\(scripts\/x\.sh\)>> was never replaced/);
  assert.equal(err.diagnostics[0].pos?.file, 'acme/inc@1.0.0');
});

test('inline orbs work like registry orbs', () => {
  const text = yaml`
    version: 2.1
    orbs:
      mine:
        commands:
          hi: {steps: [{run: echo inline}]}
        jobs:
          j:
            docker: [{image: x}]
            steps: [hi]
    workflows:
      w:
        jobs: [mine/j]
  `;
  assert.equal(jobSpec(text, 'mine/j').steps[0].type === 'run' && (jobSpec(text, 'mine/j').steps[0] as { command: string }).command, 'echo inline');
});

test('an orb alias that is not imported is an error with a suggestion', () => {
  const text = 'version: 2.1\norbs:\n  node: {commands: {x: {steps: []}}}\njobs:\n  b:\n    docker: [{image: x}]\n    steps: [nod/x]\n';
  assertConfigError(() => jobSpec(text, 'b'), 7, 13, /uses orb "nod", which the config does not import \(did you mean "node"\?\)/);
});

test('an executor argument names an executor of the scope that passes it', () => {
  const text = yaml`
    version: 2.1
    orbs:
      lint:
        executors:
          default: {docker: [{image: orb-image}]}
        jobs:
          check:
            parameters:
              executor: {type: executor, default: default}
            executor: << parameters.executor >>
            steps: [checkout]
    executors:
      mine: {docker: [{image: my-image}]}
    workflows:
      w:
        jobs:
          - lint/check: {name: with-default}
          - lint/check: {name: with-orb-exec, executor: {name: lint/default}}
          - lint/check: {name: with-mine, executor: mine}
  `;
  const image = (job: string) => {
    const spec = jobSpec(text, job);
    return spec.executor.kind === 'docker' ? spec.executor.containers[0].image : '';
  };
  assert.equal(image('with-default'), 'orb-image');
  assert.equal(image('with-orb-exec'), 'orb-image');
  assert.equal(image('with-mine'), 'my-image');
});

test('importing an orb file that is not UTF-8 is refused at its first bad byte', () => {
  const dir = mkdtempSync(join(tmpdir(), 'deckhand-orb-'));
  writeFileSync(join(dir, 'orb.yml'), Buffer.concat([Buffer.from('version: 2.1\ndescription: "caf'), Buffer.from([0xe9]), Buffer.from('"\n')]));
  assert.throws(() => emptyRegistry().import(join(dir, 'orb.yml'), parseOrbRef('acme/latin@1.0.0')!), (err: unknown) => err instanceof ConfigError && /orb\.yml:2:18: not valid UTF-8 at byte offset 30 \(0xe9\)/.test(err.message));
});
