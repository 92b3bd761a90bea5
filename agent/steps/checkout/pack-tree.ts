// A tar stream of chosen files of a local folder, built without a tar
// binary: contents are streamed from disk one file at a time (never a whole
// file in memory), modes and symlinks are kept, and every entry gets the
// owner the files should have inside the container.

import { createReadStream } from 'node:fs';
import { lstat, readlink } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import type { ContainerUser } from '../container-script.js';

export interface PackStats {
  files: number;
  directories: number;
  symlinks: number;
  /** bytes of file contents */
  bytes: number;
  /** sockets, fifos and devices, which a tar of a checkout cannot carry */
  skipped: string[];
}

type EntryHeader = Partial<tar.Header> & Pick<tar.Header, 'name'>;

/** Reading the local folder failed (as opposed to the consumer going away). */
export class LocalReadError extends Error {
  override readonly name = 'LocalReadError';
}

export interface PackedTree {
  stream: Readable;
  /** settles once the last entry is written (or the first failure) */
  done: Promise<PackStats>;
}

/**
 * Packs `paths` (relative to `root`, `/`-separated; a trailing `/` means a
 * directory) in order. Missing parent directories get entries of their own
 * first, so that the engine does not create them owned by root.
 */
export function packTree(root: string, paths: Iterable<string>, owner: ContainerUser): PackedTree {
  const pack = tar.pack();
  // Failures reach the caller through `done`; once the reader has let go of the pack (it failed,
  // or the copy was refused), nobody listens for the pack's own 'error' any more.
  pack.on('error', () => undefined);
  const stats: PackStats = { files: 0, directories: 0, symlinks: 0, bytes: 0, skipped: [] };
  const packedDirectories = new Set<string>();

  const header = (name: string, info: { mode: number; mtime: Date }): EntryHeader => ({
    name,
    mode: info.mode & 0o7777,
    mtime: info.mtime,
    uid: owner.uid,
    gid: owner.gid,
  });

  const addDirectory = async (relative: string): Promise<void> => {
    if (packedDirectories.has(relative)) return;
    const info = await lstat(path.join(root, relative));
    packedDirectories.add(relative);
    stats.directories += 1;
    await entry(pack, { ...header(relative, info), type: 'directory' });
  };

  const produce = async (): Promise<PackStats> => {
    for (const listed of paths) {
      const relative = listed.replace(/\/+$/, '');
      if (relative === '') continue;
      const parts = relative.split('/');
      for (let depth = 1; depth < parts.length; depth += 1) await addDirectory(parts.slice(0, depth).join('/'));

      const absolute = path.join(root, relative);
      const info = await lstat(absolute).catch((error: unknown) => {
        // Tracked but deleted in the work tree: git would not check it out either.
        if (error instanceof Error && 'code' in error && error.code === 'ENOENT') return undefined;
        throw error;
      });
      if (!info) continue;
      if (info.isDirectory()) {
        await addDirectory(relative);
      } else if (info.isSymbolicLink()) {
        stats.symlinks += 1;
        await entry(pack, { ...header(relative, info), type: 'symlink', linkname: await readlink(absolute) });
      } else if (info.isFile()) {
        stats.files += 1;
        stats.bytes += info.size;
        await fileEntry(pack, { ...header(relative, info), type: 'file', size: info.size }, absolute);
      } else {
        stats.skipped.push(relative);
      }
    }
    pack.finalize();
    return stats;
  };

  const done = produce().catch((error: unknown) => {
    const failure = asLocalReadError(error);
    pack.destroy(failure instanceof Error ? failure : new Error(String(failure)));
    throw failure;
  });
  // The caller learns of failures from `done`; the stream just ends with the error.
  done.catch(() => undefined);
  return { stream: Readable.from(pack, { objectMode: false }), done };
}

/**
 * A failure of the local file system as a LocalReadError; anything else as it is. File system
 * errors name their system call (lstat, open…); the rest come from the pack being torn down by
 * its reader (whose ERR_STREAM_PREMATURE_CLOSE has a code too, but no system call).
 */
export function asLocalReadError(error: unknown): unknown {
  if (error instanceof LocalReadError) return error;
  return error instanceof Error && 'syscall' in error && typeof error.syscall === 'string' ? new LocalReadError(error.message) : error;
}

/** An entry without contents; resolves once the pack has taken it. */
function entry(pack: tar.Pack, headers: EntryHeader): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry(headers, (error) => (error ? reject(error) : resolve()));
  });
}

/** A file entry whose bytes are streamed from disk with the pack's backpressure. */
function fileEntry(pack: tar.Pack, headers: EntryHeader & { size: number }, absolute: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const sink = pack.entry(headers, (error) => {
      if (!error) return resolve();
      reject(error.message === 'Size mismatch' ? new LocalReadError(`${absolute} changed size while it was being copied; run the job again`) : error);
    });
    // the entry's callback carries its failure; the entry stream's own 'error' has no one else to hear it
    sink.on('error', () => undefined);
    if (headers.size === 0) {
      sink.end(Buffer.alloc(0));
      return;
    }
    // Stop at the size in the header: a file that grows meanwhile must not corrupt the tar.
    const source = createReadStream(absolute, { start: 0, end: headers.size - 1 });
    source.on('error', (error) => {
      sink.destroy(error);
      reject(error);
    });
    source.pipe(sink);
  });
}
