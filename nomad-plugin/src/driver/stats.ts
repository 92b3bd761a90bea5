/**
 * TaskStats: the CPU and memory of a task, which for Deckhand is the agent's processes (its
 * session) and its job's containers, which run under the Docker engine and which the Nomad
 * client's own process statistics never see. CPU is turned into a percentage of one core from the
 * difference between two samples, as Nomad's executors do; memory is the resident set of the
 * processes plus the containers' usage less their page cache.
 */
import type Docker from 'dockerode';
import { availableParallelism } from 'node:os';
import { machineMhzPerCore } from '../../../agent/nomad/cpu-speed.js';
import { sampleContainers, type ContainerSample } from './engine.js';
import { CLOCK_TICKS_PER_SECOND, sessionProcesses } from './proc.js';

export interface ResourceUsage {
  memory: { rss: number; usage: number; cache: number; measured_fields: string[] };
  cpu: { system_mode: number; user_mode: number; total_ticks: number; percent: number; measured_fields: string[] };
}

export interface TaskStatsSample {
  timestampMs: number;
  aggregate: ResourceUsage;
  /** by pid for the agent's processes, `container:<name>` for containers */
  byKey: Record<string, ResourceUsage>;
}

interface CpuTimes {
  userNs: number;
  systemNs: number;
}

/**
 * MHz of one core, to express CPU as Nomad's ticks (MHz-seconds): the figure the client's
 * configuration was rendered with; 1000 where the machine reports none (the ticks are then
 * relative, the percentages still right).
 */
function coreMhz(): number {
  return machineMhzPerCore() || 1000;
}

/** Follows one task's usage over time; each sample() compares with the previous. */
export class TaskStatsCollector {
  private previous = new Map<string, CpuTimes & { atMs: number }>();
  private readonly mhz = coreMhz();
  private readonly cores = availableParallelism();

  constructor(
    private readonly session: number,
    private readonly docker: Docker | undefined,
    private readonly containersId: string,
  ) {}

  async sample(): Promise<TaskStatsSample> {
    const now = Date.now();
    const tickNs = 1e9 / CLOCK_TICKS_PER_SECOND;
    const byKey: Record<string, ResourceUsage> = {};
    const seen = new Set<string>();
    for (const p of sessionProcesses(this.session)) {
      const key = String(p.pid);
      seen.add(key);
      byKey[key] = this.usage(key, now, { userNs: p.utime * tickNs, systemNs: p.stime * tickNs }, { rss: p.rssBytes, usage: p.rssBytes, cache: 0 }, ['RSS']);
    }
    let containers: ContainerSample[] = [];
    if (this.docker) containers = await sampleContainers(this.docker, this.containersId).catch(() => []);
    for (const c of containers) {
      const key = `container:${c.name}`;
      seen.add(key);
      const user = c.userNs || c.cpuNs;
      const system = c.userNs ? c.systemNs : 0;
      byKey[key] = this.usage(key, now, { userNs: user, systemNs: system }, { rss: Math.max(0, c.memoryBytes - c.cacheBytes), usage: c.memoryBytes, cache: c.cacheBytes }, ['RSS', 'CACHE', 'USAGE']);
    }
    for (const key of this.previous.keys()) if (!seen.has(key)) this.previous.delete(key);
    const aggregate = sum(Object.values(byKey));
    return { timestampMs: now, aggregate, byKey };
  }

  private usage(key: string, now: number, times: CpuTimes, memory: { rss: number; usage: number; cache: number }, memoryFields: string[]): ResourceUsage {
    const before = this.previous.get(key);
    this.previous.set(key, { ...times, atMs: now });
    let user = 0;
    let system = 0;
    if (before && now > before.atMs) {
      const wallNs = (now - before.atMs) * 1e6;
      user = Math.max(0, ((times.userNs - before.userNs) / wallNs) * 100);
      system = Math.max(0, ((times.systemNs - before.systemNs) / wallNs) * 100);
    }
    const percent = Math.min(user + system, 100 * this.cores);
    return {
      memory: { ...memory, measured_fields: memoryFields },
      cpu: { user_mode: user, system_mode: system, percent, total_ticks: (percent / 100) * this.mhz, measured_fields: ['SYSTEM_MODE', 'USER_MODE', 'TOTAL_TICKS', 'PERCENT'] },
    };
  }
}

function sum(usages: ResourceUsage[]): ResourceUsage {
  const total: ResourceUsage = {
    memory: { rss: 0, usage: 0, cache: 0, measured_fields: ['RSS', 'CACHE', 'USAGE'] },
    cpu: { user_mode: 0, system_mode: 0, total_ticks: 0, percent: 0, measured_fields: ['SYSTEM_MODE', 'USER_MODE', 'TOTAL_TICKS', 'PERCENT'] },
  };
  for (const u of usages) {
    total.memory.rss += u.memory.rss;
    total.memory.usage += u.memory.usage;
    total.memory.cache += u.memory.cache;
    total.cpu.user_mode += u.cpu.user_mode;
    total.cpu.system_mode += u.cpu.system_mode;
    total.cpu.total_ticks += u.cpu.total_ticks;
    total.cpu.percent += u.cpu.percent;
  }
  return total;
}
