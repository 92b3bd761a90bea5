/**
 * Backpressure from the sinks that write to a stream someone else reads (stdout, a pipe): when the
 * reader is slower than a step writes, the step is held back instead of the agent queueing the
 * difference in memory. Sinks that write to disk synchronously (the log file) or spool (the gRPC
 * sink) never hold a step back.
 */
import type { Writable } from 'node:stream';
import type { OutputSink } from './events.js';

/** How much a sink may have queued for its stream before the steps feeding it are paused. */
export const BACKLOG_LIMIT_BYTES = 4 << 20;

/** Resolves once everything written so far has been handed to the stream's destination. */
export function drained(stream: Writable): Promise<void> {
  if (!stream.writableNeedDrain || stream.destroyed) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      stream.off('drain', onDrain);
      stream.off('error', done);
      stream.off('close', onDrain);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => done();
    stream.once('drain', onDrain);
    stream.once('close', onDrain);
    stream.once('error', done);
  });
}

/** undefined while `stream` has room; else a promise that resolves when its queue has drained. */
export function streamRoom(stream: Writable): Promise<void> | undefined {
  if (stream.destroyed || stream.writableLength < BACKLOG_LIMIT_BYTES) return undefined;
  // a reader that went away (EPIPE) must not hold the job: resolve on error too
  return drained(stream).catch(() => undefined);
}

/** The room of several sinks: undefined when all have room, else when all have. */
export function sinksRoom(sinks: readonly OutputSink[]): Promise<void> | undefined {
  const waits = sinks.map((s) => s.room?.()).filter((w): w is Promise<void> => w !== undefined);
  if (waits.length === 0) return undefined;
  return Promise.all(waits).then(() => undefined);
}
