/**
 * Job events → the output protocol's entries (agent/output/wire/output.proto): output bytes get
 * their byte offset in their (step, stream), events a job-wide sequence number, and every stream
 * keeps a running byte count and SHA-256 for the JobFinished that closes the job.
 *
 * Entries here are the agent's own plain values; grpc-sink.ts turns them into wire messages.
 */
import { createHash, type Hash } from 'node:crypto';
import type { JobEvent, JobStatus, OutputStreamName, SshStatus, StepStatus } from '../events.js';
import { MAX_CHUNK_BYTES } from '../wire/protocol.js';

export { MAX_CHUNK_BYTES };

/** The wire's StreamKind numbers. */
export const STREAM_KIND: Record<OutputStreamName, StreamKind> = { stdout: 1, stderr: 2, agent: 3 };
export type StreamKind = 1 | 2 | 3;

export interface ChunkEntry {
  kind: 'chunk';
  step: number;
  stream: StreamKind;
  offset: number;
  data: Buffer;
}

export interface StepStartedEntry {
  kind: 'step-started';
  seq: number;
  step: number;
  name: string;
  type: string;
  timeUnixMs: number;
  background: boolean;
}

export interface StepFinishedEntry {
  kind: 'step-finished';
  seq: number;
  step: number;
  status: StepStatus;
  exitCode?: number;
  durationMs: number;
  message: string;
}

/** Where the job's SSH stands (SSH enabled only); an event like the others, numbered with them. */
export interface SshStatusEntry extends SshStatus {
  kind: 'ssh-status';
  seq: number;
  timeUnixMs: number;
}

export interface StreamTotal {
  step: number;
  stream: StreamKind;
  bytes: number;
  sha256: Buffer;
}

export interface JobFinishedEntry {
  kind: 'job-finished';
  seq: number;
  status: JobStatus;
  durationMs: number;
  streams: StreamTotal[];
}

export type OutputEntry = ChunkEntry | StepStartedEntry | StepFinishedEntry | SshStatusEntry | JobFinishedEntry;
export type EventEntry = Exclude<OutputEntry, ChunkEntry>;

/** `step:stream`, the key of a stream in maps. */
export function streamKey(step: number, stream: StreamKind): string {
  return `${step}:${stream}`;
}

/** What the job's Open carries, known at job-start. */
export interface JobOpening {
  jobName: string;
  startedUnixMs: number;
  environment: Record<string, string>;
}

interface StreamState {
  step: number;
  stream: StreamKind;
  bytes: number;
  hash: Hash;
}

export class EntryEncoder {
  private readonly streams = new Map<string, StreamState>();
  private nextSeq = 0;
  private finishedAt: JobFinishedEntry | undefined;
  opening: JobOpening | undefined;

  /** The entries one event becomes (none for job-start, whose facts go into Open). */
  encode(e: JobEvent): OutputEntry[] {
    if (this.finishedAt) return []; // nothing belongs to a job after its end
    switch (e.type) {
      case 'job-start':
        this.opening = { jobName: e.job, startedUnixMs: e.time, environment: e.environment };
        return [];
      case 'step-start':
        return [{ kind: 'step-started', seq: this.nextSeq++, step: e.index, name: e.name, type: e.stepType, timeUnixMs: e.time, background: e.background }];
      case 'output':
        return this.chunks(e.index, STREAM_KIND[e.stream], e.data);
      case 'step-end':
        return [
          {
            kind: 'step-finished',
            seq: this.nextSeq++,
            step: e.index,
            status: e.status,
            ...(e.exitCode !== undefined ? { exitCode: e.exitCode } : {}),
            durationMs: Math.round(e.durationMs),
            message: e.message ?? '',
          },
        ];
      case 'ssh': {
        const { type: _type, time, ...status } = e;
        return [{ kind: 'ssh-status', seq: this.nextSeq++, timeUnixMs: time, ...status }];
      }
      case 'job-end':
        return [this.finish(e.status, e.durationMs)];
    }
  }

  /** The job's last entry; also used when the job never reached job-end (it failed to start). */
  finish(status: JobStatus, durationMs: number): JobFinishedEntry {
    if (this.finishedAt) return this.finishedAt;
    const streams = [...this.streams.values()].map((s) => ({ step: s.step, stream: s.stream, bytes: s.bytes, sha256: s.hash.digest() }));
    this.finishedAt = { kind: 'job-finished', seq: this.nextSeq++, status, durationMs: Math.round(durationMs), streams };
    return this.finishedAt;
  }

  get finished(): boolean {
    return this.finishedAt !== undefined;
  }

  /** The job's result once its JobFinished is made, else undefined. */
  get status(): JobStatus | undefined {
    return this.finishedAt?.status;
  }

  /** Events numbered so far (the next seq). */
  get eventCount(): number {
    return this.nextSeq;
  }

  /** Bytes produced per stream key so far. */
  totals(): Map<string, number> {
    return new Map([...this.streams].map(([key, s]) => [key, s.bytes]));
  }

  private chunks(step: number, stream: StreamKind, data: Buffer): ChunkEntry[] {
    if (data.length === 0) return [];
    const key = streamKey(step, stream);
    let state = this.streams.get(key);
    if (!state) this.streams.set(key, (state = { step, stream, bytes: 0, hash: createHash('sha256') }));
    state.hash.update(data);
    const out: ChunkEntry[] = [];
    for (let at = 0; at < data.length; at += MAX_CHUNK_BYTES) {
      const piece = data.subarray(at, Math.min(data.length, at + MAX_CHUNK_BYTES));
      out.push({ kind: 'chunk', step, stream, offset: state.bytes, data: piece });
      state.bytes += piece.length;
    }
    return out;
  }
}
