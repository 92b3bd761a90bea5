/**
 * The sink every job event passes through first: it masks secrets in `output` data and in the
 * environment listing of `job-start`, then forwards the events to the renderers behind it, so no
 * renderer, log file or network client ever sees a secret.
 *
 * Each (step, stream) has its own Masker, because a background step keeps writing while later
 * steps run: its held-back bytes must not mix with another step's. A step's held-back bytes are
 * released right before that step's `step-end`; anything still held at `job-end` (a step that
 * never ended) is released before `job-end`.
 */
import { sinksRoom } from './backpressure.js';
import type { JobEvent, OutputSink, OutputStreamName } from './events.js';
import { Masker } from './masker.js';

export class MaskingSink implements OutputSink {
  private readonly downstream: OutputSink[];
  private readonly secrets: string[];
  /** one-shot masker for environment values */
  private readonly values: Masker;
  /** stream maskers by step index, then stream */
  private readonly maskers = new Map<number, Map<OutputStreamName, Masker>>();
  private closed = false;

  constructor(secrets: Iterable<string>, downstream: OutputSink | OutputSink[]) {
    this.secrets = [...secrets];
    this.values = new Masker(this.secrets);
    this.downstream = Array.isArray(downstream) ? downstream : [downstream];
  }

  /** `text` with every secret masked, as the output would show it (an artifact's path, say). */
  mask(text: string): string {
    return this.values.maskString(text);
  }

  event(e: JobEvent): void {
    switch (e.type) {
      case 'job-start': {
        const environment: Record<string, string> = {};
        for (const [key, value] of Object.entries(e.environment)) environment[key] = this.values.maskString(value);
        this.forward({ ...e, environment });
        return;
      }
      case 'output': {
        const data = this.maskerFor(e.index, e.stream).mask(e.data);
        if (data.length) this.forward({ ...e, data });
        return;
      }
      case 'step-end':
        this.flushStep(e.index);
        this.forward(e);
        return;
      case 'job-end':
        for (const index of [...this.maskers.keys()]) this.flushStep(index);
        this.forward(e);
        return;
      default:
        this.forward(e);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    for (const index of [...this.maskers.keys()]) this.flushStep(index);
    this.closed = true;
    const results = await Promise.allSettled(this.downstream.map((s) => s.close()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  room(): Promise<void> | undefined {
    return sinksRoom(this.downstream);
  }

  private maskerFor(index: number, stream: OutputStreamName): Masker {
    let streams = this.maskers.get(index);
    if (!streams) this.maskers.set(index, (streams = new Map()));
    let masker = streams.get(stream);
    if (!masker) streams.set(stream, (masker = new Masker(this.secrets)));
    return masker;
  }

  private flushStep(index: number): void {
    const streams = this.maskers.get(index);
    if (!streams) return;
    this.maskers.delete(index);
    for (const [stream, masker] of streams) {
      const data = masker.flush();
      if (data.length) this.forward({ type: 'output', index, stream, data });
    }
  }

  private forward(e: JobEvent): void {
    for (const sink of this.downstream) sink.event(e);
  }
}

/** Sends every event to several sinks (e.g. the terminal and the log file). */
export class FanOutSink implements OutputSink {
  constructor(private readonly sinks: OutputSink[]) {}

  event(e: JobEvent): void {
    for (const sink of this.sinks) sink.event(e);
  }

  async close(): Promise<void> {
    const results = await Promise.allSettled(this.sinks.map((s) => s.close()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  room(): Promise<void> | undefined {
    return sinksRoom(this.sinks);
  }
}
