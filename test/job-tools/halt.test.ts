// `circleci-agent step halt`: the marker the runner looks for after a step.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HALT_MARKER, TASK_DATA_ENV } from '../../agent/job-tools/install.js';
import { TOOL_IMAGES, lines, toolsContainer } from './tools-container.js';

for (const image of TOOL_IMAGES) {
  describe(`step halt in ${image}`, () => {
    const box = toolsContainer(image, 'tools-halt');

    it('creates the halt marker in the task data directory and exits 0', async () => {
      await box.sh('mkdir -p /tmp/task-a');
      for (const name of ['circleci-agent', 'circleci']) {
        await box.sh('rm -f /tmp/task-a/halt');
        const result = await box.sh(`${name} step halt`, { [TASK_DATA_ENV]: '/tmp/task-a' });
        assert.deepEqual([result.exitCode, result.stdout, result.stderr], [0, '', '']);
        const check = await box.sh(`test -f /tmp/task-a/${HALT_MARKER} && echo present`);
        assert.equal(check.stdout, 'present\n');
      }
    });

    it('lets the step go on and exit 0 after halting', async () => {
      await box.sh('mkdir -p /tmp/task-b');
      const result = await box.sh('circleci-agent step halt && echo after', { [TASK_DATA_ENV]: '/tmp/task-b' });
      assert.deepEqual([result.exitCode, result.stdout], [0, 'after\n']);
    });

    it('fails outside a job with CircleCI\'s message', async () => {
      const result = await box.sh('unset CIRCLE_INTERNAL_TASK_DATA; circleci step halt');
      assert.equal(result.exitCode, 1);
      assert.equal(result.stdout, '');
      assert.match(result.stderr, /expected this to be called inside a job/);
      assert.equal(lines(result.stderr).length, 1);
    });

    it('says what is wrong when the task data directory is missing', async () => {
      const result = await box.sh('circleci-agent step halt', { [TASK_DATA_ENV]: '/tmp/no-such-task-dir' });
      assert.equal(result.exitCode, 1);
      assert.deepEqual(lines(result.stderr), [
        'circleci-agent: cannot halt: task data directory /tmp/no-such-task-dir does not exist; the job runner must create it before the step',
      ]);
    });

    it('takes no arguments', async () => {
      const result = await box.sh('circleci-agent step halt now', { [TASK_DATA_ENV]: '/tmp' });
      assert.equal(result.exitCode, 2);
      assert.match(result.stderr, /step halt takes no arguments/);
    });
  });
}
