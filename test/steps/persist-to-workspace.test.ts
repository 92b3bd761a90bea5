/**
 * persist_to_workspace and attach_workspace end to end: real `deckhand execute` runs in Docker
 * standing for jobs of one workflow run (the hidden --workflow-run-id / --job-run-id /
 * --upstream-job-run-id flags are what `deckhand run` gives each job through JobStorage).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { BUSYBOX, execute, project } from '../support/execute.js';

const made: string[] = [];
after(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

const CONFIG = `version: 2.1
jobs:
  build:
    docker:
      - image: ${BUSYBOX}
    steps:
      - run: |
          mkdir -p /work/dist/sub /work/dist/empty /work/docs
          echo a1 > /work/dist/a.js; echo b1 > /work/dist/b.js; echo css > /work/dist/site.css; echo deep > /work/dist/sub/c.js
          echo guide > /work/docs/guide.md; echo '*' > '/work/dist/[x].js'
          chmod 700 /work/dist/b.js
      - persist_to_workspace:
          root: /work
          paths: [dist/*.js, docs, dist/empty]
      - run: echo a2 > /work/dist/a.js && echo only-second > /work/second.txt
      - persist_to_workspace:
          root: /work
          paths: [dist/a.js, second.txt]
  fix:
    docker:
      - image: ${BUSYBOX}
    working_directory: /tmp/out
    steps:
      - run: mkdir -p dist && echo a3 > dist/a.js
      - persist_to_workspace:
          root: .
          paths: [dist]
  test:
    docker:
      - image: ${BUSYBOX}
    steps:
      - attach_workspace:
          at: ~/ws
      - run: |
          cd ~/ws && find . | sort && cat dist/a.js dist/b.js second.txt docs/guide.md
          stat -c '%a %n' dist/b.js dist/empty
  nomatch:
    docker:
      - image: ${BUSYBOX}
    steps:
      - run: mkdir -p /work && touch /work/x.txt
      - persist_to_workspace:
          root: /work
          paths: [x.txt, '*.log']
  badglob:
    docker:
      - image: ${BUSYBOX}
    steps:
      - run: mkdir -p /work
      - persist_to_workspace:
          root: /work
          paths: ['[a-']
`;

function repo(): string {
  const dir = project(CONFIG);
  made.push(dir);
  return dir;
}

const WF = ['--workflow-run-id', 'wf-1'];

describe('persist_to_workspace / attach_workspace', { concurrency: false }, () => {
  test('layers of upstream jobs attach in workflow order, later layers overwriting earlier files', () => {
    const dir = repo();
    const build = execute(dir, ['--job', 'build', ...WF, '--job-run-id', 'job-build']);
    assert.equal(build.code, 0, build.out + build.err);
    assert.match(build.out, /Creating workspace archive\.\.\.\n {2}\* dist\/\[x\]\.js\n {2}\* dist\/a\.js\n {2}\* dist\/b\.js\n {2}\* docs\n {2}\* dist\/empty\nUploading workspace archive\.\.\.\nTotal size uploaded: .* \([\d.]+ KiB uncompressed, layer 1\)/);
    assert.match(build.out, /layer 2\)/);
    const fix = execute(dir, ['--job', 'fix', ...WF, '--job-run-id', 'job-fix']);
    assert.equal(fix.code, 0, fix.out + fix.err);
    const t = execute(dir, ['--job', 'test', ...WF, '--job-run-id', 'job-test', '--upstream-job-run-id', 'job-build', '--upstream-job-run-id', 'job-fix']);
    assert.equal(t.code, 0, t.out + t.err);
    assert.match(t.out, /Downloading workspace layers \(3, [\d.]+ (B|KiB)\)\n {2}build: wf-1\/job-build\/000000 - .*\n {2}build: wf-1\/job-build\/000001 - .*\n {2}fix: wf-1\/job-fix\/000000 - /);
    // dist/*.js does not reach into dist/sub; site.css is not a .js
    assert.match(t.out, /\n\.\n\.\/dist\n\.\/dist\/\[x\]\.js\n\.\/dist\/a\.js\n\.\/dist\/b\.js\n\.\/dist\/empty\n\.\/docs\n\.\/docs\/guide\.md\n\.\/second\.txt\n/);
    // a3 from the later job beats a2 (layer 2) which beat a1 (layer 1)
    assert.match(t.out, /\na3\nb1\nonly-second\nguide\n/);
    assert.match(t.out, /\n700 dist\/b\.js\n755 dist\/empty\n/);
    // the workspace of another workflow run is not visible
    const other = execute(dir, ['--job', 'test', '--workflow-run-id', 'wf-2', '--upstream-job-run-id', 'job-build']);
    assert.match(other.out, /The upstream jobs persisted nothing to the workspace: nothing to attach/);
  });

  test('a pattern that matches nothing fails the step, as on CircleCI; so does a malformed one', () => {
    const dir = repo();
    const r = execute(dir, ['--job', 'nomatch']);
    assert.equal(r.code, 1);
    assert.match(r.out, /The specified paths did not match any files in \/work \(path "\*\.log"\)/);
    const bad = execute(dir, ['--job', 'badglob']);
    assert.equal(bad.code, 1);
    assert.match(bad.out, /persist_to_workspace: path "\[a-": syntax error in pattern "\/work\/\[a-"/);
  });

  test('a corrupt layer fails attach_workspace with nothing of it applied; no upstream is an empty workspace', () => {
    const dir = repo();
    assert.equal(execute(dir, ['--job', 'fix', ...WF, '--job-run-id', 'job-fix']).code, 0);
    const layerDir = join(dir, '.home', 'store', 'workspaces', 'wf-1', 'job-fix');
    const data = join(layerDir, readdirSync(layerDir)[0], 'data');
    const bytes = readFileSync(data);
    bytes[bytes.length - 5] ^= 0x55;
    writeFileSync(data, bytes);
    const t = execute(dir, ['--job', 'test', ...WF, '--upstream-job-run-id', 'job-fix']);
    assert.equal(t.code, 1, t.out);
    assert.match(t.out, /workspace layer fix: wf-1\/job-fix\/000000 cannot be used: its SHA-256 is [0-9a-f]+, [0-9a-f]+ was stored \(corrupt\); re-run the job that persisted it/);
    const alone = execute(dir, ['--job', 'test']);
    assert.match(alone.out, /No upstream jobs: the workspace is empty, nothing to attach/);
  });
});
