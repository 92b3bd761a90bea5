/**
 * The output sink that streams a job to an output processor: events (already masked — this sink
 * sits behind MaskingSink) become protocol entries, are cut into batches, written to the spool on
 * disk, and sent from there by the Sender. `event` never blocks and never throws into the job;
 * `close` waits for the processor to store and verify everything, up to a deadline counted from
 * the job's end, and then leaves a DeliveryReport saying what did not arrive.
 */
import { tmpdir } from 'node:os';
import { UsageError } from '../../errors.js';
import type { JobEvent, OutputSink } from '../events.js';
import { Batcher } from './batcher.js';
import { formatGiveUp, undelivered, type DeliveryReport } from './delivery.js';
import { EntryEncoder, type OutputEntry } from './entries.js';
import { Sender, type SenderOptions } from './sender.js';
import { Spool } from './spool.js';

export interface GrpcSinkOptions extends Omit<SenderOptions, 'spool'> {
  /** the job's name, for Open when the job never started (its job-start carries the name otherwise) */
  jobName: string;
  /** how long close waits for delivery after the job ended (ms) */
  deadlineMs: number;
  /** the folder to make the spool in (default: the system temp folder) */
  spoolParent?: string;
}

export class GrpcOutputSink implements OutputSink {
  private readonly encoder = new EntryEncoder();
  private readonly batcher: Batcher;
  private readonly spool: Spool;
  private readonly sender: Sender;
  private readonly createdAt = Date.now();
  private endedAt: number | undefined;
  private spoolError: string | undefined;
  private result: DeliveryReport | undefined;
  private closing: Promise<void> | undefined;
  /** the latest moment delivery may go on (epoch ms), set by a cancel that must end in time */
  private cap: number | undefined;
  private capChanged: (() => void) | undefined;
  /** whether the processor stores SshStatus entries, once its Resume said */
  private takesSshStatus: boolean | undefined;
  /** the latest SSH status while the processor has not said yet */
  private pendingSsh: JobEvent | undefined;

  /** Throws only when the spool folder cannot be made (before the job starts: a usage problem). */
  constructor(private readonly options: GrpcSinkOptions) {
    try {
      this.spool = new Spool({ parent: options.spoolParent });
    } catch (err) {
      throw new UsageError(`cannot make the output spool in ${options.spoolParent ?? tmpdir()}: ${(err as Error).message}; set TMPDIR to a writable folder`);
    }
    this.batcher = new Batcher({ onBatch: (batch) => this.store(batch) });
    this.sender = new Sender({ ...options, spool: this.spool, onSshStatusSupport: (takes) => this.sshStatusSupport(takes) });
  }

  event(e: JobEvent): void {
    // SSH status goes only to a processor that said it stores it: an older one would refuse the
    // entry, and with it the job's stream. Until the processor has said, the latest one waits.
    if (e.type === 'ssh' && this.takesSshStatus !== true) {
      if (this.takesSshStatus === undefined) this.pendingSsh = e;
      return;
    }
    try {
      if (e.type === 'job-end') this.endedAt ??= Date.now();
      for (const entry of this.encoder.encode(e)) this.batcher.add(entry);
      if (e.type === 'job-start' && this.encoder.opening) this.sender.start(this.encoder.opening);
    } catch (err) {
      // the job goes on; the report says output is missing and why
      this.spoolError ??= err instanceof Error ? err.message : String(err);
    }
  }

  private sshStatusSupport(takes: boolean): void {
    const first = this.takesSshStatus === undefined;
    this.takesSshStatus = takes;
    const pending = this.pendingSsh;
    this.pendingSsh = undefined;
    if (first && takes && pending) this.event(pending);
  }

  /** Ends delivery by `epochMs` at the latest, even before the deadline (a scheduler's kill timeout). */
  deliverBy(epochMs: number): void {
    this.cap = Math.min(this.cap ?? Infinity, epochMs);
    this.capChanged?.();
  }

  close(): Promise<void> {
    this.closing ??= this.deliver();
    return this.closing;
  }

  /** Settles with the processor's first answer to the job: see Sender.admitted. */
  admitted(): Promise<void> {
    return this.sender.admitted();
  }

  /** What reached the processor; set once close has resolved. */
  report(): DeliveryReport | undefined {
    return this.result;
  }

  private async deliver(): Promise<void> {
    const endedAt = (this.endedAt ??= Date.now());
    try {
      if (!this.encoder.finished && (this.encoder.eventCount > 0 || this.encoder.totals().size > 0)) {
        // the job ended without job-end (it failed to start): close its streams so the processor can verify them
        this.batcher.add(this.encoder.finish('failed', endedAt - this.createdAt));
      }
      this.batcher.flush();
    } catch (err) {
      this.spoolError ??= err instanceof Error ? err.message : String(err);
    }
    this.spool.end();
    const hasOutput = this.encoder.eventCount > 0;
    if (hasOutput && !this.sender.started) this.sender.start({ jobName: this.options.jobName, startedUnixMs: this.createdAt, environment: {} });
    if (hasOutput) {
      const until = (): number => Math.min(endedAt + this.options.deadlineMs, this.cap ?? Infinity);
      const remaining = Math.max(0, until() - Date.now());
      // say why the command has not ended yet, unless delivery finishes at once
      const note = remaining > 1000 ? setTimeout(() => this.options.log?.(`waiting up to ${Math.ceil(remaining / 1000)}s for output processor ${this.options.target} to store the job's output`), 1000) : undefined;
      const finished = this.sender.finished().then(() => true);
      // wait for delivery or the deadline; a cap set meanwhile (a cancel) shortens the wait
      while (Date.now() < until()) {
        let timer: NodeJS.Timeout | undefined;
        const waited = await Promise.race([
          finished,
          new Promise<false>((resolve) => {
            timer = setTimeout(() => resolve(false), Math.max(0, until() - Date.now()));
            this.capChanged = () => resolve(false);
          }),
        ]);
        clearTimeout(timer);
        this.capChanged = undefined;
        if (waited) break;
      }
      clearTimeout(note);
      await this.sender.stop();
    }
    const missing = undelivered(this.encoder.totals(), this.encoder.eventCount, this.sender.stored);
    const totalBytes = [...this.encoder.totals().values()].reduce((a, b) => a + b, 0);
    this.result = {
      target: this.options.target,
      jobId: this.options.jobId,
      complete: this.sender.complete !== undefined,
      verified: this.sender.complete?.verified === true,
      ...(this.sender.complete && !this.sender.complete.verified ? { verifyMessage: this.sender.complete.message } : {}),
      totalBytes,
      undeliveredBytes: missing.bytes,
      totalEvents: this.encoder.eventCount,
      undeliveredEvents: missing.events,
      ...(this.sender.fatal ?? this.sender.lastError ? { lastError: this.sender.fatal ?? this.sender.lastError } : {}),
      ...(this.spoolError ? { spoolError: this.spoolError } : {}),
      waitedMs: Date.now() - endedAt,
      deadlineMs: this.options.deadlineMs,
    };
    // without its verdict the processor would keep the job running: say why delivery ends here
    // (within a cancel's limit, when one is set)
    if (hasOutput && !this.result.complete) await this.sender.giveUp(formatGiveUp(this.result), this.encoder.status ?? '', (this.cap ?? Infinity) - Date.now());
    this.spool.dispose();
  }

  private store(batch: OutputEntry[]): void {
    if (this.spoolError) return; // after a failed write the stream has a hole: sending more would be refused as a gap
    try {
      this.spool.append(batch);
    } catch (err) {
      this.spoolError = err instanceof Error ? err.message : String(err);
    }
  }
}
