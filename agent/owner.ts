/**
 * Which agent process owns something it left on a shared engine or disk (a job's containers and
 * network, a VM, a pool host's lock), and whether that process is still there. An owner is named
 * by the machine, the machine's boot, the process id and the process's start time: a reboot, or a
 * pid used again by another process, is told from the owner being alive. Only owners of this
 * machine can be judged; another machine's are never taken for gone.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

export interface AgentOwner {
  machine: string;
  /** the machine's boot id (Linux), so that what a previous boot left is seen as orphaned */
  boot: string;
  pid: number;
  /** the process's start time since boot, in clock ticks (tells a reused pid apart) */
  start: string;
}

/** This process, as an owner. */
export function thisAgent(): AgentOwner {
  return { machine: hostname(), boot: bootId(), pid: process.pid, start: processStartOf(process.pid) ?? '' };
}

/** `machine/boot/pid/start`: the form a label or a file holds. */
export function formatOwner(owner: AgentOwner): string {
  return `${owner.machine}/${owner.boot}/${owner.pid}/${owner.start}`;
}

export function parseOwner(text: string): AgentOwner | undefined {
  const m = /^([^/]*)\/([^/]*)\/(\d+)\/([^/]*)$/.exec(text);
  return m ? { machine: m[1], boot: m[2], pid: Number(m[3]), start: m[4] } : undefined;
}

/**
 * `gone` only when the owner ran on this machine and has ended: in an earlier boot, or its pid is
 * free or taken by a process that started at another time. `alive` when it runs; `unknown` for
 * another machine's owner (never treated as gone).
 */
export function ownerState(owner: AgentOwner): 'alive' | 'gone' | 'unknown' {
  if (owner.machine !== hostname()) return 'unknown';
  const boot = bootId();
  if (owner.boot !== '' && boot !== '' && owner.boot !== boot) return 'gone';
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return 'gone';
  }
  const stat = processStat(owner.pid);
  // a zombie (killed, not yet reaped by its parent) has ended too
  if (stat?.state === 'Z') return 'gone';
  return owner.start !== '' && stat !== undefined && stat.start !== owner.start ? 'gone' : 'alive';
}

/** Field 22 of /proc/PID/stat (start time since boot, in clock ticks); undefined off Linux. */
export function processStartOf(pid: number): string | undefined {
  return processStat(pid)?.start;
}

/** The state (field 3) and start time (field 22) of /proc/PID/stat; undefined off Linux or for no such process. */
function processStat(pid: number): { state: string; start: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) is in parentheses and may hold spaces: count after its end
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', start: fields[19] ?? '' };
  } catch {
    return undefined;
  }
}

function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}
