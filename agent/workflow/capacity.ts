/**
 * How many jobs of a workflow run at once on this machine. Like a CircleCI Server Nomad client,
 * the machine keeps 2 CPUs and 4 GB of memory back for coordination; jobs share the rest by their
 * resource_class size (CPUs and memory). At least one job always runs, however small the machine
 * or large the job. `--max-parallel N` replaces the sizes with a plain count of N jobs.
 */
import { availableParallelism, totalmem } from 'node:os';

export const RESERVED = { cpus: 2, memoryMb: 4096 } as const;

export interface Size {
  cpus: number;
  memoryMb: number;
}

export interface Capacity extends Size {
  /** a fixed number of jobs at once instead of sizes (`--max-parallel`) */
  maxJobs?: number;
}

/** This machine's CPUs and memory, minus what is kept back. */
export function machineCapacity(host: Size = { cpus: availableParallelism(), memoryMb: Math.floor(totalmem() / 1048576) }): Capacity {
  return { cpus: Math.max(0, host.cpus - RESERVED.cpus), memoryMb: Math.max(0, host.memoryMb - RESERVED.memoryMb) };
}

/** The share of capacity the jobs running now hold. */
export class CapacityPool {
  private used: Size = { cpus: 0, memoryMb: 0 };
  private running = 0;

  constructor(readonly capacity: Capacity) {}

  /** Whether a job of this size may start now: it fits beside the running ones, or nothing runs. */
  fits(size: Size): boolean {
    if (this.running === 0) return true;
    if (this.capacity.maxJobs !== undefined) return this.running < this.capacity.maxJobs;
    return this.used.cpus + size.cpus <= this.capacity.cpus && this.used.memoryMb + size.memoryMb <= this.capacity.memoryMb;
  }

  take(size: Size): void {
    this.running++;
    this.used = { cpus: this.used.cpus + size.cpus, memoryMb: this.used.memoryMb + size.memoryMb };
  }

  release(size: Size): void {
    this.running--;
    this.used = { cpus: this.used.cpus - size.cpus, memoryMb: this.used.memoryMb - size.memoryMb };
  }

  get jobsRunning(): number {
    return this.running;
  }
}

/** A one-line description for the start of a run. */
export function describeCapacity(c: Capacity): string {
  if (c.maxJobs !== undefined) return `up to ${c.maxJobs} job${c.maxJobs === 1 ? '' : 's'} at once (--max-parallel)`;
  return `${c.cpus} CPUs and ${(c.memoryMb / 1024).toFixed(1)} GB for jobs (2 CPUs and 4 GB kept back; at least one job at a time)`;
}
