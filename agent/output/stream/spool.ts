/**
 * The agent's output spool: every batch is written to disk before it is sent, so the agent's
 * memory stays bounded however much a job writes or however long the processor is away. Batches
 * go into append-only segment files; the sender reads them back with a cursor (from the oldest
 * segment again after a reconnect), and a segment is deleted once the processor has acknowledged
 * everything in it.
 *
 * Appends are synchronous writes to a local file, as for the job's log file: they never queue
 * output in memory, and the bytes are readable (page cache) the moment append returns.
 */
import { closeSync, mkdtempSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { streamKey, type OutputEntry } from './entries.js';
import { decodeBatch, encodeBatch, RECORD_HEADER } from './spool-record.js';

export const SEGMENT_BYTES = 4 * 1024 * 1024;
const READ_AHEAD = 256 * 1024;

/** What the processor has durably stored: bytes per stream key, events below nextSeq. */
export interface StoredState {
  offsets: Map<string, number>;
  nextSeq: number;
}

interface Segment {
  id: number;
  path: string;
  /** bytes written */
  size: number;
  /** the end offset of the last chunk of each stream in this segment */
  ends: Map<string, number>;
  /** the highest event seq in this segment, -1 when none */
  lastSeq: number;
}

/** Where a reader is; one per connection attempt. */
export interface SpoolCursor {
  segmentId: number;
  position: number;
  file?: FileHandle;
  fileId?: number;
}

export class Spool {
  readonly dir: string;
  private readonly segments: Segment[] = [];
  private fd: number | undefined;
  private nextId = 0;
  private ended = false;
  private disposed = false;
  private waiters: (() => void)[] = [];
  /** counts appends and the end: a reader that saw version V knows whether anything came since */
  private changes = 0;
  private readonly segmentBytes: number;

  /** A spool in a new folder under `parent` (default: the system temp folder). */
  constructor(options: { parent?: string; segmentBytes?: number } = {}) {
    this.dir = mkdtempSync(join(options.parent ?? tmpdir(), 'deckhand-spool-'));
    this.segmentBytes = options.segmentBytes ?? SEGMENT_BYTES;
  }

  /** Writes one batch. Throws on an I/O error (a full disk); the caller decides what that means. */
  append(entries: OutputEntry[]): void {
    if (this.ended || this.disposed) throw new Error('the spool is closed');
    if (entries.length === 0) return;
    let segment = this.segments[this.segments.length - 1];
    if (!segment || this.fd === undefined || segment.size >= this.segmentBytes) segment = this.roll();
    const record = encodeBatch(entries);
    let done = 0;
    while (done < record.length) done += writeSync(this.fd as number, record, done, record.length - done);
    segment.size += record.length;
    for (const e of entries) {
      if (e.kind === 'chunk') segment.ends.set(streamKey(e.step, e.stream), e.offset + e.data.length);
      else segment.lastSeq = Math.max(segment.lastSeq, e.seq);
    }
    this.wake();
  }

  /** No more batches will come. */
  end(): void {
    this.ended = true;
    this.closeWriter();
    this.wake();
  }

  /** A cursor at the oldest batch still kept. */
  cursor(): SpoolCursor {
    return { segmentId: this.segments[0]?.id ?? this.nextId, position: 0 };
  }

  /**
   * The next batches after the cursor (one or more whole records, at most ~256 KiB), 'wait'
   * when the cursor has read everything written so far, 'end' when it has read everything the
   * spool will ever hold.
   */
  async read(cursor: SpoolCursor): Promise<OutputEntry[][] | 'wait' | 'end'> {
    for (;;) {
      const index = this.segments.findIndex((s) => s.id >= cursor.segmentId);
      if (index < 0) return this.ended ? 'end' : 'wait';
      const segment = this.segments[index];
      if (segment.id !== cursor.segmentId) {
        // the cursor's segment was released (all of it stored): go on with the next one
        cursor.segmentId = segment.id;
        cursor.position = 0;
      }
      if (cursor.position < segment.size) return this.readRecords(cursor, segment);
      const last = index === this.segments.length - 1;
      if (!last) {
        cursor.segmentId = this.segments[index + 1].id;
        cursor.position = 0;
        continue;
      }
      return this.ended ? 'end' : 'wait';
    }
  }

  /**
   * Resolves when a batch is appended or the spool ends after the reader saw `version`: at once
   * when that happened already (between a read that found nothing and this call).
   */
  appended(version: number): Promise<void> {
    if (this.changes !== version) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Deletes the oldest segments whose every entry is stored. */
  release(stored: StoredState): void {
    // the segment being written stays: it is still growing
    while (this.segments.length > (this.ended ? 0 : 1)) {
      const oldest = this.segments[0];
      if (oldest.lastSeq >= stored.nextSeq) return;
      for (const [key, end] of oldest.ends) if ((stored.offsets.get(key) ?? 0) < end) return;
      this.segments.shift();
      if (this.segments.length === 0) this.closeWriter();
      try {
        unlinkSync(oldest.path);
      } catch {
        // already gone: nothing to free
      }
    }
  }

  /** Bytes the spool holds on disk now. */
  get bytesOnDisk(): number {
    return this.segments.reduce((sum, s) => sum + s.size, 0);
  }

  async closeCursor(cursor: SpoolCursor): Promise<void> {
    const file = cursor.file;
    cursor.file = undefined;
    cursor.fileId = undefined;
    await file?.close().catch(() => undefined);
  }

  /** Removes the spool's folder and everything in it. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.ended = true;
    this.closeWriter();
    this.segments.length = 0;
    rmSync(this.dir, { recursive: true, force: true });
    this.wake();
  }

  private async readRecords(cursor: SpoolCursor, segment: Segment): Promise<OutputEntry[][]> {
    if (cursor.fileId !== segment.id) {
      await this.closeCursor(cursor);
      cursor.file = await open(segment.path, 'r');
      cursor.fileId = segment.id;
    }
    const file = cursor.file as FileHandle;
    const available = segment.size - cursor.position;
    let buffer = Buffer.allocUnsafe(Math.min(available, READ_AHEAD));
    await readFully(file, buffer, cursor.position);
    const first = buffer.readUInt32LE(0) + RECORD_HEADER;
    if (first > buffer.length) {
      // one record larger than the read-ahead (long event texts): read exactly it
      buffer = Buffer.allocUnsafe(first);
      await readFully(file, buffer, cursor.position);
    }
    const batches: OutputEntry[][] = [];
    let at = 0;
    while (at + RECORD_HEADER <= buffer.length) {
      const end = at + RECORD_HEADER + buffer.readUInt32LE(at);
      if (end > buffer.length) break;
      batches.push(decodeBatch(buffer.subarray(at + RECORD_HEADER, end)));
      at = end;
    }
    cursor.position += at;
    return batches;
  }

  private roll(): Segment {
    this.closeWriter();
    const id = this.nextId++;
    const path = join(this.dir, `${String(id).padStart(8, '0')}.spool`);
    this.fd = openSync(path, 'w', 0o600);
    const segment: Segment = { id, path, size: 0, ends: new Map(), lastSeq: -1 };
    this.segments.push(segment);
    return segment;
  }

  private closeWriter(): void {
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      // closing a spool file cannot lose anything: readers open their own handles
    }
    this.fd = undefined;
  }

  get version(): number {
    return this.changes;
  }

  private wake(): void {
    this.changes++;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

async function readFully(file: FileHandle, buffer: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buffer.length) {
    const { bytesRead } = await file.read(buffer, done, buffer.length - done, position + done);
    if (bytesRead === 0) throw new Error('the spool file is shorter than written');
    done += bytesRead;
  }
}
