// The first thing a command sends on stdout is `TOKEN PGID\n` (see remote-command.ts): its
// process group, for signals. This takes that line out of the output and passes every other
// byte on unchanged. A login shell that prints something first (a chatty ~/.bashrc) is passed
// on too; a line that never comes (the command failed before it) leaves the group unknown.

import { Transform, type TransformCallback } from 'node:stream';

/** How far into stdout the line is looked for before the search is given up. */
const SEARCH_LIMIT = 64 * 1024;

export class GroupMarker extends Transform {
  /** The process group, once known; undefined when stdout ended without it. */
  readonly group: Promise<number | undefined>;
  private resolveGroup!: (group: number | undefined) => void;
  private searching = true;
  private pending: Buffer = Buffer.alloc(0);
  private readonly pattern: RegExp;

  constructor(token: string, highWaterMark: number) {
    super({ readableHighWaterMark: highWaterMark, writableHighWaterMark: highWaterMark });
    // the token is hex: safe in a pattern
    this.pattern = new RegExp(`${token} (\\d+)\\n`);
    this.group = new Promise((resolve) => (this.resolveGroup = resolve));
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (!this.searching) return callback(null, chunk);
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const text = this.pending.toString('latin1');
    const found = this.pattern.exec(text);
    if (found) {
      this.stopSearching(Number(found[1]));
      const before = this.pending.subarray(0, found.index);
      const after = this.pending.subarray(found.index + found[0].length);
      this.pending = Buffer.alloc(0);
      if (before.length > 0) this.push(before);
      return callback(null, after.length > 0 ? after : undefined);
    }
    if (this.pending.length > SEARCH_LIMIT) {
      const all = this.pending;
      this.pending = Buffer.alloc(0);
      this.stopSearching(undefined);
      return callback(null, all);
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.searching) {
      this.stopSearching(undefined);
      if (this.pending.length > 0) this.push(this.pending);
    }
    callback();
  }

  /** Gives up on the line (the command is over). */
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.stopSearching(undefined);
    callback(error);
  }

  private stopSearching(group: number | undefined): void {
    if (!this.searching) return;
    this.searching = false;
    this.resolveGroup(group);
  }
}
