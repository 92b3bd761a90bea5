/**
 * Sends the spool to the output processor over the `Stream` call, and keeps at it: one call per
 * connection attempt (Open → Resume says what is stored → send from there), Acks let the spool
 * drop what is stored, any error or disconnect starts a new attempt after a backoff that doubles
 * (with jitter, up to a cap) until an attempt gets something stored. HTTP/2 keepalive pings find
 * a dead or frozen peer; a handshake deadline finds a processor that accepts connections but never
 * answers. Writes wait for 'drain' (flow control), so a slow processor makes the spool grow on
 * disk, never the agent's memory.
 *
 * Trouble is reported once, not once per retry: one line when the processor becomes unreachable
 * or says it cannot store (a full disk: its status carries the `deckhand-store-error` trailer),
 * one when it is back or storing again. A refusal no retry can fix (a wrong token, the job id
 * taken by another run, a conflicting resend) ends delivery at once. When delivery stops without
 * the processor's verdict, `giveUp` tells it, so it marks the job incomplete with the reason.
 *
 * Nothing here throws into the job: failures are recorded for the delivery report.
 */
import { randomUUID } from 'node:crypto';
import { credentials as grpcCredentials, Metadata, status as grpcStatus, type ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';
import { CLIENT_KEEPALIVE, MAX_MESSAGE_BYTES, type ProcessorFrame } from '../wire/protocol.js';
import { AttemptFailure } from './attempt-failure.js';
import { advanceStored, unstored } from './delivery.js';
import type { JobOpening } from './entries.js';
import type { Spool, StoredState } from './spool.js';
import { batchFrame, giveUpFrame, openFrame, outputProcessorClient, readProcessorFrame, storeErrorOf, type OutputProcessorClient, type OutputStreamCall } from './wire-frames.js';

export interface SenderOptions {
  /** HOST:PORT of the processor */
  target: string;
  jobId: string;
  /** the per-job token, sent as `authorization: Bearer <token>` */
  token?: string;
  /** PEM of the CA that signed the processor's certificate; plaintext without it */
  tlsCa?: Buffer;
  /** a client certificate and key, sent when the processor asks for one (needs tlsCa) */
  tlsClient?: { cert: Buffer; key: Buffer };
  stepCount: number;
  spool: Spool;
  /** HTTP/2 keepalive ping interval and how long a ping may go unanswered (default 10 s and 10 s) */
  keepaliveMs?: number;
  keepaliveTimeoutMs?: number;
  /** how long Open may wait for Resume before the attempt is abandoned (default 10 s) */
  handshakeTimeoutMs?: number;
  /** reconnect backoff: first wait and the cap (default 100 ms, 10 s) */
  backoffMs?: { initial: number; max: number };
  /** connection news for people (lost, back, refused); default: none */
  log?: (line: string) => void;
  /** each Resume's word on whether the processor stores SshStatus entries */
  onSshStatusSupport?: (takes: boolean) => void;
}

const DEFAULT_BACKOFF_MS = { initial: 100, max: 10_000 };

/** How long telling the processor that delivery gave up may take (it only adds to a run that already lost output). */
const GIVE_UP_WAIT_MS = 2000;

/**
 * Errors no retry can fix: the processor refuses this agent or this protocol, or the job's id is
 * another run's (finished already, or its stored bytes differ from ours: ALREADY_EXISTS).
 */
const FATAL = new Set<number>([grpcStatus.UNAUTHENTICATED, grpcStatus.PERMISSION_DENIED, grpcStatus.UNIMPLEMENTED, grpcStatus.ALREADY_EXISTS]);

/**
 * A TLS handshake that failed on a certificate (an unknown CA, a wrong name, a missing client
 * certificate) fails the same way every time; gRPC reports it as UNAVAILABLE like an outage, so
 * it is told apart by what the TLS layer said.
 */
const TLS_FAILURE = /certificate|self[- ]signed|altnames|unable to verify|wrong version number|alert/i;

function isFatal(err: unknown): boolean {
  const e = err as { code?: number; details?: string; message?: string };
  if (e.code !== undefined && FATAL.has(e.code)) return true;
  return e.code === grpcStatus.UNAVAILABLE && TLS_FAILURE.test(`${e.details ?? ''} ${e.message ?? ''}`);
}

export interface CompleteAnswer {
  verified: boolean;
  message: string;
}

export class Sender {
  /** what the processor has durably stored */
  readonly stored: StoredState = { offsets: new Map(), nextSeq: 0 };
  /** this run's delivery, sent in every Open: the processor refuses a finished job's id to any other */
  readonly deliveryId = randomUUID();
  complete: CompleteAnswer | undefined;
  lastError: string | undefined;
  fatal: string | undefined;
  /** connection attempts that failed (for tests and the report) */
  failures = 0;
  private opening: JobOpening | undefined;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private abortAttempt: ((err: Error) => void) | undefined;
  private wakeSleep: (() => void) | undefined;
  private readonly credentials: ChannelCredentials;
  private readonly channelOptions: ChannelOptions;
  /** the trouble last reported to people, until it is over */
  private reported: 'unreachable' | 'store' | undefined;
  /** the last attempt got something stored (an Ack moved, or Complete): the backoff starts over */
  private progressedLastAttempt = false;
  /** some attempt reached Resume: the processor knows the job */
  private everResumed = false;
  /** settles with the first attempt: the processor took the job (or is only unreachable for now), or refused it */
  private readonly admission: { promise: Promise<void>; resolve(): void; reject(err: Error): void };
  /** the spool's version when this attempt had sent everything (undefined while it has more to send) */
  private idleSince: number | undefined;

  constructor(private readonly options: SenderOptions) {
    let resolve: () => void = () => undefined;
    let reject: (err: Error) => void = () => undefined;
    const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
    // nobody may be waiting for it (a job with no steps): a refusal is reported by the delivery report too
    promise.catch(() => undefined);
    this.admission = { promise, resolve, reject };
    this.credentials = options.tlsCa ? grpcCredentials.createSsl(options.tlsCa, options.tlsClient?.key, options.tlsClient?.cert) : grpcCredentials.createInsecure();
    this.channelOptions = {
      'grpc.keepalive_time_ms': options.keepaliveMs ?? CLIENT_KEEPALIVE['grpc.keepalive_time_ms'],
      'grpc.keepalive_timeout_ms': options.keepaliveTimeoutMs ?? CLIENT_KEEPALIVE['grpc.keepalive_timeout_ms'],
      'grpc.keepalive_permit_without_calls': 1,
      // a channel per attempt, sharing no connection with the previous (possibly dead) one
      'grpc.use_local_subchannel_pool': 1,
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 2000,
      // the processor refuses larger messages; a batch (64 KiB of data) stays far below
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    };
  }

  /** Starts sending (once the job's opening facts are known). */
  start(opening: JobOpening): void {
    if (this.loop) return;
    this.opening = opening;
    this.loop = this.run();
  }

  get started(): boolean {
    return this.loop !== undefined;
  }

  /**
   * Resolves once the processor answered the job's Open, or could not be reached (the output is
   * spooled and sent when it is back); rejects with the reason when it refused the job for good
   * (a missing or wrong token, permission denied, a TLS failure).
   */
  admitted(): Promise<void> {
    return this.admission.promise;
  }

  /** Resolves when the processor answered Complete, or a fatal error ended delivery. */
  async finished(): Promise<void> {
    await this.loop;
  }

  /** Ends the current attempt and stops retrying. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.admission.resolve();
    this.abortAttempt?.(new Error('delivery deadline reached'));
    this.wakeSleep?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.stopped && !this.complete && !this.fatal) {
      try {
        await this.attempt();
      } catch (err) {
        if (this.stopped) break;
        // only an attempt that got something stored starts the backoff over: one that reaches
        // Resume and then fails (a processor whose disk is full) must not retry in a tight loop
        if (this.progressedLastAttempt) attempt = 0;
        this.failures++;
        const code = (err as { code?: number }).code;
        if (code === grpcStatus.DEADLINE_EXCEEDED && this.idleSince !== undefined) {
          // the processor closes a stream that stays silent (a quiet step): not an outage;
          // open the next one when there is something to send
          await this.untilSpoolChangedSince(this.idleSince);
          attempt = 0;
          continue;
        }
        this.lastError = describe(err);
        if (isFatal(err)) {
          this.fatal = this.lastError;
          this.admission.reject(new Error(`output processor ${this.options.target} refused job ${this.options.jobId}: ${this.lastError}`));
          this.options.log?.(`output processor ${this.options.target} refused job ${this.options.jobId}: ${this.lastError}; output will not be delivered`);
          break;
        }
        this.admission.resolve();
        this.reportTrouble(storeErrorOf(err) !== undefined ? 'store' : 'unreachable');
      }
      if (this.complete || this.stopped) break;
      const { initial, max } = this.options.backoffMs ?? DEFAULT_BACKOFF_MS;
      const wait = Math.min(max, initial * 2 ** Math.min(attempt++, 30));
      // jitter down, never past the cap: agents that lost one processor together do not return together
      await this.sleep(wait * (0.5 + Math.random() * 0.5));
    }
  }

  /** One line when trouble starts or changes kind; nothing while it goes on. */
  private reportTrouble(kind: 'unreachable' | 'store'): void {
    if (this.reported === kind) return;
    this.reported = kind;
    const { target, jobId } = this.options;
    this.options.log?.(
      kind === 'store'
        ? `output processor ${target} cannot store job ${jobId} (${this.lastError}); output is kept in the spool and resent with backoff`
        : `output processor ${target} unreachable (${this.lastError}); output is spooled and sent when it is back`,
    );
  }

  /**
   * Tells the processor that delivery stops short of the job's verdict, so that it marks the job
   * incomplete with `reason` instead of leaving it running. Only after `stop`, only when the
   * processor knows the job and did not refuse it; for at most `waitMs` (2 s by default), errors
   * ignored (a processor that never hears it marks the job after its abandon timeout).
   */
  async giveUp(reason: string, jobStatus: string, waitMs = GIVE_UP_WAIT_MS): Promise<void> {
    if (!this.stopped || this.complete || this.fatal || !this.everResumed || !this.opening || waitMs <= 0) return;
    const { client, call } = this.openCall();
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve) => {
        timer = setTimeout(resolve, Math.min(waitMs, GIVE_UP_WAIT_MS));
        call.on('data', () => undefined);
        call.on('error', () => resolve());
        call.on('status', () => resolve());
        call.write(openFrame(this.options.jobId, this.options.stepCount, this.opening as JobOpening, this.deliveryId));
        call.write(giveUpFrame(reason, jobStatus));
        call.end();
      });
    } finally {
      clearTimeout(timer);
      call.on('error', () => undefined);
      call.cancel();
      client.close();
    }
  }

  /** A new client of the processor and its `Stream` call, carrying the job's token. */
  private openCall(): { client: OutputProcessorClient; call: OutputStreamCall } {
    const client = outputProcessorClient(this.options.target, this.credentials, this.channelOptions);
    const metadata = new Metadata();
    if (this.options.token) metadata.set('authorization', `Bearer ${this.options.token}`);
    return { client, call: client.stream(metadata) };
  }

  /**
   * One connection attempt, to the end of the job or the first error. Returns normally only when
   * the processor answered Complete.
   */
  private async attempt(): Promise<void> {
    const { spool, target } = this.options;
    const { client, call } = this.openCall();
    const cursor = spool.cursor();
    // every wait below gives up on this, and keeps nothing it returned (see attempt-failure.ts)
    const failure = new AttemptFailure();
    const failAttempt = (err: Error): void => failure.fail(err);
    this.abortAttempt = failAttempt;
    let resumed: () => void = () => undefined;
    const resume = new Promise<void>((resolve) => (resumed = resolve));
    let completed: (c: CompleteAnswer) => void = () => undefined;
    const complete = new Promise<CompleteAnswer>((resolve) => (completed = resolve));
    let progressed = false;
    this.idleSince = undefined;
    call.on('data', (frame: ProcessorFrame) => {
      let f;
      try {
        f = readProcessorFrame(frame);
      } catch (err) {
        failAttempt(err as Error);
        return;
      }
      if (f.kind === 'complete') {
        progressed = true;
        completed(f);
        return;
      }
      const moved = advanceStored(this.stored, f.stored);
      spool.release(this.stored);
      if (f.kind === 'resume') {
        this.options.onSshStatusSupport?.(f.takesSshStatus === true);
        resumed();
      }
      else if (moved && !progressed) {
        progressed = true;
        if (this.reported === 'store') {
          this.reported = undefined;
          this.options.log?.(`output processor ${target} is storing job ${this.options.jobId} again`);
        }
      }
    });
    call.on('error', (err: Error) => failAttempt(err));
    call.on('end', () => failAttempt(new Error('the processor closed the stream')));
    try {
      call.write(openFrame(this.options.jobId, this.options.stepCount, this.opening as JobOpening, this.deliveryId));
      const timeout = this.options.handshakeTimeoutMs ?? 10_000;
      let timer: NodeJS.Timeout | undefined;
      const handshake = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer to Open within ${timeout / 1000}s`)), timeout)));
      handshake.catch(() => undefined);
      try {
        await failure.race(Promise.race([resume, handshake]));
      } finally {
        clearTimeout(timer);
      }
      this.everResumed = true;
      this.admission.resolve();
      if (this.reported === 'unreachable') {
        this.reported = undefined;
        this.options.log?.(`output processor ${target} is back; resending from what it has stored`);
      }
      for (;;) {
        // the version before the read: what is appended while its answer makes its way here
        // (the job's last events and the spool's end, in the same tick) must wake the wait below
        const seen = spool.version;
        const read = await failure.race(spool.read(cursor));
        if (read === 'end') break;
        if (read === 'wait') {
          this.idleSince = seen;
          await failure.race(spool.appended(seen));
          continue;
        }
        this.idleSince = undefined;
        for (const batch of read) {
          const entries = unstored(batch, this.stored);
          if (entries.length === 0) continue;
          if (!call.write(batchFrame(entries))) await failure.race(new Promise((resolve) => call.once('drain', resolve)));
        }
      }
      this.complete = await failure.race(complete);
      call.end();
    } finally {
      this.progressedLastAttempt = progressed;
      this.abortAttempt = undefined;
      call.removeAllListeners('data');
      call.on('error', () => undefined); // a late error after cancel must not go unhandled
      if (!this.complete) call.cancel();
      await spool.closeCursor(cursor);
      client.close();
    }
  }

  private async untilSpoolChangedSince(version: number): Promise<void> {
    if (this.stopped) return;
    await Promise.race([this.options.spool.appended(version), new Promise<void>((resolve) => (this.wakeSleep = resolve))]);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wakeSleep = done;
    });
  }
}

function describe(err: unknown): string {
  const e = err as { code?: number; details?: string; message?: string };
  if (typeof e.code === 'number' && typeof e.details === 'string') {
    const name = Object.entries(grpcStatus).find(([, v]) => v === e.code)?.[0] ?? String(e.code);
    return `${name}: ${e.details}`;
  }
  return e.message ?? String(err);
}
