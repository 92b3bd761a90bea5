import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDiagnostic } from '../../agent/config/diagnostics.js';
import { processedConfig } from '../../agent/config/process-output.js';
import { filterAllows } from '../../agent/config/workflows.js';
import { assertConfigError, compile, jobSpec, yaml } from '../support/config.js';

const jobs = yaml`
  version: 2.1
  jobs:
    build:
      parameters:
        version: {type: string, default: "1"}
        platform: {type: string, default: linux}
      docker: [{image: "img:<< parameters.version >>"}]
      steps: [{run: echo << parameters.platform >>}]
    deploy:
      docker: [{image: x}]
      steps: [checkout]
`;

test('matrix: names from sorted parameter names, excludes, alias fan-in', () => {
  const c = compile(jobs + yaml`
    workflows:
      main:
        jobs:
          - build:
              matrix:
                parameters:
                  version: ["0.1", "0.2"]
                  platform: [macos, linux]
                exclude:
                  - {version: "0.2", platform: macos}
          - deploy:
              requires: [build]
  `);
  const wf = c.workflows[0];
  assert.deepEqual(wf.jobs.map((j) => j.name), ['build-macos-0.1', 'build-linux-0.1', 'build-linux-0.2', 'deploy']);
  assert.deepEqual(Object.keys(wf.jobs[3].requires).sort(), ['build-linux-0.1', 'build-linux-0.2', 'build-macos-0.1']);
  const body = c.jobs.get('build-linux-0.2')!.body;
  assert.deepEqual(body.docker, [{ image: 'img:0.2' }]);
});

test('matrix: name templates and << matrix.x >> in requires', () => {
  const c = compile(jobs + yaml`
    workflows:
      main:
        jobs:
          - build:
              name: b-<< matrix.version >>
              matrix: {parameters: {version: ["1", "2"]}}
          - build:
              name: d-<< matrix.version >>
              matrix: {parameters: {version: ["1", "2"]}, alias: d}
              requires: [b-<< matrix.version >>]
  `);
  const wf = c.workflows[0];
  assert.deepEqual(wf.jobs.map((j) => j.name), ['b-1', 'b-2', 'd-1', 'd-2']);
  assert.deepEqual(Object.keys(wf.jobs[3].requires), ['b-2']);
});

test('matrix: a value listed twice runs once, with a warning at the repeat', () => {
  const c = compile(jobs + yaml`
    workflows:
      main:
        jobs:
          - build:
              matrix:
                parameters:
                  version: ["1", "2", "1"]
                  platform: [linux, linux]
  `);
  assert.deepEqual(c.workflows[0].jobs.map((j) => j.name), ['build-linux-1', 'build-linux-2']);
  assert.deepEqual(c.warnings.map(formatDiagnostic), [
    'config.yml:18:35: warning: matrix parameter "version" of job "build" lists 1 more than once; it runs once',
    'config.yml:19:33: warning: matrix parameter "platform" of job "build" lists linux more than once; it runs once',
  ]);
});

test('matrix: an empty or null parameter expands to no jobs; what requires it is handled as a requirement on a job that does not run', () => {
  const c = compile(jobs + yaml`
    workflows:
      main:
        jobs:
          - build:
              matrix:
                alias: builds
                parameters:
                  version: []
                  platform: [linux]
          - build:
              name: other
              matrix: {parameters: {version: ~}}
          - deploy: {name: lonely, requires: [builds]}
          - deploy: {name: after-lonely, requires: [lonely]}
          - deploy: {name: mixed, requires: [builds, deploy]}
          - deploy
  `);
  const wf = c.workflows[0];
  assert.deepEqual(wf.jobs.map((j) => j.name), ['mixed', 'deploy']);
  assert.deepEqual(wf.jobs[0].requires, { deploy: ['success'] });
  assert.deepEqual([...c.jobs.keys()], ['mixed', 'deploy']);
  assert.deepEqual(c.warnings.map(formatDiagnostic), [
    'config.yml:19:24: warning: matrix parameter "version" of job "build" has no values, so the matrix expands to no jobs',
    'config.yml:23:42: warning: matrix parameter "version" of job "build" has no values, so the matrix expands to no jobs',
    'config.yml:24:9: warning: job "lonely" of workflow "main" requires "builds", whose matrix expands to no jobs; that requirement is dropped',
    'config.yml:24:9: warning: job "lonely" of workflow "main" does not run: none of the jobs it requires runs',
    'config.yml:25:9: warning: job "after-lonely" of workflow "main" does not run: none of the jobs it requires runs (lonely)',
    'config.yml:26:9: warning: job "mixed" of workflow "main" requires "builds", whose matrix expands to no jobs; that requirement is dropped',
  ]);
  // a requirement on a name that is no job at all is still an error
  assertConfigError(() => compile(jobs + 'workflows:\n  w:\n    jobs:\n      - build: {matrix: {parameters: {version: []}}}\n      - deploy: {requires: [buld]}\n'), 16, 9, /requires "buld", which is not a job of this workflow/);
});

test('matrix expanding to a name clash is an error', () => {
  assertConfigError(() => compile(jobs + yaml`
    workflows:
      main:
        jobs:
          - build:
              name: same
              matrix: {parameters: {version: ["1", "2"]}}
  `), undefined, undefined, /workflow "main" has two jobs named "same"/);
});

test('two entries with one name: the later gets a suffix, requires waits for both', () => {
  const c = compile(jobs + 'workflows:\n  w:\n    jobs:\n      - deploy: {name: pub}\n      - deploy: {name: pub}\n      - build: {requires: [pub]}\n');
  assert.deepEqual(c.workflows[0].jobs.map((j) => j.name), ['pub', 'pub-2', 'build']);
  assert.deepEqual(Object.keys(c.workflows[0].jobs[2].requires), ['pub', 'pub-2']);
});

test('requires: statuses, unknown names, cycles', () => {
  const c = compile(jobs + yaml`
    workflows:
      main:
        jobs:
          - build
          - deploy:
              requires:
                - build: [success, failed]
  `);
  assert.deepEqual(c.workflows[0].jobs[1].requires, { build: ['success', 'failed'] });
  const terminal = compile(jobs + 'workflows:\n  w:\n    jobs:\n      - build\n      - deploy: {requires: [{build: terminal}]}\n');
  assert.equal(terminal.workflows[0].jobs[1].requires.build.length, 5);
  assertConfigError(() => compile(jobs + 'workflows:\n  w:\n    jobs:\n      - build\n      - deploy: {requires: [biuld]}\n'), 16, 9, /requires "biuld", which is not a job of this workflow \(did you mean "build"\?\)/);
  assertConfigError(() => compile(jobs + 'workflows:\n  w:\n    jobs:\n      - build: {requires: [deploy]}\n      - deploy: {requires: [build]}\n'), undefined, undefined, /require each other in a cycle: build → deploy → build/);
  assertConfigError(() => compile(jobs + 'workflows:\n  w:\n    jobs:\n      - build\n      - deploy: {requires: [{build: done}]}\n'), undefined, undefined, /done/);
});

test('pre-steps and post-steps wrap the job', () => {
  const spec = jobSpec(jobs + 'workflows:\n  w:\n    jobs:\n      - deploy:\n          pre-steps: [{run: echo pre}]\n          post-steps: [{run: echo post}]\n', 'deploy');
  assert.deepEqual(spec.steps.map((s) => s.type), ['run', 'checkout', 'run']);
  assert.deepEqual(spec.workflow, { name: 'w', requires: {} });
});

test('workflow when/unless with logic statements and pipeline values', () => {
  const text = jobs + yaml`
    parameters:
      nightly: {type: boolean, default: false}
    workflows:
      nightly:
        when: << pipeline.parameters.nightly >>
        jobs: [build]
      commit:
        unless:
          or: [<< pipeline.parameters.nightly >>, {equal: [release, << pipeline.git.branch >>]}]
        jobs: [deploy]
      expr:
        when: pipeline.git.branch == "main"
        jobs: [deploy]
  `;
  assert.deepEqual(compile(text, { branch: 'main' }).workflows.map((w) => w.name), ['commit', 'expr']);
  assert.deepEqual(compile(text, { branch: 'release', parameters: { nightly: true } }).workflows.map((w) => w.name), ['nightly']);
  assertConfigError(() => compile(text, { parameters: { nigthly: true } }), undefined, undefined, /has no parameter "nigthly" \(did you mean "nightly"\?\)/);
});

test('filters: map form with /regex/ full match, expression form kept', () => {
  const c = compile(jobs + yaml`
    workflows:
      w:
        jobs:
          - build:
              filters:
                branches: {only: [main, /release\\/.*/]}
                tags: {ignore: /v.*/}
          - deploy:
              filters: pipeline.git.branch == "main"
  `);
  const f = c.workflows[0].jobs[0].filters;
  assert.ok(f && 'branches' in f);
  assert.equal(filterAllows(f.branches, 'release/1.0'), true);
  assert.equal(filterAllows(f.branches, 'xrelease/1.0'), false);
  assert.equal(filterAllows(f.tags, 'v1'), false);
  assert.deepEqual(c.workflows[0].jobs[1].filters, { expression: 'pipeline.git.branch == "main"' });
  assertConfigError(() => compile(jobs + 'workflows:\n  w:\n    jobs:\n      - build: {filters: {branch: {only: main}}}\n'), undefined, undefined, /"branch".*\(did you mean "branches"\?\)/);
});

test('approval jobs and contexts appear in the processed workflow', () => {
  const c = compile(jobs + 'workflows:\n  w:\n    jobs:\n      - build\n      - hold: {type: approval, requires: [build]}\n      - deploy: {requires: [hold], context: [aws, slack]}\n');
  const out = processedConfig(c);
  assert.deepEqual((out.workflows as Record<string, unknown>).w, {
    jobs: ['build', { hold: { type: 'approval', requires: ['build'] } }, { deploy: { requires: ['hold'], context: ['aws', 'slack'] } }],
  });
  assert.deepEqual(Object.keys(out.jobs as object), ['build', 'deploy']);
});

test('the same job with other arguments in two workflows gets distinct processed keys', () => {
  const c = compile(jobs + 'workflows:\n  a:\n    jobs: [{build: {version: "1"}}]\n  b:\n    jobs: [{build: {version: "2"}}]\n');
  assert.deepEqual([...c.jobs.keys()], ['build', 'build-2']);
  assert.equal(c.workflows[1].keys.get('build'), 'build-2');
});

test('2.0 configs: no workflows runs build; 2.1-only keys are refused', () => {
  const c = compile('version: 2\njobs:\n  build:\n    docker: [{image: x}]\n    steps: [checkout]\n');
  assert.deepEqual(c.workflows.map((w) => w.jobs.map((j) => j.name)), [['build']]);
  assertConfigError(() => compile('version: 2\ncommands:\n  x:\n    steps: []\njobs:\n  build:\n    docker: [{image: x}]\n    steps: [checkout]\n'), 2, 1, /"commands" needs version 2.1/);
});

test('mustache sections <<# x >> and <<^ x >> keep text by truthiness', () => {
  const c = compile(jobs + yaml`
    workflows:
      w:
        jobs:
          - build:
              name: b-<<#matrix.version>>v<<matrix.version>><</matrix.version>><<^matrix.version>>none<</matrix.version>>
              matrix: {parameters: {version: ["1", ""]}}
  `);
  assert.deepEqual(c.workflows[0].jobs.map((j) => j.name), ['b-v1', 'b-none']);
});
