/** Who is watching which job live: the writer calls notify(job) after storing; watchers re-read. */
export class LiveHub {
  private readonly watchers = new Map<string, Set<() => void>>();

  watch(jobId: string, onChange: () => void): () => void {
    let set = this.watchers.get(jobId);
    if (!set) this.watchers.set(jobId, (set = new Set()));
    set.add(onChange);
    return () => {
      set.delete(onChange);
      if (set.size === 0 && this.watchers.get(jobId) === set) this.watchers.delete(jobId);
    };
  }

  notify(jobId: string): void {
    const set = this.watchers.get(jobId);
    if (set) for (const fn of [...set]) fn();
  }
}
