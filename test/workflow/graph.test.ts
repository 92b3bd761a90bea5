/** The workflow graph and branch/tag filters, from real compiled configs (no Docker). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { applyFilters, filteredBy } from '../../agent/workflow/filters.js';
import { buildGraph, selectWorkflow, topologicalOrder, upstreamOf, type WorkflowGraph } from '../../agent/workflow/graph.js';
import { UsageError } from '../../agent/errors.js';
import { compile } from '../support/config.js';

const JOBS = `
version: 2.1
jobs:
  build: {docker: [{image: busybox}], steps: [{run: echo}]}
  test:
    parameters: {v: {type: string, default: "1"}}
    docker: [{image: busybox}]
    steps: [{run: echo << parameters.v >>}]
  deploy: {docker: [{image: busybox}], resource_class: large, steps: [{run: echo}]}
`;

function graphOf(workflows: string, opts: { branch?: string; tag?: string; workflow?: string } = {}): WorkflowGraph {
  const compiled = compile(JOBS + workflows, opts);
  return buildGraph(compiled, selectWorkflow(compiled, opts.workflow));
}

describe('workflow graph', () => {
  test('matrix instances, required statuses, specs, topological and upstream order', () => {
    const g = graphOf(`
workflows:
  main:
    jobs:
      - deploy: {requires: [test, hold]}
      - hold: {type: approval, requires: [build]}
      - test: {matrix: {parameters: {v: ["1", "2"]}}, requires: [{build: [success, failed]}]}
      - build
`);
    assert.deepEqual(g.nodes.map((n) => n.name), ['deploy', 'hold', 'test-1', 'test-2', 'build']);
    assert.deepEqual(topologicalOrder(g), ['build', 'hold', 'test-1', 'test-2', 'deploy']);
    const deploy = g.nodes[0];
    assert.deepEqual(Object.keys(deploy.requires).sort(), ['hold', 'test-1', 'test-2'], 'requires of a matrix alias waits for every instance');
    assert.deepEqual(g.nodes[2].requires, { build: ['success', 'failed'] });
    assert.equal(g.nodes[1].spec, undefined, 'approval jobs have no JobSpec');
    assert.equal(deploy.spec?.resources.cpus, 4);
    assert.equal(deploy.spec?.workflow?.name, 'main');
    assert.deepEqual(upstreamOf(g, 'deploy'), ['build', 'hold', 'test-1', 'test-2']);
    assert.deepEqual(upstreamOf(g, 'build'), []);
  });

  test('a graph with an unknown requirement or a cycle is refused', () => {
    const node = (name: string, requires: string[]) => ({ name, type: 'build' as const, requires: Object.fromEntries(requires.map((r) => [r, ['success' as const]])) });
    assert.throws(() => topologicalOrder({ workflow: 'w', nodes: [node('a', ['nope'])] }), /job "a" of workflow "w" requires "nope", which is not a job/);
    assert.throws(() => topologicalOrder({ workflow: 'w', nodes: [node('a', ['b']), node('b', ['a']), node('c', [])] }), /cycle: a, b/);
  });

  test('choosing the workflow: the only one, the named one, a one-line error listing them', () => {
    const two = compile(JOBS + 'workflows:\n  one: {jobs: [build]}\n  two: {jobs: [test]}\n  never: {when: false, jobs: [build]}\n');
    assert.equal(selectWorkflow(two, 'two').name, 'two');
    assert.throws(() => selectWorkflow(two, undefined), (e: Error) => e instanceof UsageError && /has 2 workflows; choose one with --workflow NAME \(one, two\)/.test(e.message));
    assert.throws(() => selectWorkflow(two, 'thre'), (e: Error) => e instanceof UsageError && /no workflow "thre"; workflows: one, two; ruled out by when\/unless: never/.test(e.message) && !e.message.includes('\n'));
    assert.throws(() => selectWorkflow(two, 'never'), /does not run for this pipeline/);
    assert.equal(selectWorkflow(compile(JOBS + 'workflows:\n  only: {jobs: [build]}\n'), undefined).name, 'only');
  });
});

describe('branch and tag filters', () => {
  const wf = `
workflows:
  main:
    jobs:
      - build: {filters: {tags: {only: /^v.*/}}}
      - test: {requires: [build], filters: {branches: {only: [main, /release-.*/]}, tags: {only: /^v.*/}}}
      - deploy: {requires: [test], filters: {branches: {ignore: /.*/}, tags: {only: /^v\\d+$/}}}
      - hold: {type: approval, requires: [build], filters: {branches: {ignore: [main]}}}
`;

  const kept = (opts: { branch?: string; tag?: string }) => {
    const compiled = compile(JOBS + wf, opts);
    const r = applyFilters(buildGraph(compiled, selectWorkflow(compiled, undefined)), compiled.pipeline);
    return { names: r.graph.nodes.map((n) => n.name), out: r.filteredOut, graph: r.graph };
  };

  test('on a branch the branches filter decides; only wins; regexes match the whole name', () => {
    assert.deepEqual(kept({ branch: 'main' }).names, ['build', 'test']);
    assert.deepEqual(kept({ branch: 'release-1' }).names, ['build', 'test', 'hold']);
    assert.deepEqual(kept({ branch: 'xrelease-1' }).names, ['build', 'hold'], '/release-.*/ must match the whole branch name');
    const out = kept({ branch: 'feature' }).out;
    assert.deepEqual(out.map((o) => o.name), ['test', 'deploy']);
    assert.match(out[0].reason, /branches filter excludes feature/);
  });

  test('for a tag only jobs whose tags filter allows it run; no tags filter means no run', () => {
    assert.deepEqual(kept({ tag: 'v1' }).names, ['build', 'test', 'deploy']);
    const beta = kept({ tag: 'v1-beta' });
    assert.deepEqual(beta.names, ['build', 'test']);
    assert.match(beta.out.find((o) => o.name === 'hold')?.reason ?? '', /no tags filter/);
    assert.deepEqual(kept({ tag: 'nightly' }).names, []);
  });

  test('requirements on filtered-out jobs are dropped; a job whose requirements all went does not run', () => {
    const compiled = compile(JOBS + `
workflows:
  main:
    jobs:
      - build: {filters: {branches: {only: main}}}
      - test
      - deploy: {requires: [build, test]}
      - test: {name: after-build, requires: [build]}
`, { branch: 'dev' });
    const r = applyFilters(buildGraph(compiled, selectWorkflow(compiled, undefined)), compiled.pipeline);
    assert.deepEqual(r.graph.nodes.map((n) => n.name), ['test', 'deploy']);
    assert.deepEqual(r.graph.nodes[1].requires, { test: ['success'] });
    assert.match(r.filteredOut.find((o) => o.name === 'after-build')?.reason ?? '', /every job it requires is filtered out \(build\)/);
  });

  test('expression filters are evaluated against pipeline values', () => {
    const compiled = compile(JOBS + 'workflows:\n  main:\n    jobs:\n      - build: {filters: pipeline.git.branch == "main" or pipeline.git.tag starts-with "v"}\n', { branch: 'main' });
    const node = buildGraph(compiled, selectWorkflow(compiled, undefined)).nodes[0];
    assert.equal(filteredBy(node.filters, compiled.pipeline), undefined);
    assert.equal(filteredBy(node.filters, { ...compiled.pipeline, git: { ...compiled.pipeline.git, branch: 'dev' } }), 'filter expression is false: pipeline.git.branch == "main" or pipeline.git.tag starts-with "v"');
    assert.equal(filteredBy(node.filters, { ...compiled.pipeline, git: { ...compiled.pipeline.git, branch: '', tag: 'v2' } }), undefined);
  });
});
