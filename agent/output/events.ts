/**
 * The output protocol inside the agent: everything a job shows a person or a processor is one of
 * these events, in order. Renderers (terminal, NDJSON, log file) and, later, the gRPC client all
 * consume the same stream; secrets are masked before any sink sees an `output` event.
 */

export type OutputStreamName = 'stdout' | 'stderr' | 'agent';

export type StepStatus = 'success' | 'failed' | 'timedout' | 'canceled' | 'skipped';

export type JobStatus = 'success' | 'failed' | 'canceled';

/**
 * Where a job's SSH stands (a job with SSH enabled, agent/runner/ssh-sections.ts): the line to
 * type and the host key once listening, the sessions open, the hold. Public facts only: never a
 * private key.
 */
export interface SshStatus {
  phase: 'listening' | 'holding' | 'ended';
  /** `ssh -p PORT USER@HOST` */
  command: string;
  user: string;
  host: string;
  port: number;
  /** `ssh-ed25519 AAAA…` */
  hostKey: string;
  /** `SHA256:…` */
  hostKeyFingerprint: string;
  sessions: number;
}

export type JobEvent =
  | { type: 'job-start'; job: string; time: number; environment: Record<string, string> }
  | { type: 'step-start'; index: number; name: string; stepType: string; time: number; background: boolean }
  | { type: 'output'; index: number; stream: OutputStreamName; data: Buffer }
  | {
      type: 'step-end';
      index: number;
      status: StepStatus;
      exitCode?: number;
      durationMs: number;
      /** why it ended that way, one line, e.g. "Too long with no output (exceeded 10m0s)" */
      message?: string;
    }
  | ({ type: 'ssh'; time: number } & SshStatus)
  | { type: 'job-end'; status: JobStatus; durationMs: number; logFile?: string };

/** A consumer of job events. `close` flushes whatever it buffered. */
export interface OutputSink {
  event(e: JobEvent): void;
  close(): Promise<void>;
  /**
   * undefined while the sink keeps up; else a promise that resolves when it has room again.
   * Steps pause their command's output until then (agent/output/backpressure.ts).
   */
  room?(): Promise<void> | undefined;
}
