/**
 * Input a hostile or careless user gives the CLI, end to end with the real CLI: a config that is
 * not UTF-8 (saved as Latin-1) is refused at the byte, with its position and offset, by every
 * command that reads it, before anything starts; nothing is decoded with replacement characters.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { deckhandBin, execute, project } from '../support/execute.js';

const LATIN1_CONFIG = Buffer.concat([
  Buffer.from('version: 2.1\njobs:\n  build:\n    docker: [{image: deckhand-test/busybox:latest}]\n    steps:\n      - run: echo caf'),
  Buffer.from([0xe9]),
  Buffer.from('\nworkflows:\n  main:\n    jobs: [build]\n'),
]);
const WHERE = /^\.circleci\/config\.yml:6:22: not valid UTF-8 at byte offset 112 \(0xe9\); save the file as UTF-8$/m;

describe('a config that is not UTF-8', () => {
  const dir = project('version: 2.1\n');
  writeFileSync(join(dir, '.circleci', 'config.yml'), LATIN1_CONFIG);

  test('deckhand execute: exit 2, the byte\'s position and offset, no job started, no stack trace', () => {
    // DOCKER_HOST at nothing: the refusal must come before any engine call
    const r = execute(dir, ['--job', 'build'], { DOCKER_HOST: 'unix:///nonexistent/docker.sock' });
    assert.equal(r.code, 2, r.out + r.err);
    assert.match(r.err, WHERE);
    assert.doesNotMatch(r.out + r.err, /Spin up environment|\n\s+at \S+/);
  });

  for (const command of [['config', 'validate'], ['config', 'process'], ['run']]) {
    test(`deckhand ${command.join(' ')}: refused with the same line`, () => {
      const r = spawnSync(process.execPath, ['--', deckhandBin, ...command], { cwd: dir, encoding: 'utf8', env: { ...process.env, DECKHAND_HOME: join(dir, '.home'), DOCKER_HOST: 'unix:///nonexistent/docker.sock' } });
      assert.notEqual(r.status, 0, r.stdout);
      assert.match(r.stderr, WHERE);
      assert.doesNotMatch(r.stdout + r.stderr, /\uFFFD|\n\s+at \S+/);
    });
  }
});
