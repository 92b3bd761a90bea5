/**
 * `--output json`: every job event as one JSON object on one line (NDJSON), for scripts and
 * editors. Output bytes travel as base64 in `data`, so nothing is lost when a step writes binary
 * or invalid UTF-8; `text` repeats them as a string when (and only when) they are valid UTF-8.
 * The format is documented in docs/output.md.
 */
import { isUtf8 } from 'node:buffer';
import type { Writable } from 'node:stream';
import type { JobEvent, OutputSink, OutputStreamName } from './events.js';
import { drained, streamRoom } from './backpressure.js';

/** The JSON shape of one event: as in events.ts, with output bytes encoded. */
export type JsonJobEvent =
  | Exclude<JobEvent, { type: 'output' }>
  | { type: 'output'; index: number; stream: OutputStreamName; data: string; text?: string };

export function toJsonEvent(e: JobEvent): JsonJobEvent {
  if (e.type !== 'output') return e;
  const json: JsonJobEvent = { type: 'output', index: e.index, stream: e.stream, data: e.data.toString('base64') };
  if (isUtf8(e.data)) json.text = e.data.toString('utf8');
  return json;
}

/** One line of NDJSON for an event, newline included. */
export function formatJsonEvent(e: JobEvent): string {
  return JSON.stringify(toJsonEvent(e)) + '\n';
}

export class NdjsonSink implements OutputSink {
  constructor(private readonly stream: Writable) {}

  event(e: JobEvent): void {
    this.stream.write(formatJsonEvent(e));
  }

  close(): Promise<void> {
    // a reader that went away (EPIPE) loses nothing of the job's: the front end reports it
    return drained(this.stream).catch(() => undefined);
  }

  room(): Promise<void> | undefined {
    return streamRoom(this.stream);
  }
}

export function createNdjsonSink(stream: Writable): NdjsonSink {
  return new NdjsonSink(stream);
}
