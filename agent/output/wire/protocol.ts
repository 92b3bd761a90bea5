/**
 * The output protocol (output.proto beside this file), loaded once at run time with
 * @grpc/proto-loader, and TypeScript shapes of its messages. Both ends import this module: the
 * agent's client (agent/output/stream/) and the processor's server (agent/processor/).
 *
 * Loader options, and what they mean for the shapes below:
 * - `keepCase: false`: fields are camelCase (`job_id` → `jobId`).
 * - `longs: Number`: 64-bit fields (offsets, seqs, times) are plain numbers. Exact up to 2^53
 *   (8 PiB of one stream), which no job reaches; the processor refuses larger values.
 * - `enums: String`: a received StreamKind is its name ('STDOUT', ...); an unknown number from a
 *   newer or hostile peer stays a number. Senders may give the name or the number.
 * - `bytes`: received `bytes` fields are Buffers; senders may give any Uint8Array.
 * - `defaults: true`: absent scalars read as 0/''/false; `oneofs: true`: a oneof's name holds the
 *   name of the member that is set (`frame: 'open'`). proto3 `optional` fields (exit_code) stay
 *   absent when unset.
 */
import { loadSync, type Options } from '@grpc/proto-loader';
import type { ChannelOptions, ServiceDefinition } from '@grpc/grpc-js';
import { packagePath } from '../../package-root.js';

export const PROTO_PATH = packagePath('agent', 'output', 'wire', 'output.proto');

export const LOADER_OPTIONS: Options = { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true };

/** The service's full name, as on the wire: /deckhand.output.v1.OutputProcessor/Stream */
export const SERVICE_NAME = 'deckhand.output.v1.OutputProcessor';

const packageDefinition = loadSync(PROTO_PATH, LOADER_OPTIONS);

/** The OutputProcessor service: `server.addService(outputProcessorService, ...)`, or a client's method table (`.Stream`). */
export const outputProcessorService = packageDefinition[SERVICE_NAME] as ServiceDefinition;

/** Most bytes one Chunk may carry. */
export const MAX_CHUNK_BYTES = 64 * 1024;

/**
 * Largest message the processor accepts (grpc.max_receive_message_length): 1 MiB of entries
 * plus room for framing. A batch is cut at 64 KiB of data, so a well-behaved agent stays far below.
 */
export const MAX_MESSAGE_BYTES = 1024 * 1024 + 64 * 1024;

/**
 * The trailer a processor that cannot store sets, with the errno it got (ENOSPC, EDQUOT, EACCES,
 * EPERM, EROFS), so an agent tells a storage failure from an outage without parsing prose.
 */
export const STORE_ERROR_TRAILER = 'deckhand-store-error';

/** Client pings at most this often; the server permits pings this often (see SERVER_KEEPALIVE). */
export const KEEPALIVE_TIME_MS = 10_000;

/** Channel options that let each end notice a dead peer. Servers: `new Server(SERVER_KEEPALIVE)`. */
export const SERVER_KEEPALIVE: ChannelOptions = {
  'grpc.keepalive_time_ms': 15_000,
  'grpc.keepalive_timeout_ms': 10_000,
  // clients ping every KEEPALIVE_TIME_MS, also between calls; allow twice that rate so they are never told GOAWAY too_many_pings
  'grpc.http2.min_ping_interval_without_data_ms': KEEPALIVE_TIME_MS / 2,
  'grpc.keepalive_permit_without_calls': 1,
};

export const CLIENT_KEEPALIVE: ChannelOptions = {
  'grpc.keepalive_time_ms': KEEPALIVE_TIME_MS,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.keepalive_permit_without_calls': 1,
};

export type StreamKindName = 'STDOUT' | 'STDERR' | 'AGENT';
/** A received kind: a name, or a number the proto does not know (or 'STREAM_KIND_UNSPECIFIED'). */
export type StreamKind = StreamKindName | 'STREAM_KIND_UNSPECIFIED' | number;

export const STREAM_KIND_NUMBER: Readonly<Record<StreamKindName, number>> = { STDOUT: 1, STDERR: 2, AGENT: 3 };

export interface Open {
  jobId: string;
  jobName: string;
  startedUnixMs: number;
  environment: Record<string, string>;
  stepCount: number;
  /** one run's delivery; '' from clients that do not send it (they count as one delivery) */
  deliveryId?: string;
}

export interface GiveUp {
  reason: string;
  jobStatus: string;
}

export interface Chunk {
  step: number;
  stream: StreamKind;
  offset: number;
  data: Buffer;
}

export interface StepStarted {
  seq: number;
  step: number;
  name: string;
  type: string;
  timeUnixMs: number;
  background: boolean;
}

export interface StepFinished {
  seq: number;
  step: number;
  status: string;
  exitCode?: number;
  durationMs: number;
  message: string;
}

export interface StreamTotal {
  step: number;
  stream: StreamKind;
  bytes: number;
  sha256: Buffer;
}

export interface JobFinished {
  seq: number;
  status: string;
  durationMs: number;
  streams: StreamTotal[];
}

/** Where the job's SSH stands; public facts only. */
export interface SshStatus {
  seq: number;
  /** listening | holding | ended */
  phase: string;
  command: string;
  user: string;
  host: string;
  port: number;
  hostKey: string;
  hostKeyFingerprint: string;
  sessions: number;
  timeUnixMs: number;
}

export interface Entry {
  entry?: 'chunk' | 'stepStarted' | 'stepFinished' | 'jobFinished' | 'sshStatus';
  chunk?: Chunk;
  stepStarted?: StepStarted;
  stepFinished?: StepFinished;
  jobFinished?: JobFinished;
  sshStatus?: SshStatus;
}

export interface Batch {
  entries: Entry[];
}

export interface AgentFrame {
  frame?: 'open' | 'batch' | 'giveUp';
  open?: Open;
  batch?: Batch;
  giveUp?: GiveUp;
}

export interface StoredOffset {
  step: number;
  stream: StreamKind;
  offset: number;
}

export interface Resume {
  streams: StoredOffset[];
  nextEventSeq: number;
  /** the processor stores SshStatus entries (false from one that predates them) */
  takesSshStatus?: boolean;
}

export type Ack = Omit<Resume, 'takesSshStatus'>;

export interface Complete {
  verified: boolean;
  message: string;
}

export interface ProcessorFrame {
  frame?: 'resume' | 'ack' | 'complete';
  resume?: Resume;
  ack?: Ack;
  complete?: Complete;
}
