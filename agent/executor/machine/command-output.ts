// A command's stdout or stderr as the caller reads it: the channel's bytes, passed on with the
// channel's own flow control (the channel is paused while the reader lags, so SSH's window stays
// shut and the command waits). A plain Readable rather than a Transform: one hop per chunk.
//
// On stdout the first thing a command sends is `TOKEN PGID\n` (see remote-command.ts): its process
// group, for signals. That line is taken out and every other byte passed on unchanged. A login
// shell that prints something first (a chatty ~/.bashrc) is passed on too; a line that never comes
// (the command failed before it) leaves the group unknown.
//
// A step may also end its stdout with `REPORT 0|1\n` (remote-command.ts, haltTrap): whether the
// halt marker exists as the step's shell exits. That line is taken out wherever it comes; the
// bytes that might be its start are held back until the next chunk shows whether they are.

import { Readable } from 'node:stream';

/** How far into stdout the line is looked for before the search is given up. */
const SEARCH_LIMIT = 64 * 1024;

export class CommandOutput extends Readable {
  /** The process group, once known; undefined when the output ended without it (or has no marker). */
  readonly group: Promise<number | undefined>;
  /** Settles once the source has ended and all its bytes are queued here. */
  readonly ended: Promise<void>;
  private resolveGroup!: (group: number | undefined) => void;
  private resolveEnded!: () => void;
  private source: Readable | undefined;
  private searching: boolean;
  private pending: Buffer = Buffer.alloc(0);
  private readonly pattern: RegExp | undefined;
  private done = false;
  /** `REPORT ` of the halt line, while it is still looked for */
  private report: Buffer | undefined;
  private held: Buffer = Buffer.alloc(0);
  /** What the halt line said; undefined while none has come. */
  halt: boolean | undefined;

  /**
   * `markerToken`: look for the process-group line (stdout); absent: pass everything (stderr).
   * `reportToken`: take out the halt line that starts with it.
   */
  constructor(highWaterMark: number, markerToken?: string, reportToken?: string) {
    super({ highWaterMark });
    this.report = reportToken ? Buffer.from(`${reportToken} `, 'latin1') : undefined;
    // the token is hex: safe in a pattern; on a terminal the line ends in CR LF
    this.pattern = markerToken ? new RegExp(`${markerToken} (\\d+)\\r?\\n`) : undefined;
    this.searching = markerToken !== undefined;
    this.group = new Promise((resolve) => (this.resolveGroup = resolve));
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
    if (!this.searching) this.resolveGroup(undefined);
  }

  /** Reads `source` to its end. */
  follow(source: Readable): void {
    this.source = source;
    source.on('data', (chunk: Buffer) => {
      if (this.done) return;
      let out = this.searching ? this.search(chunk) : chunk;
      if (out && this.report) out = this.takeReport(out);
      if (out && out.length > 0 && !this.push(out)) source.pause();
    });
    source.once('end', () => this.finish());
    source.once('error', () => this.finish());
  }

  /** Ends the output (the source ended, or there never was one). Idempotent. */
  finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.searching) this.stopSearching(undefined);
    if (this.pending.length > 0) this.push(this.report ? this.takeReport(this.pending) : this.pending);
    this.pending = Buffer.alloc(0);
    // the start of a line that never ended: the command's own bytes
    if (this.held.length > 0) this.push(this.held);
    this.held = Buffer.alloc(0);
    this.push(null);
    this.resolveEnded();
  }

  override _read(): void {
    this.source?.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // a reader that gave up: keep draining the channel so the command is not held back forever
    this.source?.resume();
    this.stopSearching(undefined);
    this.resolveEnded();
    callback(error);
  }

  /** The bytes to pass on from `chunk`, holding back what may be the start of the line. */
  private search(chunk: Buffer): Buffer | undefined {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const found = (this.pattern as RegExp).exec(this.pending.toString('latin1'));
    if (found) {
      this.stopSearching(Number(found[1]));
      const before = this.pending.subarray(0, found.index);
      const after = this.pending.subarray(found.index + found[0].length);
      this.pending = Buffer.alloc(0);
      return before.length === 0 ? after : Buffer.concat([before, after]);
    }
    if (this.pending.length <= SEARCH_LIMIT) return undefined;
    const all = this.pending;
    this.pending = Buffer.alloc(0);
    this.stopSearching(undefined);
    return all;
  }

  /** The bytes to pass on from `chunk` without the halt line, holding back what may be its start. */
  private takeReport(chunk: Buffer): Buffer {
    const report = this.report as Buffer;
    const all = this.held.length === 0 ? chunk : Buffer.concat([this.held, chunk]);
    this.held = Buffer.alloc(0);
    const at = all.indexOf(report);
    if (at >= 0) {
      const end = at + report.length + 2;
      if (all.length < end) {
        this.held = all.subarray(at);
        return all.subarray(0, at);
      }
      const answer = all[end - 2];
      if ((answer !== 0x30 && answer !== 0x31) || all[end - 1] !== 0x0a) return all;
      this.halt = answer === 0x31;
      this.report = undefined;
      return Buffer.concat([all.subarray(0, at), all.subarray(end)]);
    }
    // a tail shorter than the token that is its beginning
    for (let i = Math.max(0, all.length - report.length + 1); i < all.length; i++) {
      if (all[i] === report[0] && report.subarray(0, all.length - i).equals(all.subarray(i))) {
        this.held = all.subarray(i);
        return all.subarray(0, i);
      }
    }
    return all;
  }

  private stopSearching(group: number | undefined): void {
    if (!this.searching) return;
    this.searching = false;
    this.resolveGroup(group);
  }
}
