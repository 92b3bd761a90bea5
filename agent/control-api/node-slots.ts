/**
 * The nodes a backend has running, each holding its size of the backend's capacity: what both
 * backends answer for `fits`, `running` and `capacity`, kept in one place.
 */
import type { JobSpec } from '../jobspec/jobspec.js';
import { CapacityPool, type Capacity, type Size } from '../workflow/capacity.js';
import type { Backend } from './scheduler.js';

/** The share of capacity one node of the job takes. */
export function nodeSize(spec: JobSpec): Size {
  return { cpus: spec.resources.cpus, memoryMb: spec.resources.memoryMb };
}

export class NodeSlots<T extends { size: Size }> {
  private readonly pool: CapacityPool;
  private readonly nodes = new Map<string, T>();

  constructor(private readonly total: Capacity) {
    this.pool = new CapacityPool(total);
  }

  get running(): number {
    return this.nodes.size;
  }

  fits(size: Size): boolean {
    return this.pool.fits(size);
  }

  take(nodeId: string, entry: T): T {
    this.nodes.set(nodeId, entry);
    this.pool.take(entry.size);
    return entry;
  }

  release(nodeId: string): void {
    const entry = this.nodes.get(nodeId);
    if (!entry) return;
    this.nodes.delete(nodeId);
    this.pool.release(entry.size);
  }

  get(nodeId: string): T | undefined {
    return this.nodes.get(nodeId);
  }

  /** the running nodes, by node id */
  entries(): [string, T][] {
    return [...this.nodes.entries()];
  }

  /** What is used and free now; `isVm` says which nodes hold a VM. */
  usage(isVm: (entry: T) => boolean = () => false): ReturnType<Backend['capacity']> {
    const all = [...this.nodes.values()];
    const used = all.reduce((a, j) => ({ cpus: a.cpus + j.size.cpus, memoryMb: a.memoryMb + j.size.memoryMb }), { cpus: 0, memoryMb: 0 });
    return {
      cpusUsed: used.cpus,
      cpusFree: Math.max(0, this.total.cpus - used.cpus),
      memoryMbUsed: used.memoryMb,
      memoryMbFree: Math.max(0, this.total.memoryMb - used.memoryMb),
      vmsInUse: all.filter(isVm).length,
    };
  }
}
