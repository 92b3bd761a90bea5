/**
 * validateConfigShape: configs CircleCI accepts give no diagnostics; each kind of mistake gives
 * exactly one positioned, one-line message.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDiagnostic } from '../../../agent/config/diagnostics.js';
import { validateConfigShape } from '../../../agent/config/schema/validate.js';
import { loadYaml } from '../../../agent/config/source.js';

function check(text: string): string[] {
  const root = loadYaml(text, { file: 'config.yml' });
  return validateConfigShape(root, 'config.yml').map(formatDiagnostic);
}

/** Joins lines so YAML in tests keeps its indentation visible. */
const yaml = (...lines: string[]): string => lines.join('\n') + '\n';

test('a full 2.1 config using every feature is accepted', () => {
  const text = yaml(
    'version: 2.1',
    'setup: false',
    'circleci_ip_ranges: true',
    'orbs:',
    '  node: circleci/node@5.1.0',
    '  pinned: my-ns/tool@<< pipeline.parameters.tool-version >>',
    '  local:',
    '    description: an inline orb',
    '    display: {home_url: "https://example.com", source_url: "https://example.com/src"}',
    '    orbs: {slack: circleci/slack@4}',
    '    commands:',
    '      hello: {steps: [{run: echo hello}]}',
    '    executors:',
    '      small: {docker: [{image: cimg/base:stable}]}',
    '    jobs:',
    '      greet: {executor: small, steps: [hello]}',
    '    examples: {basic: {description: x, usage: {version: 2.1}}}',
    'parameters:',
    '  tool-version: {type: string, default: "1.2"}',
    '  deploy: {type: boolean, default: false}',
    '  shards: {type: integer, default: 4}',
    '  env: {type: enum, enum: [dev, prod], default: dev}',
    'aliases:',
    '  - &defaults',
    '    working_directory: ~/repo',
    'executors:',
    '  linux:',
    '    parameters:',
    '      tag: {type: string, default: stable}',
    '    docker:',
    '      - image: cimg/node:<< parameters.tag >>',
    '        auth: {username: me, password: $DOCKER_PASSWORD}',
    '      - image: 123.dkr.ecr.us-east-1.amazonaws.com/db:1',
    '        name: db',
    '        aws_auth: {oidc_role_arn: "arn:aws:iam::123:role/x"}',
    '        environment: {POSTGRES_USER: root, PORT: 5432, DEBUG: true}',
    '        command: [--fsync=off]',
    '        entrypoint: /entry.sh',
    '        user: postgres',
    '      - image: us-docker.pkg.dev/p/r/i:latest',
    '        gcp_auth:',
    '          oidc_service_account: sa@p.iam.gserviceaccount.com',
    '          workload_identity_pool: projects/1/locations/global/workloadIdentityPools/pool',
    '          workload_identity_provider: provider',
    '    resource_class: large',
    '    shell: /bin/bash -eo pipefail',
    '    environment:',
    '      - A: b',
    '      - C=d',
    '  vm:',
    '    machine: {image: ubuntu-2204:current, docker_layer_caching: << parameters.dlc >>}',
    '    parameters: {dlc: {type: boolean, default: false}}',
    '  mac:',
    '    macos: {xcode: 15.4.0}',
    'commands:',
    '  install:',
    '    description: installs things',
    '    parameters:',
    '      cache: {type: boolean, default: true}',
    '      extra: {type: steps, default: []}',
    '      token: {type: env_var_name, default: GITHUB_TOKEN}',
    '      exec: {type: executor}',
    '      mode: {type: enum, enum: [a, b]}',
    '    steps:',
    '      - when:',
    '          condition: << parameters.cache >>',
    '          steps: [{restore_cache: {keys: [\'v1-{{ checksum "package-lock.json" }}\', v1-]}}]',
    '      - steps: << parameters.extra >>',
    '      - unless:',
    '          condition:',
    '            and:',
    '              - not: << parameters.cache >>',
    '              - equal: [main, << pipeline.git.branch >>]',
    '              - matches: {pattern: "^feature-.+$", value: << pipeline.git.branch >>}',
    '              - or: [true, false]',
    '          steps: [checkout]',
    'jobs:',
    '  build:',
    '    <<: *defaults',
    '    description: builds',
    '    executor: {name: linux, tag: lts}',
    '    parallelism: << pipeline.parameters.shards >>',
    '    circleci_ip_ranges: true',
    '    retention: {caches: 7d}',
    '    parameters:',
    '      bg: {type: boolean, default: false}',
    '      timeout: {type: string, default: 20m}',
    '    environment: {NODE_ENV: test}',
    '    steps:',
    '      - checkout',
    '      - checkout: {path: src, method: full}',
    '      - setup_remote_docker: {version: default, docker_layer_caching: true}',
    '      - setup_remote_docker',
    '      - add_ssh_keys: {fingerprints: ["SHA256:abc", "aa:bb"]}',
    '      - run: make',
    '      - run:',
    '          name: test',
    '          command: make test',
    '          shell: /bin/sh',
    '          environment: {X: 1}',
    '          background: << parameters.bg >>',
    '          working_directory: sub',
    '          no_output_timeout: << parameters.timeout >>',
    '          when: always',
    '          max_auto_reruns: 3',
    '          auto_rerun_delay: 30s',
    '      - run: {command: sleep 1, no_output_timeout: 1.25h, background: yes}',
    '      - deploy: {command: ./deploy.sh}',
    '      - save_cache: {key: "v1-{{ .Branch }}", paths: [node_modules], when: on_fail}',
    '      - store_artifacts: {path: out, destination: artifacts}',
    '      - store_test_results: {path: results}',
    '      - persist_to_workspace: {root: ., paths: [dist]}',
    '      - attach_workspace: {at: /tmp/ws}',
    '      - install: {cache: false, exec: linux}',
    '      - node/install-packages',
    '      - local/hello',
    '      - node/with-args: {pkg-manager: yarn}',
    '  vm-job:',
    '    machine: true',
    '    resource_class: my-ns/my-runner',
    '    steps: [{run: uname -a}]',
    '  ios:',
    '    macos: {xcode: "15.4.0"}',
    '    steps: [{install_signing_bundle: {}}]',
    '  nothing: {type: no-op}',
    '  gate: {type: approval}',
    '  ship: {type: release, plan_name: my-service}',
    'job-groups:',
    '  checks:',
    '    jobs: [build, {vm-job: {requires: [build]}}]',
    'workflows:',
    '  main:',
    '    max_auto_reruns: 2',
    '    when:',
    '      or:',
    '        - equal: [main, << pipeline.git.branch >>]',
    '        - << pipeline.parameters.deploy >>',
    '    jobs:',
    '      - build',
    '      - build:',
    '          name: build-<< matrix.tag >>',
    '          matrix:',
    '            alias: builds',
    '            parameters: {tag: [lts, current]}',
    '            exclude: [{tag: current}]',
    '          context: [org-global, << pipeline.git.branch == "main" and "prod" or "dev" >>]',
    '          pre-steps: [checkout]',
    '          post-steps: [{run: echo done}]',
    '          serial-group: << pipeline.project.slug >>/deploy',
    '          override-with: local/greet',
    '          bg: true',
    '      - hold: {type: approval, requires: [builds]}',
    '      - vm-job:',
    '          requires:',
    '            - hold',
    '            - build: success',
    '            - builds: [failed, canceled, not_run, unauthorized]',
    '            - nothing: terminal',
    '          filters: pipeline.git.branch == "main" or pipeline.git.tag starts-with "v"',
    '      - ios:',
    '          context: org-global',
    '          filters:',
    '            branches: {only: [main, /release-.*/], ignore: dev}',
    '            tags: {only: /^v.*/}',
    '      - checks',
    '  nightly:',
    '    unless: << pipeline.parameters.deploy >>',
    '    triggers:',
    '      - schedule:',
    '          cron: "0 0 * * *"',
    '          filters: {branches: {only: main}}',
    '    jobs: [build]',
  );
  assert.deepEqual(check(text), []);
});

test('a 2.0 config with workflows version 2 is accepted', () => {
  const text = yaml(
    'version: 2',
    'jobs:',
    '  build:',
    '    docker: [{image: "circleci/node:10"}]',
    '    branches: {ignore: gh-pages}',
    '    steps: [checkout, {run: npm test}]',
    'workflows:',
    '  version: 2',
    '  build_and_test:',
    '    jobs: [build]',
  );
  assert.deepEqual(check(text), []);
});

test('a user command may reuse a built-in step name, and its arguments are then not the built-in ones', () => {
  const text = yaml(
    'version: 2.1',
    'commands:',
    '  save_cache:',
    '    parameters: {what: {type: string}}',
    '    steps: [{run: echo << parameters.what >>}]',
    'jobs:',
    '  build:',
    '    machine: true',
    '    steps: [{save_cache: {what: x}}]',
  );
  assert.deepEqual(check(text), []);
});

test('keys CircleCI ignores are tolerated unless they look like a typo of a real key', () => {
  const text = yaml(
    'version: 2.1',
    'x-anchors: {a: 1}',
    'jobs:',
    '  build:',
    '    machine: true',
    '    steps:',
    '      - restore_cache: {key: k, paths: [a]}',
    '      - store_artifacts: {path: a, when: on_fail}',
  );
  assert.deepEqual(check(text), []);
});

// Each negative case: the exact position and the exact message.

test('unknown top-level key that is a typo of a real one', () => {
  const text = yaml('version: 2.1', 'workflow:', '  main: {jobs: [build]}');
  assert.deepEqual(check(text), ['config.yml:2:1: unknown key "workflow" at the top level (did you mean "workflows"?)']);
});

test('missing version', () => {
  assert.deepEqual(check(yaml('jobs: {}')), ['config.yml:1:1: the top level requires "version"']);
});

test('bad version', () => {
  assert.deepEqual(check(yaml('version: 3')), ['config.yml:1:10: "version" must be 2, 2.0 or 2.1, got 3']);
});

test('misspelt job key, with did-you-mean, at the key', () => {
  const text = yaml(
    'version: 2.1',
    'jobs:',
    '  build:',
    '    docker:',
    '      - image: cimg/base:stable',
    '    workig_directory: ~/app',
    '    steps: [checkout]',
  );
  assert.deepEqual(check(text), ['config.yml:6:5: unknown key "workig_directory" in job "build" (did you mean "working_directory"?)']);
});

test('wrong type of a scalar that may be an expression, at the value', () => {
  const text = yaml('version: 2.1', 'jobs:', '  build:', '    machine: true', '    parallelism: [1, 2]', '    steps: [checkout]');
  assert.deepEqual(check(text), ['config.yml:5:18: "parallelism" must be an integer or a << >> expression, got a list']);
});

test('docker entry without image', () => {
  const text = yaml('version: 2.1', 'jobs:', '  build:', '    docker:', '      - name: db', '    steps: [checkout]');
  assert.deepEqual(check(text), ['config.yml:5:9: docker image 1 of job "build" requires "image"']);
});

test('unknown key in a docker entry', () => {
  const text = yaml('version: 2.1', 'jobs:', '  build:', '    docker:', '      - image: x', '        enviroment: {A: b}', '    steps: [checkout]');
  assert.deepEqual(check(text), ['config.yml:6:9: unknown key "enviroment" in docker image 1 of job "build" (did you mean "environment"?)']);
});

test('misspelt key of a built-in step', () => {
  const text = yaml('version: 2.1', 'jobs:', '  build:', '    machine: true', '    steps:', '      - store_artifacts:', '          path: out', '          destinaton: x');
  assert.deepEqual(check(text), ['config.yml:8:11: unknown key "destinaton" in step "store_artifacts" (did you mean "destination"?)']);
});

test('unknown keys of a run step are left to the compiler, which warns (CircleCI\'s schema leaves run open)', () => {
  const text = yaml('version: 2.1', 'jobs:', '  build:', '    machine: true', '    steps:', '      - run:', '          command: make', '          shel: /bin/sh');
  assert.deepEqual(check(text), []);
});

test('built-in step missing a required key', () => {
  const text = yaml('version: 2.1', 'jobs:', '  build:', '    machine: true', '    steps:', '      - save_cache:', '          paths: [a]');
  assert.deepEqual(check(text), ['config.yml:6:9: step "save_cache" requires "key"']);
});

test('restore_cache without key or keys', () => {
  const text = yaml('version: 2.1', 'jobs:', '  build:', '    machine: true', '    steps:', '      - restore_cache: {name: x}');
  assert.deepEqual(check(text), ['config.yml:6:9: step "restore_cache" requires "key" or "keys"']);
});

test('run arguments indented at the step level', () => {
  const text = yaml('version: 2.1', 'jobs:', '  build:', '    machine: true', '    steps:', '      - run:', '        name: x', '        command: make');
  assert.deepEqual(check(text), [
    'config.yml:6:9: a step is a single-key map but this one has keys "run", "name", "command"; indent the arguments under "run"',
  ]);
});

test('a bare step name that needs arguments', () => {
  const text = yaml('version: 2.1', 'jobs:', '  build:', '    machine: true', '    steps:', '      - persist_to_workspace');
  assert.deepEqual(check(text), ['config.yml:6:9: step "persist_to_workspace" needs arguments: write it as a map ("- persist_to_workspace: …")']);
});

test('bad duration and bad when on a run step', () => {
  const text = yaml(
    'version: 2.1',
    'jobs:',
    '  build:',
    '    machine: true',
    '    steps:',
    '      - run:',
    '          command: make',
    '          no_output_timeout: ten minutes',
    '          when: sometimes',
  );
  assert.deepEqual(check(text), [
    'config.yml:8:30: "no_output_timeout" must be a duration such as "20m", "1.25h" or "90s", or a << >> expression, got "ten minutes"',
    'config.yml:9:17: "when" must be one of always, on_success, on_fail, or a << >> expression, got "sometimes"',
  ]);
});

test('command arguments that are not a map', () => {
  const text = yaml('version: 2.1', 'jobs:', '  build:', '    machine: true', '    steps:', '      - node/install: yarn');
  assert.deepEqual(check(text), ['config.yml:6:23: the arguments of command "node/install" must be a map of parameter names to values, got "yarn"']);
});

test('bad requires status', () => {
  const text = yaml(
    'version: 2.1',
    'workflows:',
    '  main:',
    '    jobs:',
    '      - test',
    '      - deploy:',
    '          requires:',
    '            - test: succeeded',
  );
  assert.deepEqual(check(text), [
    'config.yml:8:21: required status must be one of success, failed, canceled, unauthorized, not_run, terminal; got "succeeded"',
  ]);
});

test('bad status inside a list of statuses', () => {
  const text = yaml('version: 2.1', 'workflows:', '  main:', '    jobs:', '      - deploy:', '          requires: [{test: [success, faild]}]');
  assert.deepEqual(check(text), [
    'config.yml:6:39: required status must be one of success, failed, canceled, unauthorized, not_run, terminal; got "faild" (did you mean "failed"?)',
  ]);
});

test('bad parameter type name', () => {
  const text = yaml('version: 2.1', 'commands:', '  greet:', '    parameters:', '      to: {type: strng}', '    steps: [checkout]');
  assert.deepEqual(check(text), [
    'config.yml:5:18: "type" of parameter "to" of command "greet" must be one of string, boolean, integer, enum, executor, steps, env_var_name; got "strng" (did you mean "string"?)',
  ]);
});

test('enum parameter without enum', () => {
  const text = yaml('version: 2.1', 'jobs:', '  build:', '    parameters:', '      env:', '        type: enum', '        default: dev', '    machine: true', '    steps: [checkout]');
  assert.deepEqual(check(text), ['config.yml:5:7: parameter "env" has type enum but no "enum" list of allowed values']);
});

test('pipeline parameter without default, and with a type pipelines do not take', () => {
  const text = yaml('version: 2.1', 'parameters:', '  a: {type: string}', '  b: {type: steps, default: []}');
  assert.deepEqual(check(text), [
    'config.yml:3:3: pipeline parameter "a" requires "default"',
    'config.yml:4:13: "type" of pipeline parameter "b" must be one of string, boolean, integer, enum (the types pipeline parameters take); got "steps"',
  ]);
});

test('unknown key in a parameter definition', () => {
  const text = yaml('version: 2.1', 'commands:', '  greet:', '    parameters:', '      to: {type: string, defualt: x}', '    steps: [checkout]');
  assert.deepEqual(check(text), ['config.yml:5:26: unknown key "defualt" in parameter "to" of command "greet" (did you mean "default"?)']);
});

test('job without an executor, and job with two', () => {
  const text = yaml('version: 2.1', 'jobs:', '  a:', '    steps: [checkout]', '  b:', '    docker: [{image: x}]', '    machine: true', '    steps: [checkout]');
  assert.deepEqual(check(text), [
    'config.yml:3:3: job "a" has no executor: add "docker", "machine", "macos" or "executor"',
    'config.yml:5:3: job "b" sets both "docker" and "machine"; use one executor type',
  ]);
});

test('job without steps', () => {
  const text = yaml('version: 2.1', 'jobs:', '  a:', '    machine: true');
  assert.deepEqual(check(text), ['config.yml:3:3: job "a" requires "steps"']);
});

test('workflow job entry with settings not indented under its name', () => {
  const text = yaml('version: 2.1', 'workflows:', '  main:', '    jobs:', '      - hold:', '        type: approval');
  assert.deepEqual(check(text), [
    'config.yml:5:9: a workflow job entry is a single-key map but this one has keys "hold", "type"; indent the settings under "hold"',
  ]);
});

test('workflow job type other than approval', () => {
  const text = yaml('version: 2.1', 'workflows:', '  main:', '    jobs:', '      - hold: {type: manual}');
  assert.deepEqual(check(text), ['config.yml:5:22: "type" must be approval (only approval jobs take a type in a workflow), got "manual"']);
});

test('unknown workflow key and out-of-range max_auto_reruns', () => {
  const text = yaml('version: 2.1', 'workflows:', '  main:', '    max_auto_reruns: 9', '    trigers: []', '    jobs: [build]');
  assert.deepEqual(check(text), [
    'config.yml:4:22: "max_auto_reruns" must be an integer from 1 to 5, got 9',
    'config.yml:5:5: warning: "trigers" in workflow "main" is ignored (CircleCI ignores it too) (did you mean "triggers"?)',
  ]);
});

test('filters typo and matrix without parameters', () => {
  const text = yaml(
    'version: 2.1',
    'workflows:',
    '  main:',
    '    jobs:',
    '      - build:',
    '          filters: {branch: {only: main}}',
    '          matrix: {alias: x}',
  );
  assert.deepEqual(check(text), [
    'config.yml:6:21: warning: "branch" in "filters" of workflow job "build" is ignored (CircleCI ignores it too) (did you mean "branches"?)',
    'config.yml:7:11: "matrix" of workflow job "build" requires "parameters"',
  ]);
});

test('logic statement with a misspelt operator', () => {
  const text = yaml('version: 2.1', 'workflows:', '  main:', '    when: {equals: [a, b]}', '    jobs: [build]');
  assert.deepEqual(check(text), ['config.yml:4:12: unknown key "equals" in "when" of workflow "main" (did you mean "equal"?)']);
});

test('an orb reference without a version is accepted (it means @volatile); one without a namespace is not', () => {
  assert.deepEqual(check(yaml('version: 2.1', 'orbs:', '  node: circleci/node')), []);
  const text = yaml('version: 2.1', 'orbs:', '  node: circleci-node');
  assert.deepEqual(check(text), ['config.yml:3:9: orb "node" must be an orb reference "namespace/name@version" or an inline orb map, got "circleci-node"']);
});

test('keys CircleCI accepts and ignores are warnings at the key: a workflow\'s description, a misplaced matrix key', () => {
  const text = yaml(
    'version: 2.1',
    'workflows:',
    '  main:',
    '    description: builds and tests',
    '    jobs:',
    '      - build:',
    '          matrix:',
    '            databases: "mysql postgres"',
    '            parameters: {node: ["18"]}',
  );
  assert.deepEqual(check(text), [
    'config.yml:4:5: warning: "description" in workflow "main" is ignored (CircleCI ignores it too)',
    'config.yml:8:13: warning: "databases" in "matrix" of workflow job "build" is ignored (CircleCI ignores it too)',
  ]);
});

test('equal compares values: maps (an executor through a YAML alias), lists and scalars', () => {
  const text = yaml(
    'version: 2.1',
    'executors:',
    '  macos: &macos-executor',
    '    macos: {xcode: 14.2.0}',
    'workflows:',
    '  main:',
    '    when:',
    '      equal: [*macos-executor, {macos: {xcode: 14.2.0}}, [a, b], 3]',
    '    jobs: [build]',
  );
  assert.deepEqual(check(text), []);
});

test('a when step\'s steps may be a steps parameter or a single step', () => {
  const text = yaml(
    'version: 2.1',
    'commands:',
    '  maybe:',
    '    parameters: {go: {type: boolean, default: true}, then: {type: steps, default: []}}',
    '    steps:',
    '      - when: {condition: << parameters.go >>, steps: << parameters.then >>}',
    '      - unless: {condition: << parameters.go >>, steps: {run: echo no}}',
  );
  assert.deepEqual(check(text), []);
});

test('a matrix parameter may list nothing (no jobs, a warning from the compiler)', () => {
  const text = yaml('version: 2.1', 'workflows:', '  main:', '    jobs:', '      - build: {matrix: {parameters: {os: [], node: ~}}}');
  assert.deepEqual(check(text), []);
});

test('machine given a string that is not a boolean', () => {
  const text = yaml('version: 2.1', 'jobs:', '  a:', '    machine: ubuntu', '    steps: [checkout]');
  assert.deepEqual(check(text), ['config.yml:4:14: "machine" must be true or a map (image, docker_layer_caching, …), got "ubuntu"']);
});

test('several problems come back sorted by position, each once', () => {
  const text = yaml(
    'version: 2.1',
    'jobs:',
    '  b:',
    '    machine: {imag: x}',
    '    steps: [{run: {command: x, background: maybe}}]',
    '  a:',
    '    docker: [{image: x, usr: y}]',
    '    steps: [checkout]',
  );
  const got = check(text);
  assert.deepEqual(got, [
    'config.yml:4:15: unknown key "imag" in "machine" of job "b" (did you mean "image"?)',
    'config.yml:5:44: "background" must be true/false or a << >> expression, got "maybe"',
    'config.yml:7:25: unknown key "usr" in docker image 1 of job "a" (did you mean "user"?)',
  ]);
});
