/**
 * How the processor writes its files: readable by its own user only (job output and environments
 * are nobody else's business, whatever the umask), appends that either land whole or not at all,
 * and replacements that are atomic and durable.
 */
import { mkdir, open, rename, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Modes of everything the processor creates under its data directory. */
export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

/**
 * Appends `buf` to the file at `path`, opened for append, whose size is `sizeBefore`. When a write
 * fails part-way (a full disk), the file is cut back to `sizeBefore`, so it never holds bytes
 * nobody accounted for; the error is rethrown, naming `path` (a handle's errors name none).
 */
export async function appendWhole(handle: FileHandle, path: string, buf: Uint8Array, sizeBefore: number): Promise<void> {
  let done = 0;
  try {
    while (done < buf.length) done += (await handle.write(buf, done, buf.length - done)).bytesWritten;
  } catch (e) {
    // shrinking needs no space: this works on a full disk
    if (done > 0) await handle.truncate(sizeBefore).catch(() => undefined);
    const err = e as NodeJS.ErrnoException;
    err.path ??= path;
    throw err;
  }
}

/**
 * Makes folder `path` (mode 0700) unless it exists. One level only: a recursive mkdir reports a
 * read-only filesystem as ENOENT, and the errno is what tells the agent why storing failed.
 */
export async function makeFolder(path: string): Promise<void> {
  try {
    await mkdir(path, { mode: DIR_MODE });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
}

export async function syncDir(path: string): Promise<void> {
  const h = await open(path, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/** Replaces `path` with `bytes` atomically: write a temporary file, fsync, rename, fsync the folder. */
export async function replaceFile(path: string, bytes: Buffer): Promise<void> {
  const tmp = `${path}.tmp`;
  const h = await open(tmp, 'w', FILE_MODE);
  try {
    await appendWhole(h, tmp, bytes, 0);
    await h.sync();
  } finally {
    await h.close();
  }
  await rename(tmp, path);
  await syncDir(dirname(path));
}
