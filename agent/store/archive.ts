/**
 * Archives of files in the job's container: gzip-compressed tar, streamed end to end (container
 * → tar → gzip → store, and store → gunzip → container) and never held whole in memory.
 *
 * Creating: the container's own tar writes the paths (relative to a base folder: `/` for caches,
 * the root for workspaces) to its stdout; or, in images without tar, each path is copied out
 * through the engine (the executor's copyOut) and its entries re-packed under the name the
 * archive gives them (e.g. `home/u/.npm/…` for a cache of `/home/u/.npm`). Either way modes,
 * owners, times, symlinks and empty folders are kept as the container had them. Compression and
 * the archive's SHA-256 and size happen here, on the bytes as they pass.
 *
 * Extracting (the fallback for images without tar; see stored-archive.ts) is the reverse:
 * gunzip, and hand the tar stream to the executor's copyIn.
 */
import { createHash } from 'node:crypto';
import { PassThrough, Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { posix } from 'node:path';
import tar from 'tar-stream';
import type { Executor } from '../executor/executor.js';
import { tarOut } from './container-tar.js';
import { ARCHIVE_GZIP_LEVEL } from './gzip-level.js';

/** metadata key of the archive's SHA-256 (hex) */
export const SHA256_KEY = 'sha256';

/** What goes into an archive: `names` (relative to `base`; `.` is base itself), stored under those names. */
export interface ArchiveContents {
  /** absolute folder of the primary container */
  base: string;
  names: string[];
}

interface ArchiveSource {
  /** absolute path in the primary container */
  path: string;
  /** the path it has in the archive (relative, no leading `/`) */
  name: string;
}

export interface ArchiveDigest {
  /** hex SHA-256 of the compressed bytes */
  sha256: string;
  bytes: number;
  /** length of the tar before compression */
  tarBytes: number;
}

export interface CreatedArchive {
  /** the gzip-compressed tar, to hand to BlobStore.put */
  stream: Readable;
  /** the digest once `stream` has been read to its end; rejects with the first error */
  digest: Promise<ArchiveDigest>;
}

export interface ArchiveOptions {
  signal?: AbortSignal;
  level?: number;
  /** make the tar with the container's own tar (see container-tar.ts) instead of the engine's archive API */
  containerTar: boolean;
}

/** A gzip-compressed tar of `contents`, compressed and hashed here as it streams by. */
export function createArchive(executor: Executor, contents: ArchiveContents, opts: ArchiveOptions): CreatedArchive {
  const { signal } = opts;
  const hasher = new Digester();
  const counter = new Digester(false);
  const stream = new PassThrough({ highWaterMark: 1 << 20 });
  let tarStream: Readable;
  let filled: Promise<void> = Promise.resolve();
  if (opts.containerTar) {
    tarStream = tarOut(executor, contents.base, contents.names, signal);
  } else {
    const pack = tar.pack();
    const sources = contents.names.map((name) => ({ path: posix.join(contents.base, name), name }));
    filled = (async () => {
      for (const source of sources) await repack(executor, source, pack, signal);
      pack.finalize();
    })();
    filled.catch((err: unknown) => pack.destroy(err instanceof Error ? err : new Error(String(err))));
    const packed = new PassThrough({ highWaterMark: 1 << 20 });
    pipeline(pack, packed).catch(() => undefined);
    tarStream = packed;
  }
  const piped = pipeline(tarStream, counter, createGzip({ level: opts.level ?? ARCHIVE_GZIP_LEVEL, memLevel: 9 }), hasher, stream);
  const digest = Promise.all([filled, piped]).then(() => ({ sha256: hasher.hex(), bytes: hasher.bytes, tarBytes: counter.bytes }));
  // the caller sees failures through `digest` (and the stream's error); nothing is left unhandled
  digest.catch(() => undefined);
  return { stream, digest };
}

/** Copies one source out of the container into `pack`, renaming its top entry to `source.name`. */
async function repack(executor: Executor, source: ArchiveSource, pack: tar.Pack, signal?: AbortSignal): Promise<void> {
  const out = await executor.copyOut(source.path, signal);
  const extract = tar.extract();
  const feeding = pipeline(out, extract);
  feeding.catch(() => undefined);
  // copyOut names entries after the source's last component: `node_modules/…`
  const base = source.path.replace(/\/+$/, '').split('/').pop() ?? '';
  const rename = (name: string): string => {
    const rest = name === base || name === `${base}/` ? '' : name.startsWith(`${base}/`) ? name.slice(base.length) : `/${name}`;
    return `${source.name}${rest}`.replace(/\/+$/, '');
  };
  for await (const entry of extract) {
    const h = entry.header as PaxHeaders;
    const header: PaxHeaders = { ...h, name: rename(h.name), pax: withoutPaths(h.pax) };
    // hard links name another entry of the archive; symlinks point wherever they pointed
    if (h.type === 'link' && h.linkname) header.linkname = rename(h.linkname);
    await new Promise<void>((resolve, reject) => {
      if (h.type !== 'file' && h.type !== 'contiguous-file') {
        pack.entry(header, (err) => (err ? reject(err) : resolve()));
        entry.resume();
        return;
      }
      const sink = pack.entry(header, (err) => (err ? reject(err) : resolve()));
      entry.on('error', reject);
      entry.pipe(sink);
    });
  }
  await feeding;
}

/** tar-stream reads and writes PAX records (long names, xattrs) in `pax`; its types omit it */
type PaxHeaders = Omit<tar.Header, 'pax'> & { pax?: Record<string, string> | null };

function withoutPaths(pax: Record<string, string> | null | undefined): Record<string, string> | null {
  if (!pax) return null;
  const { path: _p, linkpath: _l, ...rest } = pax;
  return Object.keys(rest).length > 0 ? rest : null;
}

/** Reads a stored archive to its end and returns its digest (to verify it before extracting). */
export async function digestOf(body: Readable): Promise<Omit<ArchiveDigest, 'tarBytes'>> {
  const hasher = new Digester();
  await pipeline(body, hasher, new PassThrough().resume());
  return { sha256: hasher.hex(), bytes: hasher.bytes };
}

/** Gunzips a stored archive into `destination` of the primary container. */
export async function extractArchive(executor: Executor, body: Readable, destination: string, signal?: AbortSignal): Promise<void> {
  const gunzip = createGunzip();
  const tarStream = new PassThrough({ highWaterMark: 1 << 20 });
  const unzipping = pipeline(body, gunzip, tarStream);
  // whichever fails first (a corrupt gzip stream, or the engine refusing the tar) is the error
  const results = await Promise.allSettled([unzipping, executor.copyIn(destination, tarStream, signal)]);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}

/** A pass-through that hashes (unless told not to) and counts the bytes going by. */
export class Digester extends Transform {
  private readonly hash = createHash('sha256');
  bytes = 0;

  constructor(private readonly hashing = true) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.hashing) this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }

  hex(): string {
    return this.hash.digest('hex');
  }
}
