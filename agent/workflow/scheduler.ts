/**
 * Runs a job graph: a job starts once every job it requires has ended in one of the statuses it
 * accepts (`requires: [a]` means success; `requires: [{a: failed}]`, `terminal`, … as on CircleCI)
 * and its size fits in the capacity left; jobs free to go start in workflow order, smaller ones
 * filling capacity a larger one cannot use yet. A job whose requirement ended in a status it does
 * not accept can never start: it ends `not_run`, and so, in turn, may the jobs that require it.
 * After an interrupt no job starts; the running ones get the signal and the rest end `not_run`.
 */
import type { RequiredStatus } from '../jobspec/jobspec.js';
import type { CapacityPool, Size } from './capacity.js';
import type { JobRunStatus } from './graph.js';

export interface SchedulableJob {
  name: string;
  requires: Record<string, RequiredStatus[]>;
  /** the capacity the job holds while it runs; undefined holds none (approval, no-op) */
  size?: Size;
}

export interface JobOutcome {
  status: JobRunStatus;
  /** milliseconds since the epoch; absent for a job that never started */
  startedAt?: number;
  durationMs: number;
  /** for not_run and for failures outside the job's steps: why, in a few words */
  reason?: string;
}

export interface ScheduleOptions<J extends SchedulableJob> {
  pool: CapacityPool;
  /** runs one job to its end; a rejection counts as a failure with the error's message */
  run(job: J): Promise<{ status: JobRunStatus; reason?: string }>;
  /** interrupts the run: nothing more starts */
  signal: AbortSignal;
  /** told as soon as a job is known never to start */
  onNotRun?(job: J, reason: string): void;
}

export async function schedule<J extends SchedulableJob>(jobs: J[], opts: ScheduleOptions<J>): Promise<Map<string, JobOutcome>> {
  const names = new Set(jobs.map((j) => j.name));
  for (const j of jobs) {
    for (const r of Object.keys(j.requires)) if (!names.has(r)) throw new Error(`job "${j.name}" requires "${r}", which is not in this run`);
  }
  const outcomes = new Map<string, JobOutcome>();
  const pending = [...jobs];
  const running = new Set<Promise<void>>();
  const notRun = (job: J, reason: string): void => {
    outcomes.set(job.name, { status: 'not_run', durationMs: 0, reason });
    opts.onNotRun?.(job, reason);
  };
  const start = (job: J): void => {
    const startedAt = Date.now();
    if (job.size) opts.pool.take(job.size);
    const done: Promise<void> = opts
      .run(job)
      .catch((err: unknown) => ({ status: 'failed' as const, reason: err instanceof Error ? err.message : String(err) }))
      .then((r) => {
        const outcome: JobOutcome = { status: r.status, startedAt, durationMs: Date.now() - startedAt };
        if (r.reason !== undefined) outcome.reason = r.reason;
        outcomes.set(job.name, outcome);
      })
      .finally(() => {
        if (job.size) opts.pool.release(job.size);
        running.delete(done);
      });
    running.add(done);
  };

  for (;;) {
    // decide what can be decided now; a decision may unblock or block jobs later in the list
    for (let changed = true; changed; ) {
      changed = false;
      for (const job of [...pending]) {
        const verdict = opts.signal.aborted ? 'interrupted' : readiness(job, outcomes);
        if (verdict === 'waiting') continue;
        if (verdict === 'ready') {
          if (job.size && !opts.pool.fits(job.size)) continue;
          start(job);
        } else {
          notRun(job, verdict);
        }
        pending.splice(pending.indexOf(job), 1);
        changed = true;
      }
    }
    if (running.size === 0) break;
    await Promise.race(running);
  }
  // only a graph whose requirements refer to each other in a cycle can leave jobs here
  for (const job of pending) notRun(job, 'its requirements never ended');
  return outcomes;
}

/** 'ready', 'waiting', or the reason the job can never start. */
function readiness(job: SchedulableJob, outcomes: Map<string, JobOutcome>): 'ready' | 'waiting' | string {
  let waiting = false;
  for (const [name, accepted] of Object.entries(job.requires)) {
    const o = outcomes.get(name);
    if (!o) waiting = true;
    else if (!accepted.includes(o.status)) return `${name} ended ${o.status.replace('_', ' ')}${accepted.length === 1 && accepted[0] === 'success' ? '' : `, not ${accepted.join('/')}`}`;
  }
  return waiting ? 'waiting' : 'ready';
}
