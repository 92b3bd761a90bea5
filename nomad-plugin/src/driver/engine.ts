/**
 * The Docker engine of the plugin config, as the driver uses it: its version for the
 * fingerprint, the job containers of a task (by their com.deckhand.job label) for stats, and
 * their removal when an agent was killed before it could remove them itself.
 *
 * dockerode is loaded on first use, not at start: it is most of what the plugin would load
 * before its handshake (~100 ms), and Nomad's first launch of a plugin only asks what it is.
 */
import type Docker from 'dockerode';
import { JOB_LABEL } from '../../../agent/executor/docker/labels.js';

export function connectEngine(endpoint: string): Promise<Docker> {
  const url = new URL(endpoint);
  return import('dockerode').then(({ default: Docker }) => {
    if (url.protocol === 'unix:') return new Docker({ socketPath: url.pathname });
    return new Docker({ host: url.hostname, port: url.port || (url.protocol === 'https:' ? 2376 : 2375), protocol: url.protocol === 'https:' ? 'https' : 'http' });
  });
}

export interface EngineVersion {
  version: string;
  apiVersion: string;
}

/** The engine's version, or why it did not answer within `timeoutMs`. */
export async function engineVersion(docker: Docker, timeoutMs: number): Promise<EngineVersion | { error: string }> {
  const abort = AbortSignal.timeout(timeoutMs);
  try {
    const v = (await (docker.version as (opts: { abortSignal: AbortSignal }) => Promise<unknown>).call(docker, { abortSignal: abort })) as { Version: string; ApiVersion: string };
    return { version: v.Version, apiVersion: v.ApiVersion };
  } catch (err) {
    const { engineMessage } = await import('../../../agent/executor/docker/engine.js');
    return { error: abort.aborted ? `no answer within ${timeoutMs / 1000} s` : engineMessage(err) };
  }
}

export interface ContainerSample {
  id: string;
  name: string;
  /** cumulative CPU time in nanoseconds */
  cpuNs: number;
  userNs: number;
  systemNs: number;
  memoryBytes: number;
  /** the cgroup's page cache, counted in memoryBytes by the engine */
  cacheBytes: number;
}

interface EngineStats {
  cpu_stats?: { cpu_usage?: { total_usage?: number; usage_in_usermode?: number; usage_in_kernelmode?: number } };
  memory_stats?: { usage?: number; stats?: { cache?: number; inactive_file?: number } };
}

/** One sample of every running container of the task, without waiting for the engine's second sample. */
export async function sampleContainers(docker: Docker, containersId: string): Promise<ContainerSample[]> {
  const list = await docker.listContainers({ filters: JSON.stringify({ label: [`${JOB_LABEL}=${containersId}`], status: ['running'] }) });
  const samples = await Promise.all(
    list.map(async (info): Promise<ContainerSample | undefined> => {
      try {
        // one-shot: the engine answers at once instead of collecting a second sample (API 1.41+)
        const s = (await docker.getContainer(info.Id).stats({ stream: false, 'one-shot': true } as { stream: false })) as EngineStats;
        const cpu = s.cpu_stats?.cpu_usage ?? {};
        const memory = s.memory_stats ?? {};
        const cache = memory.stats?.cache ?? memory.stats?.inactive_file ?? 0;
        return {
          id: info.Id,
          name: (info.Names?.[0] ?? info.Id).replace(/^\//, ''),
          cpuNs: cpu.total_usage ?? 0,
          userNs: cpu.usage_in_usermode ?? 0,
          systemNs: cpu.usage_in_kernelmode ?? 0,
          memoryBytes: memory.usage ?? 0,
          cacheBytes: cache,
        };
      } catch {
        return undefined; // gone between the listing and the stats call
      }
    }),
  );
  return samples.filter((s): s is ContainerSample => s !== undefined);
}

/** Removes the task's containers and networks, if any are left. */
export async function removeTaskContainers(docker: Docker, containersId: string): Promise<void> {
  const { removeLeftovers } = await import('../../../agent/executor/docker/leftovers.js');
  return removeLeftovers(docker, containersId);
}
