// Removing what the Docker executor created. Found by label: that also catches a container whose
// create call succeeded but whose answer was lost, and what a crashed agent left behind. Or, when
// every create call was answered, by the ids those answers gave: no listing calls at the end of
// every job (removeCreated).

import type Docker from 'dockerode';
import { JOB_LABEL, ROLE_LABEL, RUN_LABEL } from './labels.js';
import { engineMessage, engineStatus } from './engine.js';

/** A container the executor created, as its create call answered. */
export interface CreatedContainer {
  id: string;
  role: 'primary' | 'service';
}

/** Containers (services first, with their anonymous volumes), then networks. */
export async function removeLabelled(docker: Docker, label: string): Promise<void> {
  const filters = JSON.stringify({ label: [label] });
  const containers = await docker.listContainers({ all: true, filters });
  const failures = await removeContainers(
    docker,
    containers.map((info) => ({ id: info.Id, role: info.Labels?.[ROLE_LABEL] === 'primary' ? 'primary' : 'service' })),
  );
  failures.push(...(await removeNetworks(docker, filters)));
  if (failures.length) throw new Error(`could not remove ${failures.join('; ')}`);
}

/**
 * What one executor instance created, known from the engine's answers to its create calls: the
 * containers by id, then — only when it made one — its network, found by its label.
 */
export async function removeCreated(docker: Docker, containers: CreatedContainer[], runId: string, madeNetwork: boolean): Promise<void> {
  const failures = await removeContainers(docker, containers);
  if (madeNetwork) failures.push(...(await removeNetworks(docker, JSON.stringify({ label: [`${RUN_LABEL}=${runId}`] }))));
  if (failures.length) throw new Error(`could not remove ${failures.join('; ')}`);
}

/** Force-removes containers with their anonymous volumes, services first; returns what failed. */
export async function removeContainers(docker: Docker, containers: CreatedContainer[]): Promise<string[]> {
  const failures: string[] = [];
  // Services live in the primary's network namespace: remove them first.
  for (const wave of [containers.filter((c) => c.role !== 'primary'), containers.filter((c) => c.role === 'primary')]) {
    await Promise.all(
      wave.map(async ({ id }) => {
        try {
          await docker.getContainer(id).remove({ force: true, v: true });
        } catch (error) {
          // Already gone (or being removed by a concurrent teardown) is done.
          if (engineStatus(error) !== 404 && engineStatus(error) !== 409) failures.push(`container ${id.slice(0, 12)}: ${engineMessage(error)}`);
        }
      }),
    );
  }
  return failures;
}

/** Removes the networks a label filter lists; returns what could not be removed. */
export async function removeNetworks(docker: Docker, filters: string): Promise<string[]> {
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
    if (attempt >= 10) return errors;
    await new Promise((resolve) => setTimeout(resolve, 100 * (attempt + 1)));
  }
  return [];
}

/** Everything of one executor instance. */
export function removeRun(docker: Docker, runId: string): Promise<void> {
  return removeLabelled(docker, `${RUN_LABEL}=${runId}`);
}

/** Everything of one job, or of every Deckhand job when no id is given. */
export function removeLeftovers(docker: Docker, jobId?: string): Promise<void> {
  return removeLabelled(docker, jobId === undefined ? JOB_LABEL : `${JOB_LABEL}=${jobId}`);
}
