/**
 * What Linux's /proc says about a process: whether the one a driver started is still the one
 * behind its pid (a pid can be reused; the start time in clock ticks since boot cannot), its
 * state, its session, and its CPU time and memory. proc(5):
 * https://man7.org/linux/man-pages/man5/proc_pid_stat.5.html
 */
import { readdirSync, readFileSync } from 'node:fs';

/** USER_HZ: the unit of utime, stime and starttime; 100 on every Linux architecture Nomad runs on. */
export const CLOCK_TICKS_PER_SECOND = 100;
const PAGE_SIZE = 4096;

export interface ProcStat {
  pid: number;
  state: string;
  ppid: number;
  session: number;
  /** CPU time in user and kernel mode, in clock ticks */
  utime: number;
  stime: number;
  /** clock ticks after boot when the process started */
  startTime: number;
  rssBytes: number;
}

export function readProcStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // the command name is in parentheses and may itself hold spaces and parentheses
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 of proc(5)
  const field = (n: number) => Number(fields[n - 3]);
  return {
    pid,
    state: fields[0],
    ppid: field(4),
    session: field(6),
    utime: field(14),
    stime: field(15),
    startTime: field(22),
    rssBytes: field(24) * PAGE_SIZE,
  };
}

/** The machine's boot: a start time means something only within one boot. */
export function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}

/** Whether `pid` is still the process that started at `startTime` in boot `boot`, and not a zombie. */
export function isSameLiveProcess(pid: number, startTime: number, boot: string): boolean {
  if (boot !== bootId()) return false;
  const stat = readProcStat(pid);
  return stat !== undefined && stat.startTime === startTime && stat.state !== 'Z' && stat.state !== 'X';
}

/** Every live process of a session (the agent leads its own: it is started with setsid). */
export function sessionProcesses(session: number): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readProcStat(Number(name));
    if (stat && stat.session === session && stat.state !== 'Z') out.push(stat);
  }
  return out;
}

/** Memory available for new work, in MB (MemAvailable of /proc/meminfo). */
export function availableMemoryMb(): number | undefined {
  try {
    const match = /^MemAvailable:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    return match ? Math.floor(Number(match[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}
