import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDiagnostic } from '../../agent/config/diagnostics.js';
import { parseOrbRef } from '../../agent/config/orb-registry.js';
import { assertConfigError, compile, emptyRegistry, jobSpec, yaml } from '../support/config.js';

/** A one-job config; `extra` is top-level YAML (e.g. commands), `steps` the job's step lines. */
const base = (steps: string, extra = ''): string =>
  `version: 2.1\n${extra ? `${extra}\n` : ''}jobs:\n  build:\n    docker: [{image: busybox}]\n    steps:\n${steps}\n`;

test('shorthand steps expand with CircleCI defaults', () => {
  const spec = jobSpec(base('      - checkout\n      - run: echo hi\n      - restore_cache: {key: k1}\n      - store_test_results: {path: r}'), 'build');
  assert.deepEqual(spec.steps.map((s) => [s.type, s.name, s.when]), [
    ['checkout', 'Checkout code', 'on_success'],
    ['run', 'echo hi', 'on_success'],
    ['restore_cache', 'Restoring Cache', 'on_success'],
    ['store_test_results', 'Uploading test results', 'always'],
  ]);
  const run = spec.steps[1];
  assert.equal(run.type === 'run' && run.noOutputTimeoutSeconds, 600);
  assert.equal(run.type === 'run' && run.background, false);
});

test('commands call commands, each with its own parameters (no inheritance)', () => {
  const cfg = yaml`
    version: 2.1
    commands:
      greet:
        parameters:
          who: {type: string, default: world}
        steps:
          - run: echo hello << parameters.who >>
      twice:
        parameters:
          who: {type: string}
        steps:
          - greet: {who: << parameters.who >>}
          - greet
    jobs:
      build:
        docker: [{image: busybox}]
        steps:
          - twice: {who: deckhand}
  `;
  const spec = jobSpec(cfg, 'build');
  assert.deepEqual(spec.steps.map((s) => s.type === 'run' && s.command), ['echo hello deckhand', 'echo hello world']);
});

test('a nested command cannot see its caller\'s parameters', () => {
  const cfg = yaml`
    version: 2.1
    commands:
      inner:
        steps:
          - run: echo << parameters.who >>
      outer:
        parameters:
          who: {type: string, default: x}
        steps: [inner]
    jobs:
      build:
        docker: [{image: busybox}]
        steps: [outer]
  `;
  assertConfigError(() => jobSpec(cfg, 'build'), 5, 14, /command "inner" has no parameter "who"/);
});

test('steps parameters splice, both as `- steps:` and as a bare item', () => {
  const cfg = yaml`
    version: 2.1
    commands:
      wrap:
        parameters:
          body: {type: steps}
        steps:
          - run: echo before
          - steps: << parameters.body >>
          - << parameters.body >>
          - run: echo after
    jobs:
      build:
        docker: [{image: busybox}]
        steps:
          - wrap:
              body:
                - run: echo one
                - run: echo two
  `;
  const cmds = jobSpec(cfg, 'build').steps.map((s) => s.type === 'run' && s.command);
  assert.deepEqual(cmds, ['echo before', 'echo one', 'echo two', 'echo one', 'echo two', 'echo after']);
});

test('when/unless steps are decided at compile time with logic statements', () => {
  const cfg = yaml`
    version: 2.1
    jobs:
      build:
        parameters:
          deploy: {type: boolean, default: false}
          env: {type: string, default: prod}
        docker: [{image: busybox}]
        steps:
          - when:
              condition: << parameters.deploy >>
              steps: [{run: echo deploy}]
          - unless:
              condition: << parameters.deploy >>
              steps: [{run: echo skip}]
          - when:
              condition:
                and:
                  - equal: [prod, << parameters.env >>]
                  - matches: {pattern: "^pr.d$", value: << parameters.env >>}
              steps: [{run: echo prod}]
    workflows:
      w:
        jobs:
          - build: {deploy: yes}
  `;
  assert.deepEqual(jobSpec(cfg, 'build').steps.map((s) => s.type === 'run' && s.command), ['echo deploy', 'echo prod']);
});

test('a user command overrides a built-in step of the same name', () => {
  const cfg = base('      - checkout', 'commands:\n  checkout:\n    steps: [{run: echo custom checkout}]');
  const spec = jobSpec(cfg, 'build');
  assert.equal(spec.steps[0].type, 'run');
});

test('an undefined command is an error with a suggestion', () => {
  const cfg = base('      - instal', 'commands:\n  install:\n    steps: [{run: "true"}]');
  assertConfigError(() => jobSpec(cfg, 'build'), 9, 9, /command "instal" is not defined in the config \(did you mean "install"\?\)/);
});

test('a misspelt built-in step argument is an error with a suggestion', () => {
  assertConfigError(() => jobSpec(base('      - save_cache: {key: k, path: [a]}'), 'build'), undefined, undefined, /"paths"/);
});

test('a command that calls itself is reported, not a stack overflow', () => {
  const cfg = base('      - loop', 'commands:\n  loop:\n    steps: [loop]');
  assertConfigError(() => jobSpec(cfg, 'build'), undefined, undefined, /command "loop" calls itself: loop → loop/);
});

test('run keys are typed: durations, background, when, reruns', () => {
  const spec = jobSpec(base('      - run:\n          command: make\n          no_output_timeout: 1.5h\n          background: true\n          when: always\n          max_auto_reruns: 3\n          auto_rerun_delay: 30s'), 'build');
  const s = spec.steps[0];
  assert.ok(s.type === 'run');
  assert.equal(s.noOutputTimeoutSeconds, 5400);
  assert.equal(s.background, true);
  assert.equal(s.when, 'always');
  assert.equal(s.maxAutoReruns, 3);
  assert.equal(s.autoRerunDelaySeconds, 30);
  assertConfigError(() => jobSpec(base('      - run: {command: x, no_output_timeout: soon}'), 'build'), undefined, undefined, /no_output_timeout" must be a duration/);
});

test('equal compares an executor parameter with the executor it names (the configuration reference\'s example)', () => {
  const cfg = yaml`
    version: 2.1
    executors:
      linux-13:
        docker: [{image: cimg/node:13.13}]
      macos: &macos-executor
        macos:
          xcode: 14.2.0
    commands:
      on-mac:
        parameters:
          os: {type: executor}
        steps:
          - when:
              condition:
                equal: [*macos-executor, << parameters.os >>]
              steps: [{run: echo command sees mac}]
    jobs:
      test:
        parameters:
          os: {type: executor}
          node-version: {type: string}
        executor: << parameters.os >>
        steps:
          - checkout
          - when:
              condition:
                equal: [ *macos-executor, << parameters.os >> ]
              steps:
                - run: echo << parameters.node-version >>
          - on-mac: {os: << parameters.os >>}
          - run: echo on << parameters.os >>
    workflows:
      all-tests:
        jobs:
          - test: {name: mac, os: macos, node-version: "13.13.0"}
          - test: {name: linux, os: linux-13, node-version: "13.13.0"}
          - test: {name: mac-by-map, os: {name: macos}, node-version: "13.13.0"}
  `;
  const commands = (job: string) => jobSpec(cfg, job).steps.map((s) => (s.type === 'run' ? s.command : s.type));
  assert.deepEqual(commands('mac'), ['checkout', 'echo 13.13.0', 'echo command sees mac', 'echo on macos']);
  assert.deepEqual(commands('mac-by-map'), ['checkout', 'echo 13.13.0', 'echo command sees mac', 'echo on macos']);
  assert.deepEqual(commands('linux'), ['checkout', 'echo on linux-13']);
  assert.equal(jobSpec(cfg, 'mac').executor.kind, 'macos');
});

test('a when/unless step\'s steps may be a steps parameter, or one step', () => {
  const cfg = yaml`
    version: 2.1
    jobs:
      build:
        parameters:
          go: {type: boolean, default: true}
          then: {type: steps, default: []}
        docker: [{image: busybox}]
        steps:
          - when: {condition: << parameters.go >>, steps: << parameters.then >>}
          - unless: {condition: << parameters.go >>, steps: << parameters.then >>}
          - when: {condition: << parameters.go >>, steps: {run: echo single}}
    workflows:
      w:
        jobs:
          - build: {then: [{run: echo first}, {run: echo second}]}
  `;
  assert.deepEqual(jobSpec(cfg, 'build').steps.map((s) => s.type === 'run' && s.command), ['echo first', 'echo second', 'echo single']);
});

test('keys CircleCI ignores on steps are warnings at the key and left out; a near miss on a closed built-in step is an error', () => {
  const cfg = base(
    [
      '      - run:',
      '          command: make',
      '          description: builds it',
      '          shel: /bin/sh',
      '      - save_cache: {key: k, paths: [a], timeout: 5m}',
      '      - when:',
      '          description: always',
      '          condition: true',
      '          steps: [checkout]',
    ].join('\n'),
  );
  const compiled = compile(cfg);
  assert.deepEqual(compiled.warnings.map(formatDiagnostic), [
    'config.yml:8:11: warning: "description" in step "run" is ignored (CircleCI ignores it too); the step\'s keys are command, name, shell, environment, background, working_directory, no_output_timeout, when, max_auto_reruns, auto_rerun_delay',
    'config.yml:9:11: warning: "shel" in step "run" is ignored (CircleCI ignores it too) (did you mean "shell"?); the step\'s keys are command, name, shell, environment, background, working_directory, no_output_timeout, when, max_auto_reruns, auto_rerun_delay',
    'config.yml:10:42: warning: "timeout" in step "save_cache" is ignored (CircleCI ignores it too); the step\'s keys are name, paths, key, when',
    'config.yml:12:11: warning: "description" in a "when" step is ignored (CircleCI ignores it too); the step takes "condition" and "steps"',
  ]);
  const spec = jobSpec(cfg, 'build');
  assert.deepEqual(spec.steps.map((s) => s.type), ['run', 'save_cache', 'checkout']);
  assert.equal(spec.steps[0].type === 'run' && spec.steps[0].shell, undefined);
  assertConfigError(() => jobSpec(base('      - store_artifacts: {path: out, destinaton: x}'), 'build'), 6, 38, /unknown key "destinaton" in step "store_artifacts" \(did you mean "destination"\?\)/);
  // the same in an orb, which the compiler checks
  const registry = emptyRegistry();
  registry.store('version: 2.1\ncommands:\n  keep:\n    steps:\n      - store_artifacts: {path: out, destinaton: x}\n      - run: {command: make, description: x}\n', parseOrbRef('acme/a@1.0.0')!, 'acme/a@1.0.0');
  const inOrb = 'version: 2.1\norbs: {a: acme/a@1}\njobs:\n  build:\n    docker: [{image: x}]\n    steps: [a/keep]\n';
  const err = assertConfigError(() => jobSpec(inOrb, 'build', { registry }), 5, 38, /step "store_artifacts" has no key "destinaton" \(did you mean "destination"\?\)/);
  assert.equal(err.diagnostics[0].pos?.file, 'acme/a@1.0.0');
});
