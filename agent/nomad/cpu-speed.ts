/**
 * The speed of this machine's cores, as Nomad counts CPU: MHz. The client's configuration
 * (`deckhand nomad client-config`) and the task driver's statistics (ticks are MHz-seconds) both
 * need it, and must agree.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/** Where the speeds are read: what Node reports per core, and /proc/cpuinfo's text. */
export interface CpuSpeedSource {
  cores(): number[];
  cpuinfo(): string;
}

const THIS_MACHINE: CpuSpeedSource = {
  cores: () => cpus().map((c) => c.speed),
  cpuinfo: () => readFileSync('/proc/cpuinfo', 'utf8'),
};

/**
 * MHz of one of this machine's cores, the mean over its cores: the kernel's cpufreq figure as Node
 * reads it or, where a VM has no cpufreq (Node then says 0), the `cpu MHz` lines of /proc/cpuinfo;
 * 0 when neither.
 */
export function machineMhzPerCore(source: CpuSpeedSource = THIS_MACHINE): number {
  let speeds = source.cores().filter((s) => s > 0);
  if (speeds.length === 0) {
    try {
      speeds = [...source.cpuinfo().matchAll(/^cpu MHz\s*:\s*([\d.]+)$/gm)].map((m) => Number(m[1])).filter((s) => s > 0);
    } catch {
      // not Linux, or /proc unreadable
    }
  }
  return speeds.length > 0 ? Math.round(speeds.reduce((a, b) => a + b, 0) / speeds.length) : 0;
}
