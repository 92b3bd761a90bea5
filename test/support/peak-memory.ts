import { readFileSync } from 'node:fs';

/**
 * The high-water mark of process `pid`'s resident memory (VmHWM, KiB), read every `everyMs`
 * until stop(): the kernel keeps the peak itself, so sampling cannot miss a short spike; the last
 * read before the process ends is its peak up to then.
 */
export function watchPeakMemory(pid: number, everyMs = 50): { stop: () => number } {
  let peak = 0;
  const read = (): void => {
    const kb = peakMemoryKb(pid);
    // undefined: the process ended
    if (kb !== undefined) peak = Math.max(peak, kb);
  };
  read();
  const timer = setInterval(read, everyMs);
  return {
    stop() {
      clearInterval(timer);
      read();
      return peak;
    },
  };
}

/** Process `pid`'s resident-memory high-water mark so far (VmHWM, KiB); undefined once it is gone. */
export function peakMemoryKb(pid: number): number | undefined {
  try {
    return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return undefined;
  }
}
