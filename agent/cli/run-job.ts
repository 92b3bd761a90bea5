/**
 * Running one assignment from a command (`execute`, `agent run`, `agent nomad-task`): the
 * display on stdout (terminal or NDJSON), agent news on stderr (plain or JSON lines), Ctrl-C and
 * SIGTERM, and at the end the artifacts listing and where the output went. Returns the exit code.
 */
import type { JobAssignment } from '../assignment/assignment.js';
import { formatStoredArtifacts } from '../artifacts/job-artifacts.js';
import { EXIT_ERROR } from '../errors.js';
import { jsonLogger, textLogger, type Logger } from '../daemon-log.js';
import { NdjsonSink } from '../output/ndjson.js';
import { TerminalSink } from '../output/terminal.js';
import { startAssignment, type JobRunResult } from '../runner/run-assignment.js';
import { watchInterrupts, type CancelSignal } from './interrupts.js';
import { reclaimInBackground } from './reclaim.js';

export interface JobCommandOptions {
  /** text for people, json for NDJSON events on stdout */
  output: 'text' | 'json';
  color: boolean;
  /** agent news and the end-of-job lines on stderr: plain lines, or JSON lines for a log pipeline */
  logFormat: 'text' | 'json';
  logFile: string;
  /** the agent's environment: this process's, plus what the command line gave (a token, `-e` values) */
  env: Readonly<Record<string, string | undefined>>;
  /** lines at the top of the job's output */
  notes?: string[];
  killGraceMs?: number;
  /** the com.deckhand.job label of the job's containers (default: from the run id) */
  containerJobId?: string;
  /** the latest moment (epoch ms) output delivery may go on after a cancel by `signal` */
  deliverBy?: (signal: CancelSignal) => number | undefined;
}

export function agentLogger(format: 'text' | 'json'): Logger {
  return format === 'json' ? jsonLogger(process.stderr) : textLogger(process.stderr);
}

export async function runJobCommand(assignment: JobAssignment, opts: JobCommandOptions): Promise<number> {
  const log = agentLogger(opts.logFormat);
  // what dead agents left is removed while this job starts
  const reclaiming = reclaimInBackground(log);
  const { run, spec } = assignment;
  log.log('info', 'job started', { job: spec.job.name, runId: run.id, nodeIndex: run.nodeIndex, nodeTotal: run.nodeTotal, logFile: opts.logFile });
  const display = opts.output === 'json' ? new NdjsonSink(process.stdout) : new TerminalSink({ stream: process.stdout, color: opts.color });
  const running = startAssignment(assignment, {
    env: opts.env,
    display,
    logFile: opts.logFile,
    log,
    ...(opts.output === 'text' && process.stdout.isTTY === true ? { livePullProgress: { write: (text: string) => void process.stdout.write(text), columns: process.stdout.columns } } : {}),
    ...(opts.notes ? { notes: opts.notes } : {}),
    ...(opts.killGraceMs !== undefined ? { killGraceMs: opts.killGraceMs } : {}),
    ...(opts.containerJobId !== undefined ? { containerJobId: opts.containerJobId } : {}),
  });
  // a reader that went away (`deckhand execute | head`) is a cancel: the job stops, its
  // containers go, its log is completed, and the run says so and exits 2
  const closed = watchClosedOutput(() => running.cancel({ signal: 'SIGTERM' }));
  const unwatch = watchInterrupts({
    what: 'the job',
    cancel: (signal) => {
      const deliverBy = opts.deliverBy?.(signal);
      running.cancel({ signal, ...(deliverBy !== undefined ? { deliverBy } : {}) });
    },
    forceCleanup: () => running.forceCleanup(),
    say: (line) => log.log('warn', line),
  });
  try {
    const result = await running.result;
    if (closed.stream) {
      writeIfOpen(process.stderr, `deckhand: ${closed.stream} was closed by its reader while the job ran: the job was stopped and cleaned up; its full log is ${opts.logFile}\n`);
      return EXIT_ERROR;
    }
    await report(result, opts, log);
    return result.exitCode;
  } finally {
    unwatch();
    closed.stop();
    await reclaiming;
  }
}

/** The end of a job: its artifacts and where its output went, for people (stdout) or as log lines. */
async function report(result: JobRunResult, opts: JobCommandOptions, log: Logger): Promise<void> {
  const lines = formatStoredArtifacts(result.artifacts);
  const delivery = result.output;
  if (opts.logFormat === 'json') {
    if (result.artifacts) log.log('info', 'artifacts stored', { jobRunId: result.artifacts.jobRunId, count: result.artifacts.count, bytes: result.artifacts.bytes, store: result.artifacts.location });
    if (delivery) {
      const r = delivery.report;
      log.log(delivery.delivered ? 'info' : 'error', delivery.delivered ? 'output delivered' : 'output NOT fully delivered', {
        jobId: delivery.jobId,
        where: delivery.where,
        ...(r ? { totalBytes: r.totalBytes, undeliveredBytes: r.undeliveredBytes, undeliveredEvents: r.undeliveredEvents, verified: r.verified, lastError: r.lastError ?? r.verifyMessage } : {}),
      });
    }
    log.log('info', 'job finished', { status: result.status, exitCode: result.exitCode, durationMs: result.durationMs, infrastructureFailure: result.infrastructureFailure });
    return;
  }
  const out = opts.output === 'json' ? process.stderr : process.stdout;
  if (lines) out.write(lines);
  if (delivery) {
    // only a streamed job has a delivery, and its gRPC modules are loaded already
    const { formatOutputDelivery } = await import('../output/stream/job-stream.js');
    const { summary, problem } = formatOutputDelivery(delivery);
    out.write(`${summary}\n`);
    if (problem) process.stderr.write(`deckhand: ${problem}\n`);
  }
}

/**
 * Watches stdout and stderr for a reader that went away (EPIPE): `onClosed` runs once, and the
 * stream named stays known; without a listener Node would end the process on the error.
 */
export function watchClosedOutput(onClosed: () => void): { readonly stream: 'stdout' | 'stderr' | undefined; stop(): void } {
  let stream: 'stdout' | 'stderr' | undefined;
  const listeners = (['stdout', 'stderr'] as const).map((name) => {
    const listener = (err: NodeJS.ErrnoException): void => {
      if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') return;
      if (stream === undefined) {
        stream = name;
        onClosed();
      }
    };
    process[name].on('error', listener);
    return { name, listener };
  });
  return {
    get stream() {
      return stream;
    },
    stop() {
      // a late error after the job (a write still queued) must still not end the process
      for (const { name, listener } of listeners) {
        process[name].off('error', listener);
        process[name].on('error', () => undefined);
      }
    },
  };
}

/** Writes unless the stream is gone (its reader closed it). */
export function writeIfOpen(stream: NodeJS.WriteStream, text: string): void {
  if (!stream.destroyed && stream.writable) stream.write(text);
}
