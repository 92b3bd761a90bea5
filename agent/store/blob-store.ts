/**
 * The one storage interface behind every step that keeps data beyond a job: caches, workspace
 * layers, artifacts, test results and timings. Backends: the filesystem (default, under
 * `$DECKHAND_HOME/store` or `--store DIR`) and S3-compatible object storage
 * (`--store s3://bucket/prefix`). Keys are `/`-separated relative paths; bodies are streamed.
 */
import type { Readable } from 'node:stream';

export interface BlobInfo {
  key: string;
  size: number;
  /** when the blob was written (newest wins for cache prefix matches) */
  modified: Date;
  metadata: Record<string, string>;
  /** set when the blob's record cannot be read (a damaged meta file): why; its metadata is then empty */
  damaged?: string;
}

export interface PutOptions {
  /** write only when the key does not exist yet; returns false when it did (caches are immutable) */
  ifAbsent?: boolean;
  /** small string values kept with the blob (e.g. `sha256`) */
  metadata?: Record<string, string>;
  /**
   * metadata known only once the body has been read to its end (a digest of a streamed archive):
   * called then and merged over `metadata`. The filesystem store writes it with the blob; on S3 a
   * multipart upload gets it by a server-side copy onto itself, so a reader may briefly see the
   * blob without it (readers that need it treat such a blob as not yet there)
   */
  trailingMetadata?: () => Promise<Record<string, string>>;
}

/** Bytes `start`..`end` of a blob, both inclusive, as in an HTTP Range (`bytes=start-end`). */
export interface ByteRange {
  start: number;
  end: number;
}

export interface BlobStore {
  /** where it stores, for messages: `/root/.deckhand/store` or `s3://bucket/prefix` */
  readonly location: string;
  /** stores the whole stream under `key`; a failed or aborted upload leaves nothing under `key` */
  put(key: string, body: Readable, opts?: PutOptions): Promise<boolean>;
  /**
   * the blob's bytes, or undefined when there is no such key. With `range`, only those bytes are
   * read (never the ones before `start`); a range past the blob's end gives the bytes it holds
   * (none when `start` is past it), as a blob may have been replaced since it was looked up
   */
  get(key: string, range?: ByteRange): Promise<Readable | undefined>;
  stat(key: string): Promise<BlobInfo | undefined>;
  /** every blob whose key starts with `prefix` (a plain string prefix, not a folder) */
  list(prefix: string): Promise<BlobInfo[]>;
  delete(key: string): Promise<void>;
}

/** Throws unless `range` is whole non-negative offsets with `start` ≤ `end`: a caller's mistake. */
export function checkByteRange(range: ByteRange): void {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) throw new Error(`invalid byte range ${start}-${end}`);
}
