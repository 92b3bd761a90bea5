/**
 * Cuts entries into batches: a batch is handed on when it holds 64 KiB of output data, or a few
 * milliseconds after its first entry, whichever comes first — so a busy step travels in full
 * batches and a lone line still leaves within milliseconds. Consecutive chunks of one stream are
 * merged into one chunk (up to the chunk limit), which keeps per-entry overhead off the wire.
 */
import { MAX_CHUNK_BYTES, type ChunkEntry, type OutputEntry } from './entries.js';

export const BATCH_DATA_BYTES = 64 * 1024;
export const BATCH_DELAY_MS = 5;

export interface BatcherOptions {
  /** receives each batch, in order; must not throw */
  onBatch: (entries: OutputEntry[]) => void;
  maxDataBytes?: number;
  delayMs?: number;
}

export class Batcher {
  private pending: OutputEntry[] = [];
  /** pieces of the last pending entry when it is a chunk still being merged */
  private merging: Buffer[] | undefined;
  private mergedLength = 0;
  private dataBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly maxDataBytes: number;
  private readonly delayMs: number;

  constructor(private readonly options: BatcherOptions) {
    this.maxDataBytes = Math.min(options.maxDataBytes ?? BATCH_DATA_BYTES, BATCH_DATA_BYTES);
    this.delayMs = options.delayMs ?? BATCH_DELAY_MS;
  }

  add(entry: OutputEntry): void {
    if (entry.kind === 'chunk') {
      if (this.dataBytes + entry.data.length > this.maxDataBytes) this.flush();
      this.dataBytes += entry.data.length;
      if (!this.mergeInto(entry)) {
        this.closeMerge();
        this.pending.push({ ...entry });
        this.merging = [entry.data];
        this.mergedLength = entry.data.length;
      }
    } else {
      this.closeMerge();
      this.pending.push(entry);
    }
    if (this.dataBytes >= this.maxDataBytes) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.delayMs);
  }

  /** Hands on whatever is pending now. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.closeMerge();
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.dataBytes = 0;
    this.options.onBatch(batch);
  }

  /** Appends `entry` to the last pending chunk when it continues it exactly. */
  private mergeInto(entry: ChunkEntry): boolean {
    const last = this.pending[this.pending.length - 1];
    if (!this.merging || !last || last.kind !== 'chunk') return false;
    if (last.step !== entry.step || last.stream !== entry.stream) return false;
    if (last.offset + this.mergedLength !== entry.offset) return false;
    if (this.mergedLength + entry.data.length > MAX_CHUNK_BYTES) return false;
    this.merging.push(entry.data);
    this.mergedLength += entry.data.length;
    return true;
  }

  /** Joins the pieces of the chunk being merged (once, not at every piece). */
  private closeMerge(): void {
    const last = this.pending[this.pending.length - 1];
    if (this.merging && this.merging.length > 1 && last?.kind === 'chunk') last.data = Buffer.concat(this.merging, this.mergedLength);
    this.merging = undefined;
    this.mergedLength = 0;
  }
}
