// Removing what the Docker executor created, found by label rather than by
// remembered ids: that also catches a container whose create call succeeded
// but whose answer was lost, and what a crashed agent left behind.

import type Docker from 'dockerode';
import { JOB_LABEL, ROLE_LABEL, RUN_LABEL } from './labels.js';
import { engineMessage, engineStatus } from './engine.js';

/** Containers (services first, with their anonymous volumes), then networks. */
export async function removeLabelled(docker: Docker, label: string): Promise<void> {
  const filters = JSON.stringify({ label: [label] });
  const containers = await docker.listContainers({ all: true, filters });
  const isPrimary = (info: Docker.ContainerInfo): boolean => info.Labels?.[ROLE_LABEL] === 'primary';
  const failures: string[] = [];
  // Services live in the primary's network namespace: remove them first.
  for (const wave of [containers.filter((c) => !isPrimary(c)), containers.filter(isPrimary)]) {
    await Promise.all(
      wave.map(async (info) => {
        try {
          await docker.getContainer(info.Id).remove({ force: true, v: true });
        } catch (error) {
          // Already gone (or being removed by a concurrent teardown) is done.
          if (engineStatus(error) !== 404 && engineStatus(error) !== 409) failures.push(`container ${info.Id.slice(0, 12)}: ${engineMessage(error)}`);
        }
      }),
    );
  }
  // The engine detaches a removed container's endpoint asynchronously, so a network can refuse
  // removal ("active endpoints") for a moment, or outlive a removal it acknowledged: retry
  // until the label lists none, for a bounded time.
  for (let attempt = 0; ; attempt++) {
    const networks = await docker.listNetworks({ filters });
    if (networks.length === 0) break;
    const errors: string[] = [];
    await Promise.all(
      networks.map(async (info) => {
        try {
          await docker.getNetwork(info.Id).remove();
        } catch (error) {
          if (engineStatus(error) !== 404) errors.push(`network ${info.Name}: ${engineMessage(error)}`);
        }
      }),
    );
    if (attempt >= 10) {
      failures.push(...errors);
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 100 * (attempt + 1)));
  }
  if (failures.length) throw new Error(`could not remove ${failures.join('; ')}`);
}

/** Everything of one executor instance. */
export function removeRun(docker: Docker, runId: string): Promise<void> {
  return removeLabelled(docker, `${RUN_LABEL}=${runId}`);
}

/** Everything of one job, or of every Deckhand job when no id is given. */
export function removeLeftovers(docker: Docker, jobId?: string): Promise<void> {
  return removeLabelled(docker, jobId === undefined ? JOB_LABEL : `${JOB_LABEL}=${jobId}`);
}
