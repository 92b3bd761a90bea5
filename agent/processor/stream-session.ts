/**
 * One OutputProcessor.Stream call: checks the job token, answers Open with Resume (or refuses a
 * finished job's id to another delivery), stores batches and acknowledges them, answers
 * JobFinished and GiveUp with Complete. A disk that refuses to store is answered with its own
 * status (storage-failure.ts) and logged once per job until storing works again, however often
 * the agent retries.
 *
 * Reads are pulled, never pushed: the next frames are read only when the previous ones are
 * stored, so a fast or hostile sender is held back by HTTP/2 flow control, not buffered here.
 * Frames that arrived meanwhile are stored together and made durable with one fsync per file
 * (group commit), then acknowledged once.
 */
import { Metadata, status, type ServerDuplexStream } from '@grpc/grpc-js';
import type { AgentFrame, ProcessorFrame } from '../output/wire/protocol.js';
import { JOB_ID_PATTERN } from './job-files.js';
import type { JobLog, JobWriter } from './job-log.js';
import type { JobStore } from './job-store.js';
import type { Logger } from '../daemon-log.js';
import { ProtocolError } from './protocol-error.js';
import { describeStorageError, storageErrno, storageRefusal } from './storage-failure.js';
import { bearerToken, tokenMatches } from './tokens.js';

export interface SessionContext {
  store: JobStore;
  secret: Buffer;
  logger: Logger;
  /** how long a call may take to send Open */
  openTimeoutMs: number;
  /** how long a call may stay silent before it is ended (the agent reconnects when it has more) */
  idleTimeoutMs: number;
}

/** Most frames stored in one group commit, and longest a group may gather before its fsync. */
const MAX_FRAMES_PER_COMMIT = 1024;
const GROUP_COMMIT_MS = 20;

/** The client went away (cancelled, or the connection died): nothing to answer. */
class CallGone extends Error {}

export class StreamSession implements JobWriter {
  private wake: (() => void) | undefined;
  private ended = false;
  private gone = false;
  private superseded = false;
  private stopping = false;
  private blocked = false;
  private queued: ProcessorFrame[] = [];
  private jobId: string | undefined;

  constructor(
    private readonly ctx: SessionContext,
    private readonly call: ServerDuplexStream<AgentFrame, ProcessorFrame>,
  ) {
    const poke = (): void => this.wake?.();
    call.on('readable', poke);
    call.on('end', () => {
      this.ended = true;
      poke();
    });
    call.on('cancelled', () => {
      this.gone = true;
      poke();
    });
    call.on('close', poke);
    call.on('error', (e: Error) => {
      this.gone = true;
      this.ctx.logger.log('debug', 'call error', { peer: call.getPeer(), job: this.jobId, error: e.message });
      poke();
    });
    call.on('drain', () => this.flushQueued());
  }

  supersede(): void {
    this.superseded = true;
    this.wake?.();
  }

  /** The processor is stopping: finish storing what is in hand, then end with UNAVAILABLE. */
  shutdown(): void {
    this.stopping = true;
    this.wake?.();
  }

  async run(): Promise<void> {
    const peer = this.call.getPeer();
    let log: JobLog | undefined;
    try {
      const token = bearerToken(this.call.metadata.get('authorization')[0]?.toString());
      if (!token) throw new ProtocolError(status.UNAUTHENTICATED, 'no job token: send metadata "authorization: Bearer <token>" (deckhand output-processor token JOB_ID mints one)');
      let frames = await this.read(this.ctx.openTimeoutMs, 'Open');
      if (frames === null) return this.finishCall();
      const open = frames[0].open;
      if (!open) throw new ProtocolError(status.FAILED_PRECONDITION, 'the first frame of a Stream must be Open, naming the job; got a Batch for no job');
      if (!JOB_ID_PATTERN.test(open.jobId)) {
        throw new ProtocolError(status.INVALID_ARGUMENT, `job id ${JSON.stringify(open.jobId.slice(0, 200))} is not valid: use 1-128 letters, digits, '.', '_' or '-', not starting with '.', '_' or '-'`);
      }
      if (!tokenMatches(this.ctx.secret, open.jobId, token)) throw new ProtocolError(status.UNAUTHENTICATED, `the token is not valid for job ${open.jobId}`);
      this.jobId = open.jobId;
      log = await this.ctx.store.attach(open, this);
      const attached = log;
      const resume = { ...(await attached.exclusive(async () => attached.stored())), takesSshStatus: true };
      this.ctx.logger.log('info', 'stream opened', { job: open.jobId, peer, storedEvents: resume.nextEventSeq, storedStreams: resume.streams.length });
      this.send({ resume });
      frames = frames.slice(1);
      for (;;) {
        if (frames.length > 0) await this.store(attached, frames);
        frames = await this.read(this.ctx.idleTimeoutMs, 'more output');
        if (frames === null) break;
      }
      this.finishCall();
    } catch (e) {
      if (e instanceof CallGone) {
        this.ctx.logger.log('info', 'stream gone', { job: this.jobId, peer });
      } else if (e instanceof ProtocolError) {
        this.ctx.logger.log('warn', 'stream refused', { job: this.jobId, peer, code: status[e.code], error: e.message });
        this.fail(e.code, e.message, e.trailers);
      } else if (storageErrno(e)) {
        const refusal = storageRefusal(e, this.jobId);
        // an agent retries for as long as the disk stays full: one line per job, not one per retry
        const news = this.jobId === undefined || this.ctx.store.storeFailed(this.jobId, describeStorageError(e));
        this.ctx.logger.log(news ? 'error' : 'debug', 'cannot store', { job: this.jobId, peer, code: status[refusal.code], error: describeStorageError(e) });
        this.fail(refusal.code, refusal.message, refusal.trailers);
      } else {
        this.ctx.logger.log('error', 'stream failed', { job: this.jobId, peer, error: e instanceof Error ? e.message : String(e) });
        this.fail(status.INTERNAL, `the output processor could not store the output: ${e instanceof Error ? e.message : String(e)}`);
      }
    } finally {
      if (log) await this.ctx.store.detach(log, this);
    }
  }

  /**
   * Stores `frames`, and whatever else arrives while they are written (up to a bound), as one
   * group: each part is published for live tails at once, the group is fsynced once, then
   * acknowledged (and JobFinished answered).
   */
  private async store(log: JobLog, frames: AgentFrame[]): Promise<void> {
    let gaveUp = false;
    const { ack, complete } = await log.exclusive(async () => {
      if (this.superseded) throw new ProtocolError(status.ABORTED, `a newer stream for job ${log.id} took over`);
      let answer;
      const started = Date.now();
      let count = 0;
      try {
        for (let group = frames; group.length > 0; group = this.takeArrived()) {
          for (const f of group) {
            if (f.open) throw new ProtocolError(status.FAILED_PRECONDITION, 'a second Open on one Stream; open a new Stream for another job');
            if (f.giveUp) {
              answer = await log.abandon(f.giveUp.reason, 'agent', f.giveUp.jobStatus);
              gaveUp = true;
              continue;
            }
            if (!f.batch) throw new ProtocolError(status.INVALID_ARGUMENT, 'an AgentFrame with none of open, batch, give_up set');
            answer = (await log.write(f.batch.entries)) ?? answer;
          }
          count += group.length;
          await log.publish();
          if (answer || count >= MAX_FRAMES_PER_COMMIT || Date.now() - started >= GROUP_COMMIT_MS) break;
          // let frames already on their way arrive, so one fsync covers them too
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      } finally {
        // what was valid before a bad entry is kept, and is durable before the error is sent
        await log.commit();
      }
      return { ack: log.stored(), complete: answer };
    });
    if (this.ctx.store.stored(log.id) && !gaveUp) this.ctx.logger.log('info', 'storing again', { job: log.id });
    this.send({ ack });
    if (complete) {
      this.ctx.logger.log('info', gaveUp ? 'job given up' : complete.verified ? 'job complete' : 'job incomplete', { job: log.id, message: complete.message || undefined });
      this.send({ complete });
    }
  }

  /** Frames already received and not read yet (none when the call is over). */
  private takeArrived(): AgentFrame[] {
    const frames: AgentFrame[] = [];
    if (this.gone || this.superseded) return frames;
    let f: AgentFrame | null;
    while (frames.length < MAX_FRAMES_PER_COMMIT && (f = this.call.read() as AgentFrame | null) !== null) frames.push(f);
    return frames;
  }

  /**
   * The frames that have arrived (waiting up to `timeoutMs` for one), or null when the client
   * has half-closed. Throws CallGone when the client went away.
   */
  private async read(timeoutMs: number, waitingFor: string): Promise<AgentFrame[] | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.gone) throw new CallGone();
      if (this.superseded) throw new ProtocolError(status.ABORTED, `a newer stream for job ${this.jobId} took over`);
      if (this.stopping) throw new ProtocolError(status.UNAVAILABLE, 'the output processor is shutting down; reconnect and resume from what it acknowledged');
      const frames = this.takeArrived();
      if (frames.length > 0) return frames;
      if (this.ended || this.call.readableEnded) return null;
      const left = deadline - Date.now();
      if (left <= 0) throw new ProtocolError(status.DEADLINE_EXCEEDED, `no ${waitingFor} for ${Math.round(timeoutMs / 1000)} s; closing the idle stream (reconnect to send more)`);
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
      this.wake = undefined;
    }
  }

  /** Sends a frame; while the client is not reading, only the newest Ack waits (Acks supersede each other). */
  private send(frame: ProcessorFrame): void {
    if (this.gone) return;
    if (this.blocked) {
      if (frame.ack) this.queued = this.queued.filter((q) => !q.ack);
      this.queued.push(frame);
      return;
    }
    if (!this.call.write(frame)) this.blocked = true;
  }

  private flushQueued(): void {
    this.blocked = false;
    const queued = this.queued;
    this.queued = [];
    for (const f of queued) this.send(f);
  }

  private finishCall(): void {
    if (this.gone) return;
    this.call.end();
  }

  private fail(code: status, details: string, trailers: Readonly<Record<string, string>> = {}): void {
    if (this.gone) return;
    const metadata = new Metadata();
    for (const [k, v] of Object.entries(trailers)) metadata.set(k, v);
    // the call's status carries the reason; frames still queued are moot
    this.call.emit('error', { code, details, metadata });
  }
}
