/**
 * The filesystem BlobStore (the default, under `$DECKHAND_HOME/store` or `--store DIR`).
 *
 * Each blob is a folder `<encoded key>.blob/` holding `data` and `meta.json`, built under
 * `.tmp/` and renamed into place: a rename onto an existing folder fails, which makes
 * `ifAbsent` atomic (the first writer wins, as caches need) and means a reader never sees a
 * half-written blob or data without its metadata. Key segments are percent-encoded with `.`
 * encoded too, so no segment can be `..` or end in `.blob`, and a key may also be a prefix of
 * another key (`a` and `a/b` both exist as `a.blob/` and `a/b.blob/`).
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { checkByteRange, type BlobInfo, type BlobStore, type ByteRange, type PutOptions } from './blob-store.js';

const SUFFIX = '.blob';
const TMP = '.tmp';

interface MetaFile {
  modified: string;
  metadata: Record<string, string>;
}

export class FsBlobStore implements BlobStore {
  readonly location: string;

  constructor(private readonly root: string) {
    this.location = root;
  }

  async put(key: string, body: Readable, opts: PutOptions = {}): Promise<boolean> {
    const final = this.blobDir(key);
    const tmpRoot = join(this.root, TMP);
    // readable by the store's owner only: caches, workspaces and artifacts may hold anything a job made
    await mkdir(tmpRoot, { recursive: true, mode: 0o700 });
    const tmp = join(tmpRoot, randomUUID());
    try {
      await mkdir(tmp, { mode: 0o700 });
      await pipeline(body, createWriteStream(join(tmp, 'data'), { mode: 0o600 }));
      const trailing = opts.trailingMetadata ? await opts.trailingMetadata() : {};
      const meta: MetaFile = { modified: new Date().toISOString(), metadata: { ...opts.metadata, ...trailing } };
      await writeFile(join(tmp, 'meta.json'), JSON.stringify(meta), { mode: 0o600 });
      await mkdir(join(final, '..'), { recursive: true, mode: 0o700 });
      try {
        await rename(tmp, final);
        return true;
      } catch (err) {
        if (!isExists(err)) throw err;
        if (opts.ifAbsent) return false;
        // replace: move the old blob aside, then rename the new one in
        const old = join(tmpRoot, randomUUID());
        await rename(final, old);
        await rename(tmp, final);
        await rm(old, { recursive: true, force: true });
        return true;
      }
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  async get(key: string, range?: ByteRange): Promise<Readable | undefined> {
    if (range) checkByteRange(range);
    const file = join(this.blobDir(key), 'data');
    try {
      await stat(file);
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
    // a ranged read starts at `start` (pread), never reading what comes before
    return createReadStream(file, { highWaterMark: 1 << 20, ...(range ? { start: range.start, end: range.end } : {}) });
  }

  async stat(key: string): Promise<BlobInfo | undefined> {
    return this.info(key, this.blobDir(key));
  }

  async list(prefix: string): Promise<BlobInfo[]> {
    const found: BlobInfo[] = [];
    const walk = async (dir: string, keySoFar: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if (isMissing(err)) return;
        throw err;
      }
      for (const e of entries) {
        if (!e.isDirectory() || (keySoFar === '' && e.name === TMP)) continue;
        if (e.name.endsWith(SUFFIX)) {
          const key = keySoFar + decodeSegment(e.name.slice(0, -SUFFIX.length));
          if (!key.startsWith(prefix)) continue;
          const info = await this.info(key, join(dir, e.name));
          if (info) found.push(info);
        } else {
          const sub = `${keySoFar}${decodeSegment(e.name)}/`;
          if (sub.startsWith(prefix) || prefix.startsWith(sub)) await walk(join(dir, e.name), sub);
        }
      }
    };
    await walk(this.root, '');
    return found;
  }

  async delete(key: string): Promise<void> {
    await rm(this.blobDir(key), { recursive: true, force: true });
  }

  /** The folder that holds `key`'s data and meta.json (keys' segments percent-encoded). */
  blobDir(key: string): string {
    if (key === '') throw new Error('blob key must not be empty');
    const segments = key.split('/').map(encodeSegment);
    segments[segments.length - 1] += SUFFIX;
    return join(this.root, ...segments);
  }

  private async info(key: string, dir: string): Promise<BlobInfo | undefined> {
    try {
      const [st, raw] = await Promise.all([stat(join(dir, 'data')), readFile(join(dir, 'meta.json'), 'utf8')]);
      const meta = parseMeta(raw);
      if (typeof meta === 'string') return { key, size: st.size, modified: st.mtime, metadata: {}, damaged: `${join(dir, 'meta.json')}: ${meta}` };
      return { key, size: st.size, modified: new Date(meta.modified), metadata: meta.metadata };
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }
}

/** The record of a blob, or why it cannot be read (a damaged file must not break every later use of its key). */
function parseMeta(raw: string): MetaFile | string {
  try {
    const meta = JSON.parse(raw) as Partial<MetaFile>;
    if (typeof meta.modified !== 'string' || Number.isNaN(Date.parse(meta.modified)) || typeof meta.metadata !== 'object' || meta.metadata === null) return 'not a blob record';
    return meta as MetaFile;
  } catch (err) {
    return `not JSON (${(err as Error).message})`;
  }
}

function encodeSegment(s: string): string {
  // an empty segment (`a//b`) is `%`, which no encoded non-empty segment can be
  return s === '' ? '%' : encodeURIComponent(s).replace(/\./g, '%2E').replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function decodeSegment(s: string): string {
  return s === '%' ? '' : decodeURIComponent(s);
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

function isExists(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EEXIST' || code === 'ENOTEMPTY';
}
