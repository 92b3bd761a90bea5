import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
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
  assert.deepEqual(reg.list(), ['acme/helper@1.0.0', 'acme/tools@2.4.0', 'acme/tools@2.3.1']);
});

test('a missing orb names the orb and the import command', () => {
  assertConfigError(() => jobSpec(config('acme/tools@9.9.9'), 'tools/test'), 3, 10, /orb acme\/tools@9\.9\.9 is not in the local orb registry .*deckhand orb import orb\.yml --name acme\/tools@9\.9\.9/);
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
