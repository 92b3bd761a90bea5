/**
 * Every job's meta.json, read and written in one place. A verdict must not be lost because the
 * disk is full at the moment it is reached (a job given up because nothing could be stored is the
 * typical case): a meta the disk refuses is held here, served to readers as if stored, and saved
 * at the next flush (the processor flushes every few seconds). Writes to one job's meta are
 * serialized, so an older one never lands after a newer one.
 */
import { readFile } from 'node:fs/promises';
import { metaPath, type JobMeta } from './job-files.js';
import { replaceFile } from './durable-file.js';
import { storageErrno } from './storage-failure.js';

export class JobMetas {
  /** metas the disk refused, by job folder */
  private readonly held = new Map<string, JobMeta>();
  private readonly writing = new Map<string, Promise<unknown>>();

  /** The job's meta (a held one first), undefined when the job has none; a damaged file throws. */
  async read(dir: string): Promise<JobMeta | undefined> {
    const held = this.held.get(dir);
    if (held) return held;
    try {
      return JSON.parse(await readFile(metaPath(dir), 'utf8')) as JobMeta;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  /**
   * Saves the job's meta. When the disk refuses (full, not writable) it is held and saved later,
   * and this returns false; any other error throws.
   */
  save(dir: string, meta: JobMeta): Promise<boolean> {
    return this.serial(dir, async () => {
      try {
        await writeMeta(dir, meta);
        this.held.delete(dir);
        return true;
      } catch (e) {
        if (!storageErrno(e)) throw e;
        this.held.set(dir, meta);
        return false;
      }
    });
  }

  /** Saves the held metas; returns the folders of those saved now. */
  async flush(): Promise<string[]> {
    const saved: string[] = [];
    for (const [dir, meta] of [...this.held]) {
      const done = await this.serial(dir, async () => {
        // a newer save may have replaced or stored it meanwhile
        if (this.held.get(dir) !== meta) return false;
        try {
          await writeMeta(dir, meta);
        } catch {
          return false;
        }
        this.held.delete(dir);
        return true;
      });
      if (done) saved.push(dir);
    }
    return saved;
  }

  get heldCount(): number {
    return this.held.size;
  }

  private serial<T>(dir: string, op: () => Promise<T>): Promise<T> {
    const run = (this.writing.get(dir) ?? Promise.resolve()).then(op);
    const settled = run.catch(() => undefined);
    this.writing.set(dir, settled);
    void settled.then(() => {
      if (this.writing.get(dir) === settled) this.writing.delete(dir);
    });
    return run;
  }
}

function writeMeta(dir: string, meta: JobMeta): Promise<void> {
  return replaceFile(metaPath(dir), Buffer.from(`${JSON.stringify(meta, null, 2)}\n`, 'utf8'));
}
