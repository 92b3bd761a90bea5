/**
 * The script the Docker executor runs in a container to signal an exec's process group
 * (agent/executor/docker/exec.ts), run here on the host under busybox's sh and under dash, the
 * /bin/sh of the two kinds of image: the group gets the signal, and exactly once. Through the
 * engine a second delivery is mostly merged with the first by the kernel, so a test there
 * seldom sees it; here every call of `kill` is counted.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { SIGNALLER } from '../../../agent/executor/docker/exec.js';

const scratch = mkdtempSync(join(tmpdir(), 'deckhand-signaller-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const SHELLS: [string, string[]][] = [
  ['busybox sh', ['/bin/busybox', 'sh']],
  ['dash', ['/bin/dash']],
];

describe('the Docker executor signaller', () => {
  for (const [name, [shell, ...shellArgs]] of SHELLS) {
    test(`signals the process group once under ${name}`, async () => {
      assert.ok(existsSync(shell), `${shell} is needed (Debian's busybox-static and dash)`);
      // a process group of its own, as the engine makes each exec
      const target = spawn('sleep', ['100'], { detached: true, stdio: 'ignore' });
      const ended = new Promise<NodeJS.Signals | null>((resolve) => target.once('exit', (_code, signal) => resolve(signal)));
      try {
        const pidFile = join(scratch, `${name.replace(/\W/g, '-')}.pid`);
        const log = join(scratch, `${name.replace(/\W/g, '-')}.log`);
        writeFileSync(pidFile, `${target.pid}\n`);
        writeFileSync(log, '');
        // every call of kill is logged, then made
        const counting = `kill() { printf '%s\\n' "$*" >> "$KILL_LOG"; command kill "$@"; }; ${SIGNALLER}`;
        const run = spawnSync(shell, [...shellArgs, '-c', counting, pidFile, 'TERM'], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', KILL_LOG: log }, encoding: 'utf8' });
        assert.equal(run.status, 0, run.stderr);
        assert.equal(await ended, 'SIGTERM');
        const calls = readFileSync(log, 'utf8').trim().split('\n');
        assert.equal(calls.filter((call) => /\bTERM\b/.test(call)).length, 1, `kill was called as: ${JSON.stringify(calls)}`);
      } finally {
        target.kill('SIGKILL');
      }
    });
  }
});
