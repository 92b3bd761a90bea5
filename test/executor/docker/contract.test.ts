/**
 * The Executor contract against the Docker executor on the real engine: a busybox primary on the
 * default bridge. After teardown no container or network may carry the executor's run label.
 */
import { before, describe } from 'node:test';
import type Docker from 'dockerode';
import { DockerExecutor } from '../../../agent/executor/docker/docker-executor.js';
import { RUN_LABEL } from '../../../agent/executor/docker/labels.js';
import { executorContract } from '../executor-contract.js';
import { BUSYBOX, realEngine, uniqueJobId } from './engine-fixture.js';

describe('DockerExecutor: the Executor contract', () => {
  let docker: Docker;
  before(async () => {
    docker = await realEngine();
  });

  executorContract(({ killGraceMs }) => {
    const executor = new DockerExecutor({ docker, jobId: uniqueJobId('contract'), containers: [{ image: BUSYBOX }], network: 'bridge', killGraceMs });
    return {
      executor,
      async leftovers() {
        const filters = JSON.stringify({ label: [`${RUN_LABEL}=${executor.runId}`] });
        const containers = await docker.listContainers({ all: true, filters });
        const networks = await docker.listNetworks({ filters });
        return [...containers.map((c) => `container ${c.Names.join(',')} (${c.State})`), ...networks.map((n) => `network ${n.Name}`)];
      },
    };
  });
});
