// Which Engine API calls a job's spin-up and teardown make, watched on the real engine: the
// primary is created while its image is inspected, a missing image is told by the create call
// itself, and teardown removes what the creates answered with, listing nothing when it can.

import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import Docker from 'dockerode';
import { DockerExecutor } from '../../../agent/executor/docker/docker-executor.js';
import { connectDocker } from '../../../agent/executor/docker/engine.js';
import { BUSYBOX, DEBIAN_ENTRYPOINT, collect, leftovers, realEngine, uniqueJobId } from './engine-fixture.js';

let docker: Docker;
before(async () => {
  docker = await realEngine();
});

/** A client of the same engine that notes each request ("METHOD /path" without the query). */
function watchedEngine(): { engine: Docker; requests: string[] } {
  const engine = connectDocker();
  const requests: string[] = [];
  const modem = engine.modem as unknown as { dial: (options: { method: string; path: string }, callback: unknown) => unknown };
  const dial = modem.dial.bind(modem);
  modem.dial = (options, callback) => {
    requests.push(`${options.method} ${options.path.split('?')[0]}`);
    return dial(options, callback);
  };
  return { engine, requests };
}

describe('engine requests of spin-up and teardown', () => {
  it('a one-container job is torn down with one forced removal and no listing', async () => {
    const { engine, requests } = watchedEngine();
    const jobId = uniqueJobId('requests');
    const executor = new DockerExecutor({ docker: engine, jobId, containers: [{ image: BUSYBOX }], network: 'bridge' });
    await executor.prepare();
    assert.equal((await collect(executor.exec({ command: ['true'] }))).exitCode, 0);
    const before = requests.length;
    await executor.teardown();
    assert.deepEqual(requests.slice(before).map((r) => r.replace(/[0-9a-f]{64}/, 'ID')), ['DELETE /containers/ID']);
    assert.deepEqual(await leftovers(docker, jobId), []);
    // the image inspect and the create went out together, before the create was answered
    const create = requests.indexOf('POST /containers/create');
    assert.ok(create >= 0 && requests.slice(0, create + 1).includes(`GET /images/${BUSYBOX}/json`), requests.join('\n'));
    // a second teardown has nothing left to do
    const after = requests.length;
    await executor.teardown();
    assert.equal(requests.length, after);
  });

  it('an isolated network is found by its label and removed with the containers', async () => {
    const jobId = uniqueJobId('requests-net');
    const executor = new DockerExecutor({ docker, jobId, containers: [{ image: BUSYBOX }, { image: BUSYBOX, name: 'db', command: ['sleep', '600'] }], network: 'isolated' });
    await executor.prepare();
    assert.equal((await leftovers(docker, jobId)).length, 3);
    await executor.teardown();
    assert.deepEqual(await leftovers(docker, jobId), []);
  });

  it('a missing image fails the create; with --pull never that is the error, and nothing is left', async () => {
    const jobId = uniqueJobId('requests-missing');
    const missing = `deckhand-test/no-such-image-${jobId}:latest`;
    const executor = new DockerExecutor({ docker, jobId, containers: [{ image: missing }], pull: 'never', network: 'bridge' });
    await assert.rejects(executor.prepare(), (error: Error) => {
      assert.match(error.message, /not present on the Docker engine and the pull policy is "never"/);
      assert.doesNotMatch(error.message, /\n/);
      return true;
    });
    await executor.teardown();
    assert.deepEqual(await leftovers(docker, jobId), []);
  });

  it('an image labelled preserve-entrypoint gets its container created again, running its entrypoint', async () => {
    const { engine, requests } = watchedEngine();
    const jobId = uniqueJobId('requests-preserve');
    const executor = new DockerExecutor({ docker: engine, jobId, containers: [{ image: DEBIAN_ENTRYPOINT }], network: 'bridge' });
    try {
      await executor.prepare();
      assert.equal(requests.filter((r) => r === 'POST /containers/create').length, 2);
      const listed = await docker.listContainers({ all: true, filters: JSON.stringify({ label: [`com.deckhand.job=${jobId}`] }) });
      assert.equal(listed.length, 1, 'the first container, made for an unlabelled image, must be gone');
    } finally {
      await executor.teardown();
    }
    assert.deepEqual(await leftovers(docker, jobId), []);
  });
});
