/**
 * The warm pool: instances booted ahead of jobs, so that a job takes a VM that already answers SSH
 * instead of waiting a minute or more for one to boot. The pool lives in the agent process: the
 * login key of a warm VM exists only in its memory, so no other process could use it (nor race for
 * it), and warm VMs left behind when the process ends are the reaper's.
 *
 * Size is the cap on warm VMs of all kinds together. A kind is what a job asked for (AMI, instance
 * type, purpose). After each job's VM is handed over, the pool is topped up with that job's kind; when
 * the pool is full of other kinds, one of them (the oldest ready one) is replaced, so that the pool
 * follows what jobs ask for a step at a time instead of churning.
 */
import type { VmAccess } from '../provider.js';

/** A VM booted and checked, with no job yet. */
export interface WarmVm {
  id: string;
  access: VmAccess;
}

interface Entry {
  key: string;
  startedAt: number;
  /** resolves with the VM once it answers SSH, or undefined when its boot failed (already cleaned up) */
  ready: Promise<WarmVm | undefined>;
  /** set once it is ready */
  vm?: WarmVm;
}

export interface WarmPoolHooks<K> {
  /** boots one VM of `kind` and checks it; on failure it has terminated what it launched */
  boot(kind: K): Promise<WarmVm>;
  /** ends a warm VM no longer wanted */
  discard(id: string): Promise<void>;
  keyOf(kind: K): string;
  log(line: string): void;
}

/** A warm VM taken from the pool: `ready` as above. */
export interface TakenWarmVm {
  ready: Promise<WarmVm | undefined>;
  /** puts it back (the job gave up before it was ready) */
  giveBack(): void;
}

export class WarmPool<K> {
  private readonly entries: Entry[] = [];
  private readonly work = new Set<Promise<unknown>>();
  private closed = false;

  constructor(
    readonly size: number,
    private readonly hooks: WarmPoolHooks<K>,
  ) {}

  /** How many warm VMs there are or are booting. */
  get count(): number {
    return this.entries.length;
  }

  /** Takes a warm VM of `kind`, a ready one first; undefined when there is none. */
  take(kind: K): TakenWarmVm | undefined {
    const key = this.hooks.keyOf(kind);
    const index = this.oldest((e) => e.key === key && e.vm !== undefined) ?? this.oldest((e) => e.key === key);
    if (index === undefined) return undefined;
    const [entry] = this.entries.splice(index, 1) as [Entry];
    return {
      ready: entry.ready,
      giveBack: () => {
        if (this.closed) this.track(entry.ready.then((vm) => vm && this.hooks.discard(vm.id)));
        else this.entries.push(entry);
      },
    };
  }

  /** Boots a VM of `kind` in the background when the pool has room, or replaces one of another kind. */
  topUp(kind: K): void {
    if (this.closed || this.size <= 0) return;
    const key = this.hooks.keyOf(kind);
    if (this.entries.length >= this.size) {
      const other = this.oldest((e) => e.key !== key && e.vm !== undefined);
      if (other === undefined) return;
      const [evicted] = this.entries.splice(other, 1) as [Entry];
      this.hooks.log(`warm pool: replacing warm instance ${evicted.vm?.id ?? '?'} (${evicted.key}) with one of ${key}`);
      if (evicted.vm) this.track(this.hooks.discard(evicted.vm.id));
    }
    const entry: Entry = { key, startedAt: Date.now(), ready: Promise.resolve(undefined) };
    entry.ready = this.hooks.boot(kind).then(
      (vm) => {
        entry.vm = vm;
        return vm;
      },
      (error: unknown) => {
        // after close() the boots under way are canceled: nothing to report
        if (!this.closed) this.hooks.log(`warm pool: booting a warm instance of ${key} failed: ${error instanceof Error ? error.message : String(error)}`);
        const at = this.entries.indexOf(entry);
        if (at >= 0) this.entries.splice(at, 1);
        return undefined;
      },
    );
    this.entries.push(entry);
    this.track(entry.ready);
  }

  /** Forgets VMs ended elsewhere (the reaper). */
  forget(ids: ReadonlySet<string>): void {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const id = this.entries[i]?.vm?.id;
      if (id !== undefined && ids.has(id)) this.entries.splice(i, 1);
    }
  }

  /** Resolves when no boot or discard of the pool's is under way. */
  async settled(): Promise<void> {
    while (this.work.size > 0) await Promise.allSettled([...this.work]);
  }

  /** Ends every warm VM, booting ones once they are up; no more are booted. */
  async drain(): Promise<void> {
    this.closed = true;
    const entries = this.entries.splice(0);
    for (const entry of entries) this.track(entry.ready.then((vm) => vm && this.hooks.discard(vm.id)));
    await this.settled();
  }

  private oldest(match: (e: Entry) => boolean): number | undefined {
    let found: number | undefined;
    this.entries.forEach((e, i) => {
      if (match(e) && (found === undefined || e.startedAt < (this.entries[found]?.startedAt ?? Infinity))) found = i;
    });
    return found;
  }

  private track(work: Promise<unknown>): void {
    const tracked = work.catch((error: unknown) => this.hooks.log(`warm pool: ${error instanceof Error ? error.message : String(error)}`));
    this.work.add(tracked);
    void tracked.finally(() => this.work.delete(tracked));
  }
}
