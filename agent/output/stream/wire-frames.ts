/**
 * The agent's entries as the protocol's messages (agent/output/wire/output.proto, loaded by
 * agent/output/wire/protocol.ts), and the processor's frames as what the sender needs to know.
 */
import { makeGenericClientConstructor, type ChannelCredentials, type ChannelOptions, type Client, type ClientDuplexStream, type Metadata } from '@grpc/grpc-js';
import type { OutputEntry } from './entries.js';
import { streamKey, type JobOpening, type StreamKind } from './entries.js';
import type { StoredState } from './spool.js';
import { outputProcessorService, STORE_ERROR_TRAILER, type AgentFrame, type Entry, type ProcessorFrame, type StreamKind as WireStreamKind } from '../wire/protocol.js';

export type OutputStreamCall = ClientDuplexStream<AgentFrame, ProcessorFrame>;

export interface OutputProcessorClient extends Client {
  stream(metadata: Metadata): OutputStreamCall;
}

let clientConstructor: (new (target: string, credentials: ChannelCredentials, options: ChannelOptions) => OutputProcessorClient) | undefined;

/** A client of the OutputProcessor service; `stream` opens the Stream call. */
export function outputProcessorClient(target: string, credentials: ChannelCredentials, options: ChannelOptions): OutputProcessorClient {
  clientConstructor ??= makeGenericClientConstructor({ stream: outputProcessorService.Stream }, 'OutputProcessor') as unknown as typeof clientConstructor;
  return new (clientConstructor as NonNullable<typeof clientConstructor>)(target, credentials, options);
}

export function openFrame(jobId: string, stepCount: number, opening: JobOpening, deliveryId: string): AgentFrame {
  return { open: { jobId, jobName: opening.jobName, startedUnixMs: opening.startedUnixMs, environment: opening.environment, stepCount, deliveryId } };
}

export function giveUpFrame(reason: string, jobStatus: string): AgentFrame {
  return { giveUp: { reason, jobStatus } };
}

/** The errno a processor that cannot store put in its status's trailers (ENOSPC, EACCES, ...), if any. */
export function storeErrorOf(err: unknown): string | undefined {
  const metadata = (err as { metadata?: Metadata } | undefined)?.metadata;
  const value = typeof metadata?.get === 'function' ? metadata.get(STORE_ERROR_TRAILER)[0] : undefined;
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

export function batchFrame(entries: OutputEntry[]): AgentFrame {
  return { batch: { entries: entries.map(toWire) } };
}

function toWire(e: OutputEntry): Entry {
  switch (e.kind) {
    case 'chunk':
      return { chunk: { step: e.step, stream: e.stream, offset: e.offset, data: e.data } };
    case 'step-started':
      return { stepStarted: { seq: e.seq, step: e.step, name: e.name, type: e.type, timeUnixMs: e.timeUnixMs, background: e.background } };
    case 'step-finished':
      return {
        stepFinished: { seq: e.seq, step: e.step, status: e.status, ...(e.exitCode !== undefined ? { exitCode: e.exitCode } : {}), durationMs: e.durationMs, message: e.message },
      };
    case 'ssh-status': {
      const { kind: _kind, ...status } = e;
      return { sshStatus: status };
    }
    case 'job-finished':
      return { jobFinished: { seq: e.seq, status: e.status, durationMs: e.durationMs, streams: e.streams } };
  }
}

export type ProcessorNews = { kind: 'resume' | 'ack'; stored: StoredState; takesSshStatus?: boolean } | { kind: 'complete'; verified: boolean; message: string };

const KIND_BY_NAME: Record<string, StreamKind> = { STDOUT: 1, STDERR: 2, AGENT: 3 };

/** What a ProcessorFrame says. Throws on a frame with none of resume, ack, complete. */
export function readProcessorFrame(frame: ProcessorFrame): ProcessorNews {
  const which = frame.frame ?? (frame.complete ? 'complete' : frame.resume ? 'resume' : frame.ack ? 'ack' : undefined);
  if (which === 'complete') return { kind: 'complete', verified: frame.complete?.verified === true, message: frame.complete?.message ?? '' };
  const body = which === 'resume' ? frame.resume : which === 'ack' ? frame.ack : undefined;
  if (!which || !body) throw new Error('the processor sent a frame with neither resume, ack nor complete');
  const offsets = new Map<string, number>();
  for (const s of body.streams ?? []) {
    const kind = streamKindOf(s.stream);
    // a kind this agent never sends cannot tell it anything
    if (kind !== undefined) offsets.set(streamKey(s.step, kind), Number(s.offset));
  }
  return { kind: which, stored: { offsets, nextSeq: Number(body.nextEventSeq) }, ...(which === 'resume' ? { takesSshStatus: frame.resume?.takesSshStatus === true } : {}) };
}

function streamKindOf(kind: WireStreamKind): StreamKind | undefined {
  const n = typeof kind === 'string' ? KIND_BY_NAME[kind] : kind;
  return n === 1 || n === 2 || n === 3 ? n : undefined;
}
