/**
 * One job from JobSpec to result, with everything around runJob that `deckhand execute` and
 * `deckhand run` share: output masked (project and context values) before it reaches the display
 * or the job's log file, the executor chosen and built, its notes shown, the sinks flushed.
 */
import type { PullPolicy } from '../executor/executor.js';
import type { OutputSink } from '../output/events.js';
import { LogFileSink } from '../output/log-file.js';
import { MaskingSink } from '../output/masking-sink.js';
import { UsageError } from '../usage-error.js';
import { executorFor } from './executor-for.js';
import { runJob, SPIN_UP_STEP, type JobResult, type RunJobOptions } from './job-runner.js';

export interface JobSessionOptions extends Omit<RunJobOptions, 'executor' | 'sink' | 'logFile'> {
  /** where people watch the job: the terminal, NDJSON, or a workflow's prefixed view */
  display: OutputSink;
  logFile: string;
  /** labels the job's containers (forced cleanup finds them by it) */
  jobId: string;
  pull: PullPolicy;
  isolateNetwork: boolean;
  /** a live progress line for image pulls on this terminal; without it, plain lines go into the job's output */
  livePullProgress?: { write: (text: string) => void; columns?: number };
}

/** Throws UsageError when no executor can be built for the job (after flushing its output). */
export async function runJobSession(opts: JobSessionOptions): Promise<JobResult> {
  const { display, logFile, jobId, pull, isolateNetwork, livePullProgress, ...job } = opts;
  const sink = new MaskingSink([...Object.values(job.project), ...Object.values(job.contexts)], [display, new LogFileSink(logFile)]);
  let choice;
  try {
    // on a terminal the pull redraws one live line, written past the sinks so that the log
    // keeps no control characters; otherwise plain lines go into the job's output
    const pullProgress = livePullProgress
      ? { ...livePullProgress, tty: true }
      : { write: (text: string) => sink.event({ type: 'output', index: SPIN_UP_STEP, stream: 'agent', data: Buffer.from(text) }), tty: false };
    // image credentials may name project or context variables; contexts win, as in the job's environment
    choice = await executorFor(job.spec, { jobId, pull, isolateNetwork, pullProgress, variables: { ...job.project, ...job.contexts } });
  } catch (err) {
    await sink.close();
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  for (const n of choice.notes) sink.event({ type: 'output', index: SPIN_UP_STEP, stream: 'agent', data: Buffer.from(`note: ${n}\n`) });
  const result = await runJob({ ...job, executor: choice.executor, sink, logFile });
  await sink.close();
  return result;
}
