// Commands in the primary container of a real Docker engine: output, exit
// codes, environment, working directory, user, signals and abort.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type Docker from 'dockerode';
import { DockerExecutor } from '../../../agent/executor/docker/docker-executor.js';
import { ExecutorError, ExecutorUnavailableError } from '../../../agent/executor/executor.js';
import { JOB_LABEL } from '../../../agent/executor/docker/labels.js';
import { BUSYBOX, DEBIAN, collect, readAll, realEngine, uniqueJobId } from './engine-fixture.js';

let docker: Docker;

describe('exec in a Debian primary', () => {
  let executor: DockerExecutor;
  before(async () => {
    docker = await realEngine();
    executor = new DockerExecutor({ docker, jobId: uniqueJobId('exec'), containers: [{ image: DEBIAN }], killGraceMs: 500 });
    await executor.prepare();
  });
  after(() => executor?.teardown());

  it('separates stdout from stderr and reports the exit code', async () => {
    const result = await collect(executor.exec({ command: ['/bin/sh', '-c', 'echo out; echo err >&2; echo more; exit 3'] }));
    assert.deepEqual(result, { stdout: 'out\nmore\n', stderr: 'err\n', exitCode: 3, aborted: false });
  });

  it('reports success as exit code 0 and runs bash', async () => {
    const result = await collect(executor.exec({ command: ['bash', '-c', 'echo "$BASH_VERSION" | cut -d. -f1'] }));
    assert.equal(result.exitCode, 0);
    assert.match(result.stdout, /^5\n$/);
  });

  it('passes argv unchanged, without a shell in between', async () => {
    const result = await collect(executor.exec({ command: ['printf', '%s|', 'two words', '$HOME', '*'] }));
    assert.equal(result.stdout, 'two words|$HOME|*|');
  });

  it('applies env, working directory and user to one command', async () => {
    const result = await collect(
      executor.exec({
        command: ['/bin/sh', '-c', 'echo "$GREETING|$(pwd)|$(id -un)|$(id -u)"'],
        env: { GREETING: 'hello there' },
        workingDirectory: '/usr/share',
        user: 'user',
      }),
    );
    assert.equal(result.stdout, 'hello there|/usr/share|user|1000\n');
    const plain = await collect(executor.exec({ command: ['/bin/sh', '-c', 'echo "${GREETING-unset}|$(id -u)"'] }));
    assert.equal(plain.stdout, 'unset|0\n', 'env and user must not leak into the next command');
  });

  it('carries megabytes of binary output byte for byte', async () => {
    const run = executor.exec({
      command: ['/bin/sh', '-c', 'head -c 8388608 /dev/urandom > /tmp/blob; cat /tmp/blob; sha256sum /tmp/blob | cut -d" " -f1 >&2'],
    });
    const [stdout, stderr] = await Promise.all([readAll(run.stdout), readAll(run.stderr)]);
    assert.equal((await run.exit).exitCode, 0);
    assert.equal(stdout.length, 8 * 1024 * 1024);
    assert.equal(createHash('sha256').update(stdout).digest('hex'), stderr.toString('utf8').trim());
  });

  it('aborting kills the command and its children', async () => {
    const abort = new AbortController();
    const started = Date.now();
    const run = executor.exec({ command: ['/bin/sh', '-c', 'sleep 1001 & sleep 1002; wait'], signal: abort.signal });
    setTimeout(() => abort.abort(), 300);
    const result = await collect(run);
    assert.equal(result.aborted, true);
    assert.equal(result.exitCode, 143, 'SIGTERM ends the shell');
    assert.ok(Date.now() - started < 5_000, 'abort must not wait for the command');
    const processes = await collect(executor.exec({ command: ['/bin/sh', '-c', 'cat /proc/[0-9]*/cmdline | tr "\\0" " "'] }));
    assert.doesNotMatch(processes.stdout, /sleep 100[12]/, 'the background child must be gone too');
  });

  it('aborting escalates to SIGKILL when SIGTERM is ignored', async () => {
    const abort = new AbortController();
    const run = executor.exec({ command: ['/bin/sh', '-c', "trap '' TERM; sleep 1000"], signal: abort.signal });
    setTimeout(() => abort.abort(), 300);
    const result = await collect(run);
    assert.deepEqual([result.exitCode, result.aborted], [137, true]);
  });

  it('an already aborted signal runs nothing', async () => {
    const result = await collect(executor.exec({ command: ['touch', '/tmp/must-not-exist'], signal: AbortSignal.abort() }));
    assert.deepEqual([result.exitCode, result.aborted], [-1, true]);
    const check = await collect(executor.exec({ command: ['test', '-e', '/tmp/must-not-exist'] }));
    assert.equal(check.exitCode, 1);
  });

  it('signal() delivers a signal to the running command', async () => {
    const run = executor.exec({ command: ['/bin/sh', '-c', "trap 'echo got INT; exit 42' INT; while :; do sleep 0.1; done"] });
    const outcome = collect(run);
    await run.signal('SIGINT');
    const result = await outcome;
    assert.equal(result.stdout, 'got INT\n');
    assert.equal(result.exitCode, 42);
  });

  it('a missing working directory or user fails the command with exit code 126', async () => {
    const noDir = await collect(executor.exec({ command: ['pwd'], workingDirectory: '/does/not/exist' }));
    assert.equal(noDir.exitCode, 126);
    assert.match(noDir.stdout + noDir.stderr, /\/does\/not\/exist/);
    const noUser = await collect(executor.exec({ command: ['id'], user: 'nosuchuser' }));
    assert.equal(noUser.exitCode, 126);
    assert.match(noUser.stdout + noUser.stderr, /nosuchuser/);
  });

  it('an empty command is refused with a clear error', async () => {
    await assert.rejects(executor.exec({ command: [] }).exit, (error: unknown) => {
      assert.ok(error instanceof ExecutorError);
      assert.match(error.message, /empty command/);
      return true;
    });
  });
});

describe('exec in a busybox primary (no bash)', () => {
  let executor: DockerExecutor;
  before(async () => {
    docker = await realEngine();
    executor = new DockerExecutor({ docker, jobId: uniqueJobId('busybox'), containers: [{ image: BUSYBOX }] });
    await executor.prepare();
  });
  after(() => executor?.teardown());

  it('runs POSIX shell commands', async () => {
    const result = await collect(executor.exec({ command: ['/bin/sh', '-c', 'echo "$((6 * 7))"; ls /bin/busybox'] }));
    assert.deepEqual([result.stdout, result.exitCode], ['42\n/bin/busybox\n', 0]);
  });

  it('has no bash: running it is exit code 127 with the shell\'s error', async () => {
    const result = await collect(executor.exec({ command: ['bash', '-c', 'true'] }));
    assert.equal(result.exitCode, 127);
    assert.match(result.stderr, /bash: not found/);
    assert.doesNotMatch(result.stderr, /deckhand/, 'the exec wrapper must not show in errors');
  });

  it('aborting works with busybox kill', async () => {
    const abort = new AbortController();
    const run = executor.exec({ command: ['sleep', '1000'], signal: abort.signal });
    setTimeout(() => abort.abort(), 300);
    const result = await collect(run);
    assert.deepEqual([result.exitCode, result.aborted], [143, true]);
  });
});

describe('a command killed by a signal', () => {
  let executor: DockerExecutor;
  const jobId = uniqueJobId('killed');
  before(async () => {
    docker = await realEngine();
    executor = new DockerExecutor({ docker, jobId, containers: [{ image: BUSYBOX }], killGraceMs: 500 });
    await executor.prepare();
  });
  after(() => executor?.teardown());

  it('inside a container that keeps running is the command\'s own failure: exit 137', async () => {
    const result = await collect(executor.exec({ command: ['/bin/sh', '-c', 'kill -9 $$'] }));
    assert.deepEqual([result.exitCode, result.aborted], [137, false]);
  });

  it('because its container was stopped from outside is an infrastructure failure', async () => {
    const run = executor.exec({ command: ['/bin/sh', '-c', 'echo up; sleep 1000'] });
    const [primary] = await docker.listContainers({ filters: JSON.stringify({ label: [`${JOB_LABEL}=${jobId}`] }) });
    assert.ok(primary);
    setTimeout(() => void docker.getContainer(primary.Id).kill().catch(() => undefined), 300);
    await assert.rejects(collect(run), (error: unknown) => {
      assert.ok(error instanceof ExecutorUnavailableError, String(error));
      assert.match(error.message, /^the primary container stopped while "\/bin\/sh -c echo up; sleep 1000" ran \(exit 137\): the engine shut down or someone stopped it; rerun the job$/);
      return true;
    });
  });
});
