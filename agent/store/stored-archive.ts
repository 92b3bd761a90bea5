/**
 * Storing an archive of container paths, and checking and unpacking a stored one: what caches
 * and workspace layers share. An archive is verified before anything is unpacked (its bytes
 * hashed against the SHA-256 stored with it), so that a corrupt or truncated one never leaves
 * half its files in the job.
 */
import { randomUUID } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { Executor } from '../executor/executor.js';
import { createArchive, Digester, digestOf, extractArchive, SHA256_KEY, type ArchiveContents, type ArchiveDigest } from './archive.js';
import { hasTar, lastLines, runAsRoot } from './container-tar.js';
import type { BlobInfo, BlobStore } from './blob-store.js';

/** metadata key of the archive's length in bytes */
const BYTES_KEY = 'archive-bytes';

export interface StoredArchive extends ArchiveDigest {
  /** false when `ifAbsent` and the key already existed (another writer won) */
  stored: boolean;
}

/** Archives `contents` of the primary container straight into the store under `key`. */
export async function storeArchive(
  store: BlobStore,
  key: string,
  executor: Executor,
  contents: ArchiveContents,
  opts: { ifAbsent?: boolean; metadata?: Record<string, string>; signal?: AbortSignal; level?: number },
): Promise<StoredArchive> {
  const containerTar = await hasTar(executor, { gzip: false, ...(opts.signal ? { signal: opts.signal } : {}) });
  const archive = createArchive(executor, contents, { containerTar, ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.level !== undefined ? { level: opts.level } : {}) });
  const put = store.put(key, archive.stream, {
    ...(opts.ifAbsent ? { ifAbsent: true } : {}),
    metadata: opts.metadata ?? {},
    trailingMetadata: async () => {
      const d = await archive.digest;
      return { [SHA256_KEY]: d.sha256, [BYTES_KEY]: String(d.bytes) };
    },
  });
  // the archive's own error (a path that vanished, the engine gone) says more than the store's
  const [stored, digest] = await Promise.allSettled([put, archive.digest]);
  if (digest.status === 'rejected') throw digest.reason;
  if (stored.status === 'rejected') throw stored.reason;
  return { ...digest.value, stored: stored.value };
}

/** Why a stored archive cannot be used, or undefined when its bytes are what was stored. */
export async function archiveProblem(store: BlobStore, info: BlobInfo): Promise<string | undefined> {
  const expected = info.metadata[SHA256_KEY];
  if (!expected) return NO_DIGEST;
  const body = await store.get(info.key);
  if (!body) return GONE;
  const { sha256, bytes } = await digestOf(body);
  return mismatch(info, sha256, bytes);
}

/**
 * Checks a stored archive and unpacks it into `destination` of the primary container. Returns
 * why it cannot be used (corrupt, truncated, gone) with nothing unpacked, or undefined once it is
 * unpacked; throws when unpacking itself fails.
 *
 * When the container has `tar` with gzip, the archive is copied into its /tmp as one file (hashed
 * on the way) and unpacked there by that tar, as root so that owners survive: the engine's own
 * unpacking (copyIn) pays a few times tar's cost per file, which dominates for trees of many
 * small files (docs/benchmarks.md). Otherwise the archive is read once to verify it and then
 * streamed through copyIn.
 */
export async function restoreArchive(store: BlobStore, info: BlobInfo, executor: Executor, destination: string, signal?: AbortSignal): Promise<string | undefined> {
  if (!info.metadata[SHA256_KEY]) return NO_DIGEST;
  if (!(await hasTar(executor, { gzip: true, ...(signal ? { signal } : {}) }))) {
    const problem = await archiveProblem(store, info);
    if (problem) return problem;
    const body = await store.get(info.key);
    if (!body) return GONE;
    await extractArchive(executor, body, destination, signal);
    return undefined;
  }
  const name = `.deckhand-archive-${randomUUID()}.tgz`;
  const file = `/tmp/${name}`;
  try {
    const body = await store.get(info.key);
    if (!body) return GONE;
    const size = storedBytes(info);
    const hasher = new Digester();
    // a copy whose source broke off is ended by aborting it: the engine would wait for more
    const stop = new AbortController();
    const pack = tar.pack();
    const packed = new PassThrough({ highWaterMark: 1 << 20 });
    let short = false;
    const entry = pack.entry({ name, size, mode: 0o600, type: 'file' }, (err) => {
      if (!err) return pack.finalize();
      // fewer bytes than stored: end the copy, so that it fails rather than waits
      short = true;
      stop.abort(err);
    });
    const packing = pipeline(pack, packed);
    packing.catch(() => undefined);
    const copying = executor.copyIn('/tmp', packed, signal ? AbortSignal.any([signal, stop.signal]) : stop.signal);
    const reading = pipeline(body, hasher, entry).catch((err: unknown) => {
      stop.abort(err);
      throw err;
    });
    const [read, copied] = await Promise.allSettled([reading, copying]);
    // fewer bytes than stored ends the tar entry early ("Size mismatch"): a truncated archive
    if (short || (read.status === 'rejected' && hasher.bytes !== size)) return mismatch(info, hasher.hex(), hasher.bytes) ?? `it could not be read to its end`;
    if (read.status === 'rejected') throw read.reason;
    if (copied.status === 'rejected') throw copied.reason;
    const problem = mismatch(info, hasher.hex(), hasher.bytes);
    if (problem) return problem;
    const unpacked = await runAsRoot(executor, 'mkdir -p -- "$2" && tar -xzpf "$1" -C "$2"', [file, destination], signal);
    if (unpacked.exitCode !== 0) throw new Error(`tar in the primary container exited with ${unpacked.exitCode}: ${lastLines(unpacked.stderr)}`);
    return undefined;
  } finally {
    await runAsRoot(executor, 'rm -f -- "$1"', [file]).catch(() => undefined);
  }
}

const NO_DIGEST = 'it has no SHA-256 (it was never completely stored)';
const GONE = 'it disappeared from the store';

function storedBytes(info: BlobInfo): number {
  return Number(info.metadata[BYTES_KEY] ?? info.size);
}

function mismatch(info: BlobInfo, sha256: string, bytes: number): string | undefined {
  const stored = storedBytes(info);
  if (bytes !== stored) return `it is ${bytes} bytes long, ${stored} were stored (truncated or damaged)`;
  if (sha256 !== info.metadata[SHA256_KEY]) return `its SHA-256 is ${sha256}, ${info.metadata[SHA256_KEY]} was stored (corrupt)`;
  return undefined;
}
