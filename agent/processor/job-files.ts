/**
 * Where and how a job is kept under the data directory, shared by the writer (job-log.ts) and the
 * readers (the HTTP API):
 *
 *   DATA/jobs/<job id>/meta.json          the job: name, environment, started, status
 *   DATA/jobs/<job id>/events.jsonl       step and job events, one JSON object per line, by seq
 *   DATA/jobs/<job id>/journal            the order things were stored in (journal.ts)
 *   DATA/jobs/<job id>/streams/<step>.<stdout|stderr|agent>   the stream's exact bytes
 *
 * Files are created 0600 and folders 0700 (durable-file.ts): only the processor's user reads them.
 */
import { join } from 'node:path';
import type { SshStatus } from '../output/events.js';

export type StreamName = 'stdout' | 'stderr' | 'agent';

/** The wire's StreamKind numbers and our names for them. */
export const STREAM_NAMES: Readonly<Record<number, StreamName>> = { 1: 'stdout', 2: 'stderr', 3: 'agent' };
export const STREAM_NUMBERS: Readonly<Record<StreamName, number>> = { stdout: 1, stderr: 2, agent: 3 };
export const WIRE_NAMES: Readonly<Record<string, number>> = { STDOUT: 1, STDERR: 2, AGENT: 3 };

/** Job ids become folder names: letters, digits, '.', '_' and '-' (not first), at most 128. */
export const JOB_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export type JobStatus = 'running' | 'complete' | 'incomplete';

export interface JobMeta {
  id: string;
  name: string;
  environment: Record<string, string>;
  stepCount: number;
  startedUnixMs: number;
  /** when the processor first heard of the job */
  receivedUnixMs: number;
  /** running until JobFinished; then complete (every stream verified) or incomplete */
  status: JobStatus;
  /** what JobFinished said, and what verification found; or why delivery was abandoned */
  finished?: {
    /** the job's own result (success, failed, canceled), `unknown` when an abandoned delivery did not say */
    status: string;
    /** absent when the job was abandoned before JobFinished */
    durationMs?: number;
    unixMs: number;
    message: string;
    /** set when no JobFinished arrived: the agent gave up (`agent`), or no stream came for the abandon timeout (`timeout`) */
    abandoned?: 'agent' | 'timeout';
  };
  /** the delivery (Open.delivery_id) that created the job; absent for jobs stored before it existed */
  delivery?: string;
}

export type StoredEvent =
  | { seq: number; type: 'step-started'; step: number; name: string; stepType: string; timeUnixMs: number; background: boolean }
  | { seq: number; type: 'step-finished'; step: number; status: string; exitCode?: number; durationMs: number; message: string }
  | ({ seq: number; type: 'ssh-status'; timeUnixMs: number } & SshStatus)
  | { seq: number; type: 'job-finished'; status: string; durationMs: number; streams: { step: number; stream: StreamName; bytes: number; sha256: string }[] };

export function jobsDir(dataDir: string): string {
  return join(dataDir, 'jobs');
}

export function jobDir(dataDir: string, jobId: string): string {
  return join(dataDir, 'jobs', jobId);
}

export function metaPath(dir: string): string {
  return join(dir, 'meta.json');
}

export function eventsPath(dir: string): string {
  return join(dir, 'events.jsonl');
}

export function journalPath(dir: string): string {
  return join(dir, 'journal');
}

export function streamsDir(dir: string): string {
  return join(dir, 'streams');
}

export function streamPath(dir: string, step: number, stream: StreamName): string {
  return join(dir, 'streams', `${step}.${stream}`);
}

/** `<step>.<stream>` file names back to their stream, or undefined for anything else. */
export function parseStreamFileName(name: string): { step: number; stream: StreamName } | undefined {
  const m = /^(-1|0|[1-9]\d{0,8})\.(stdout|stderr|agent)$/.exec(name);
  return m ? { step: Number(m[1]), stream: m[2] as StreamName } : undefined;
}
