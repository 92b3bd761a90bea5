import { readFileSync } from 'node:fs';

/**
 * The high-water mark of process `pid`'s resident memory (VmHWM, KiB), read every `everyMs`
 * until stop(): the kernel keeps the peak itself, so sampling cannot miss a short spike; the last
 * read before the process ends is its peak up to then.
 */
export function watchPeakMemory(pid: number, everyMs = 50): { stop: () => number } {
  let peak = 0;
  const read = (): void => {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      peak = Math.max(peak, Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0));
    } catch {
      // the process ended
    }
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
