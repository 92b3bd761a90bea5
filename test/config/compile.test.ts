/** compileSource as a whole: every problem in one pass when asked, warnings, approval jobs on their own. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findJob } from '../../agent/config/compile.js';
import { ConfigError, formatDiagnostic } from '../../agent/config/diagnostics.js';
import { toJobSpec } from '../../agent/config/to-jobspec.js';
import { parseJobSpec } from '../../agent/jobspec/validate.js';
import { compile, yaml } from '../support/config.js';

const broken = yaml`
  version: 2.1
  orbs:
    node: acme/node@5
    slack: acme/slack@4.1
  jobs:
    build:
      docker: [{image: x}]
      steps: [instal, node/install]
    test:
      docker: [{image: x}]
      steps: [{run: {command: make, description: x}}]
  workflows:
    one:
      jobs: [build, test]
    two:
      jobs:
        - test: {requires: [biuld]}
    three:
      when: {equal: [a, << pipeline.parameters.nope >>]}
      jobs: [test]
`;

test('collectProblems: every missing orb, every job and workflow that fails, in one error, in position order', () => {
  assert.throws(
    () => compile(broken, { collectProblems: true }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(
        err.diagnostics.map((d) => formatDiagnostic(d).replace(/ \(\/tmp\/[^)]*\)/, '').replace(/; fetch it with.*/, '')),
        [
          'config.yml:3:9: orb acme/node@5 is not in the local orb registry',
          'config.yml:4:10: orb acme/slack@4.1 is not in the local orb registry',
          'config.yml:8:13: command "instal" is not defined in the config',
          'config.yml:17:9: job "test" in workflow "two" requires "biuld", which is not a job of this workflow',
          'config.yml:19:23: unknown pipeline value pipeline.parameters.nope',
        ],
      );
      assert.deepEqual(err.warnings.map(formatDiagnostic), [
        'config.yml:11:35: warning: "description" in step "run" is ignored (CircleCI ignores it too); the step\'s keys are command, name, shell, environment, background, working_directory, no_output_timeout, when, max_auto_reruns, auto_rerun_delay',
      ]);
      return true;
    },
  );
  // without it, the first problem stops the compile
  assert.throws(() => compile(broken), (err: unknown) => err instanceof ConfigError && err.diagnostics.length === 1);
});

test('an approval job has a JobSpec of its own: type approval, no executor, its requirements', () => {
  const compiled = compile(yaml`
    version: 2.1
    jobs:
      build: {docker: [{image: x}], steps: [checkout]}
    workflows:
      release:
        jobs:
          - build
          - hold: {type: approval, requires: [build]}
  `);
  const found = findJob(compiled, 'hold');
  const spec = parseJobSpec(JSON.parse(JSON.stringify(toJobSpec(compiled, found.job, found.wfJob, found.workflow?.name))));
  assert.deepEqual(spec.job, { name: 'hold', definition: 'hold', type: 'approval' });
  assert.deepEqual(spec.executor, { kind: 'none' });
  assert.deepEqual(spec.steps, []);
  assert.deepEqual(spec.workflow, { name: 'release', requires: { build: ['success'] } });
});
