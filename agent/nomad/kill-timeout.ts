/**
 * `--kill-timeout`: how long Nomad waits, after sending the task its kill signal, before it sends
 * SIGKILL. It must match the job's `kill_timeout` (Nomad's effective value is the smaller of the
 * task's kill_timeout and the client's max_kill_timeout, 30 s by default; a task that sets none
 * gets 5 s), so the agent knows how long a graceful cancel may take.
 *
 * A graceful cancel has three phases inside that time (splitKillTimeout):
 *
 *   signal ──stepGrace──▶ steps SIGKILLed ──finish──▶ done ──margin──▶ Nomad's SIGKILL
 *
 * - stepGrace = min(10 s, 1/3 of the timeout): the running step gets SIGTERM and this long to
 *   stop by itself (flush a report, remove a lock) before SIGKILL. It is capped because what a
 *   cancelled step does on its way out matters less than what follows, and at a third so a short
 *   timeout still leaves most of it for the rest.
 * - finish = the rest: delivering the job's remaining output (log, cancel reason, results) and
 *   removing its containers, which run side by side; output first in importance, because a job
 *   whose end is lost looks like an infrastructure failure.
 * - margin = max(1 s, 10% of the timeout), at most a third: kept free before Nomad's SIGKILL for
 *   what the phases do not count (timers firing late on a loaded machine, the process exiting,
 *   the time Nomad's signal took to arrive), so the agent ends by itself rather than being killed
 *   mid-write.
 *
 * For 30 s: 10 s grace, 17 s finish, 3 s margin. For Nomad's default 5 s: 1.67 s, 2.33 s, 1 s.
 */
import { UsageError } from '../errors.js';
import { goDurationMs } from './durations.js';

export const DEFAULT_KILL_TIMEOUT_MS = 30_000;
/** Longer than this is surely a mistake (and a timer could not hold much more than 24 days). */
export const MAX_KILL_TIMEOUT_MS = 24 * 60 * 60 * 1000;

/**
 * Parses a Nomad-style (Go) duration into milliseconds: `30s`, `1m30s`, `500ms`, `2m`, `1h`,
 * `1.5s`, or plain seconds (`45`). Undefined or empty gives the default, 30 s.
 */
export function parseKillTimeout(text: string | undefined, name = '--kill-timeout'): number {
  if (text === undefined || text.trim() === '') return DEFAULT_KILL_TIMEOUT_MS;
  const value = text.trim();
  const shown = JSON.stringify(text);
  const usage = `${name} ${shown} is not a duration: give it as Nomad's kill_timeout is written, e.g. 30s, 1m30s, 500ms, or whole seconds (45)`;
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(value)) {
    ms = Number(value) * 1000;
  } else {
    const parsed = goDurationMs(value);
    if (parsed === undefined) throw new UsageError(usage);
    ms = parsed;
  }
  ms = Math.round(ms);
  if (!(ms > 0)) throw new UsageError(`${name} ${shown} is no time at all: the agent needs time to stop the job, e.g. 30s`);
  if (ms > MAX_KILL_TIMEOUT_MS) throw new UsageError(`${name} ${shown} is over 24 hours: give the job's kill_timeout, e.g. 30s`);
  return ms;
}

/** How a kill timeout is spent on a graceful cancel (see the file's comment). All in ms, summing to totalMs. */
export interface CancelBudget {
  /** the kill timeout: from Nomad's kill signal to its SIGKILL */
  totalMs: number;
  /** from SIGTERM to the running step to its SIGKILL */
  stepGraceMs: number;
  /** after the steps are gone: delivering the remaining output and removing containers */
  finishMs: number;
  /** left unused before Nomad's SIGKILL */
  marginMs: number;
}

export function splitKillTimeout(totalMs: number): CancelBudget {
  if (!Number.isFinite(totalMs) || totalMs <= 0) throw new RangeError(`a kill timeout must be a positive number of milliseconds, not ${totalMs}`);
  const total = Math.round(totalMs);
  const third = Math.floor(total / 3);
  const marginMs = Math.min(Math.max(1000, Math.ceil(total / 10)), third);
  const stepGraceMs = Math.min(10_000, third);
  return { totalMs: total, stepGraceMs, finishMs: total - stepGraceMs - marginMs, marginMs };
}
