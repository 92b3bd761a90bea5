import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertConfigError, jobSpec, yaml } from '../support/config.js';

const cfg = yaml`
  version: 2.1
  executors:
    node:
      parameters:
        tag: {type: string, default: "20"}
      docker:
        - image: cimg/node:<< parameters.tag >>
          environment: {SVC: x}
        - image: postgres:16
          name: db
      environment: {A: from-executor, B: from-executor}
      working_directory: ~/app
      resource_class: large
  jobs:
    test:
      executor: {name: node, tag: "18"}
      environment: {B: from-job}
      steps: [checkout]
    own-image:
      executor: node
      docker: [{image: busybox}]
      steps: [checkout]
`;

test('executor parameters, merge rules and resources', () => {
  const spec = jobSpec(cfg, 'test');
  assert.ok(spec.executor.kind === 'docker');
  assert.deepEqual(spec.executor.containers.map((c) => c.image), ['cimg/node:18', 'postgres:16']);
  assert.deepEqual(spec.executor.containers[0].environment, { SVC: 'x' });
  assert.equal(spec.executor.containers[1].name, 'db');
  assert.deepEqual(spec.environment, { A: 'from-executor', B: 'from-job' });
  assert.equal(spec.workingDirectory, '~/app');
  assert.deepEqual(spec.resources, { class: 'large', cpus: 4, memoryMb: 8192 });
});

test("a job's own docker replaces the executor's, other keys still merge", () => {
  const spec = jobSpec(cfg, 'own-image');
  assert.ok(spec.executor.kind === 'docker');
  assert.deepEqual(spec.executor.containers.map((c) => c.image), ['busybox']);
  assert.equal(spec.workingDirectory, '~/app');
});

test('defaults: medium resources, ~/project, parallelism 1, no shell', () => {
  const spec = jobSpec('version: 2.1\njobs:\n  build:\n    docker: [{image: busybox}]\n    steps: [checkout]\n', 'build');
  assert.deepEqual(spec.resources, { class: 'medium', cpus: 2, memoryMb: 4096 });
  assert.equal(spec.workingDirectory, '~/project');
  assert.equal(spec.parallelism, 1);
  assert.equal(jobSpec('version: 2.1\njobs:\n  b:\n    machine: true\n    resource_class: large.gen3\n    steps: [checkout]\n', 'b').resources.cpus, 4);
  assert.equal(spec.shell, undefined);
});

test('machine executor and its resource classes', () => {
  const spec = jobSpec('version: 2.1\njobs:\n  m:\n    machine: {image: ubuntu-2204:current}\n    resource_class: arm.large\n    steps: [checkout]\n', 'm');
  assert.deepEqual(spec.executor, { kind: 'machine', dockerLayerCaching: false, image: 'ubuntu-2204:current' });
  assert.equal(spec.resources.cpus, 4);
});

test('unknown resource class and unknown executor are positioned errors', () => {
  assertConfigError(() => jobSpec('version: 2.1\njobs:\n  b:\n    docker: [{image: x}]\n    resource_class: lage\n    steps: [checkout]\n', 'b'), 5, 21, /resource_class "lage" does not exist .*did you mean "large"/);
  assertConfigError(() => jobSpec(cfg.replace('executor: node\n', 'executor: nod\n'), 'own-image'), undefined, undefined, /executor "nod" is not defined in the config \(did you mean "node"\?\)/);
});

test('job parameters: types, YAML 1.1 booleans, enums, env var names, required', () => {
  const c = yaml`
    version: 2.1
    jobs:
      b:
        parameters:
          n: {type: integer, default: 2}
          on: {type: boolean, default: "off"}
          flavour: {type: enum, enum: [a, b], default: a}
          var: {type: env_var_name, default: TOKEN}
          must: {type: string}
        docker: [{image: x}]
        parallelism: << parameters.n >>
        steps:
          - run: echo << parameters.on >> << parameters.flavour >> $<< parameters.var >> << parameters.must >>
    workflows:
      w:
        jobs:
          - b: {must: yes-please, on: on}
  `;
  const spec = jobSpec(c, 'b');
  assert.equal(spec.parallelism, 2);
  assert.equal(spec.steps[0].type === 'run' && spec.steps[0].command, 'echo true a $TOKEN yes-please');
  assertConfigError(() => jobSpec(c.replace('{must: yes-please, on: on}', '{on: on}'), 'b'), 17, 9, /job "b" requires the parameter "must"/);
  assertConfigError(() => jobSpec(c.replace('on: on}', 'on: on, flavour: c}'), 'b'), 17, 48, /argument "flavour" of job "b" is "c", which is not one of "a", "b"/);
  assertConfigError(() => jobSpec(c.replace('on: on}', 'on: on, var: 1BAD}'), 'b'), undefined, undefined, /not a valid environment variable name/);
  assertConfigError(() => jobSpec(c.replace('on: on}', 'on: on, mus: x}'), 'b'), 17, 39, /job "b" has no parameter "mus" \(did you mean "must"\?\)/);
  assertConfigError(() => jobSpec(c.replace('n: {type: integer, default: 2}', 'n: {type: integr, default: 2}'), 'b'), undefined, undefined, /"integr".*\(did you mean "integer"\?\)/);
});

test('<< >> expressions: value-returning and/or, and positioned parse errors', () => {
  const c = 'version: 2.1\njobs:\n  b:\n    docker: [{image: x}]\n    parallelism: << pipeline.git.branch == "main" and 10 or 1 >>\n    steps: [checkout]\n';
  assert.equal(jobSpec(c, 'b', { branch: 'main' }).parallelism, 10);
  assert.equal(jobSpec(c, 'b', { branch: 'dev' }).parallelism, 1);
  assertConfigError(() => jobSpec(c.replace('== "main"', '== == "main"'), 'b'), 5, 18, /in << pipeline\.git\.branch == == "main" and 10 or 1 >>:/);
});

test('retention: {caches: Nd} becomes cacheRetentionDays; absent means the default; a parameter that makes it wrong is positioned', () => {
  const c = 'version: 2.1\njobs:\n  b:\n    parameters: {keep: {type: string, default: 7d}}\n    docker: [{image: x}]\n    retention: {caches: << parameters.keep >>}\n    steps: [checkout]\n';
  assert.equal(jobSpec(c, 'b').cacheRetentionDays, 7);
  assert.equal(jobSpec(c.replace('default: 7d', 'default: 30d'), 'b').cacheRetentionDays, 30);
  assert.equal(jobSpec('version: 2.1\njobs:\n  b:\n    docker: [{image: x}]\n    steps: [checkout]\n', 'b').cacheRetentionDays, undefined);
  assertConfigError(() => jobSpec(c.replace('default: 7d', 'default: 31d'), 'b'), 6, 25, /"retention\.caches" must be a number of days from "1d" to "30d", got "31d"/);
});
