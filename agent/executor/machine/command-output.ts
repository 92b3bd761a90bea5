// A command's stdout or stderr as the caller reads it: the channel's bytes, passed on with the
// channel's own flow control (the channel is paused while the reader lags, so SSH's window stays
// shut and the command waits). A plain Readable rather than a Transform: one hop per chunk.
//
// On stdout the first thing a command sends is `TOKEN PGID\n` (see remote-command.ts): its process
// group, for signals. That line is taken out and every other byte passed on unchanged. A login
// shell that prints something first (a chatty ~/.bashrc) is passed on too; a line that never comes
// (the command failed before it) leaves the group unknown.

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

  /** `markerToken`: look for the process-group line (stdout); absent: pass everything (stderr). */
  constructor(highWaterMark: number, markerToken?: string) {
    super({ highWaterMark });
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
      const out = this.searching ? this.search(chunk) : chunk;
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
    if (this.pending.length > 0) this.push(this.pending);
    this.pending = Buffer.alloc(0);
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

  private stopSearching(group: number | undefined): void {
    if (!this.searching) return;
    this.searching = false;
    this.resolveGroup(group);
  }
}
