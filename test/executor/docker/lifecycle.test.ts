// prepare() and teardown() against the real engine: entrypoint rules, limits,
// image presence, and that nothing labelled with the job survives, whichever
// way the job ends.

import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type Docker from 'dockerode';
import { DockerExecutor } from '../../../agent/executor/docker/docker-executor.js';
import { removeLeftovers } from '../../../agent/executor/docker/leftovers.js';
import { ExecutorError } from '../../../agent/executor/executor.js';
import type { ContainerSpec } from '../../../agent/executor/docker/container-spec.js';
import { BUSYBOX, BUSYBOX_ENTRYPOINT, DEBIAN, DEBIAN_ENTRYPOINT, collect, leftovers, realEngine, uniqueJobId } from './engine-fixture.js';

let docker: Docker;
before(async () => {
  docker = await realEngine();
});

/** Prepares, runs `body`, and always tears down; returns the job id. */
async function withJob(
  name: string,
  containers: ContainerSpec[],
  body: (executor: DockerExecutor) => Promise<void>,
  extra: Partial<ConstructorParameters<typeof DockerExecutor>[0]> = {},
): Promise<string> {
  const jobId = uniqueJobId(name);
  const executor = new DockerExecutor({ docker, jobId, containers, ...extra });
  try {
    await executor.prepare();
    await body(executor);
  } finally {
    await executor.teardown();
  }
  return jobId;
}

/** The failure's message, which must be a single line. */
async function failureOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ExecutorError, `expected an ExecutorError, got ${String(error)}`);
    assert.doesNotMatch(error.message, /\n/);
    return error.message;
  }
  assert.fail('expected a failure');
}

const pid1 = (executor: DockerExecutor): Promise<string> =>
  collect(executor.exec({ command: ['/bin/sh', '-c', 'tr "\\0" " " < /proc/1/cmdline'] })).then((r) => r.stdout.trim());

describe('prepare and teardown', () => {
  it('teardown removes every container and network, and may be repeated', async () => {
    const jobId = uniqueJobId('teardown');
    const executor = new DockerExecutor({ docker, jobId, containers: [{ image: BUSYBOX }, { image: BUSYBOX, name: 'svc', command: ['sleep', '1000'] }] });
    await executor.prepare();
    const during = await leftovers(docker, jobId);
    assert.equal(during.filter((item) => item.startsWith('container')).length, 2);
    assert.equal(during.filter((item) => item.startsWith('network')).length, 1);
    await executor.teardown();
    assert.deepEqual(await leftovers(docker, jobId), []);
    await executor.teardown();
    await assert.rejects(collect(executor.exec({ command: ['true'] })), /before prepare\(\) finished/);
  });

  it('the primary ignores the image ENTRYPOINT/CMD and idles in sh', async () => {
    await withJob('idle', [{ image: BUSYBOX_ENTRYPOINT }], async (executor) => {
      assert.match(await pid1(executor), /^\/bin\/sh -c trap/);
      const marker = await collect(executor.exec({ command: ['test', '-e', '/tmp/entrypoint-ran'] }));
      assert.equal(marker.exitCode, 1, 'the image ENTRYPOINT must not have run');
    });
  });

  it('a given command is used as is', async () => {
    await withJob('command', [{ image: DEBIAN, command: ['sleep', '1234'] }], async (executor) => {
      assert.equal(await pid1(executor), 'sleep 1234');
    });
  });

  it('keeps the ENTRYPOINT of an image labelled com.circleci.preserve-entrypoint=true', async () => {
    await withJob('preserve', [{ image: DEBIAN_ENTRYPOINT }], async (executor) => {
      const marker = await collect(executor.exec({ command: ['cat', '/tmp/entrypoint-ran'] }));
      assert.equal(marker.stdout, 'entrypoint ran with: sleep infinity\n');
    });
  });

  it('a given entrypoint replaces the image ENTRYPOINT', async () => {
    await withJob('entrypoint', [{ image: DEBIAN_ENTRYPOINT, entrypoint: ['sleep'], command: ['4321'] }], async (executor) => {
      assert.equal(await pid1(executor), 'sleep 4321');
      const marker = await collect(executor.exec({ command: ['test', '-e', '/tmp/entrypoint-ran'] }));
      assert.equal(marker.exitCode, 1);
    });
  });

  it('applies the container user and environment, and CPU and memory limits', async () => {
    const spec: ContainerSpec = { image: BUSYBOX, user: 'user', environment: { FROM_SPEC: 'yes' } };
    await withJob(
      'limits',
      [spec],
      async (executor) => {
        const result = await collect(executor.exec({ command: ['/bin/sh', '-c', 'echo "$(id -un) $FROM_SPEC"; cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us'] }));
        const [who, memory, quota, period] = result.stdout.trim().split('\n');
        assert.equal(who, 'user yes');
        assert.equal(Number(memory), 256 * 1024 * 1024);
        assert.equal(Number(quota) / Number(period), 1.5);
      },
      { resources: { cpus: 1.5, memoryBytes: 256 * 1024 * 1024 } },
    );
  });

  it('a missing image with pull "never" fails in one line naming the image, leaving nothing', async () => {
    const jobId = uniqueJobId('never');
    const executor = new DockerExecutor({ docker, jobId, containers: [{ image: BUSYBOX }, { image: 'deckhand-test/absent:1' }], pull: 'never' });
    const message = await failureOf(executor.prepare());
    assert.match(message, /^image "deckhand-test\/absent:1" is not present on the Docker engine and the pull policy is "never"; /);
    assert.deepEqual(await leftovers(docker, jobId), []);
    await executor.teardown();
  });

  it('an image that cannot be pulled fails in one line naming the image', async () => {
    const jobId = uniqueJobId('pull');
    const executor = new DockerExecutor({ docker, jobId, containers: [{ image: 'deckhand-test/absent:2' }] });
    const message = await failureOf(executor.prepare());
    assert.match(message, /^cannot pull image "deckhand-test\/absent:2": .+; check the name/);
    assert.deepEqual(await leftovers(docker, jobId), []);
  });

  it('pull "always" tries the registry even for a local image', async () => {
    const executor = new DockerExecutor({ docker, jobId: uniqueJobId('always'), containers: [{ image: BUSYBOX }], pull: 'always' });
    assert.match(await failureOf(executor.prepare()), /^cannot pull image "deckhand-test\/busybox:latest"/);
  });

  it('a service that cannot start fails prepare and removes the primary and network', async () => {
    const jobId = uniqueJobId('badservice');
    const executor = new DockerExecutor({ docker, jobId, containers: [{ image: BUSYBOX }, { image: BUSYBOX, entrypoint: ['/no/such/program'] }] });
    const message = await failureOf(executor.prepare());
    assert.match(message, /^cannot start a container of image "deckhand-test\/busybox:latest": .*\/no\/such\/program/);
    assert.deepEqual(await leftovers(docker, jobId), []);
  });

  it('a primary whose command exits at once is reported, and removed', async () => {
    const jobId = uniqueJobId('exits');
    const executor = new DockerExecutor({ docker, jobId, containers: [{ image: BUSYBOX, command: ['sh', '-c', 'exit 7'] }] });
    const message = await failureOf(executor.prepare());
    assert.match(message, /exited with code 7 right after it started/);
    assert.deepEqual(await leftovers(docker, jobId), []);
  });

  it('teardown during prepare leaves nothing behind', async () => {
    const jobId = uniqueJobId('race');
    const executor = new DockerExecutor({ docker, jobId, containers: [{ image: BUSYBOX }, { image: BUSYBOX, command: ['sleep', '1000'] }] });
    const preparing = executor.prepare();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await executor.teardown();
    await preparing.catch(() => undefined);
    assert.deepEqual(await leftovers(docker, jobId), []);
  });

  it('removeLeftovers sweeps a job that was never torn down', async () => {
    const jobId = uniqueJobId('crashed');
    const executor = new DockerExecutor({ docker, jobId, containers: [{ image: BUSYBOX }] });
    await executor.prepare();
    assert.notDeepEqual(await leftovers(docker, jobId), []);
    await removeLeftovers(docker, jobId);
    assert.deepEqual(await leftovers(docker, jobId), []);
  });

  it('a job without containers is refused', async () => {
    const executor = new DockerExecutor({ docker, jobId: uniqueJobId('empty'), containers: [] });
    assert.match(await failureOf(executor.prepare()), /names no container/);
  });
});
