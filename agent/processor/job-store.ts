/**
 * The processor's filesystem store (layout in job-files.ts): hands the one JobLog of a job to the
 * gRPC calls feeding it, and reads jobs back for the HTTP API.
 */
import { mkdir, open, readdir, readFile, stat, type FileHandle } from 'node:fs/promises';
import type { Open } from '../output/wire/protocol.js';
import { eventsPath, jobDir, jobsDir, journalPath, metaPath, streamPath, type JobMeta, type StoredEvent, type StreamName } from './job-files.js';
import { JobLog, type JobWriter } from './job-log.js';
import { RECORD_BYTES } from './journal.js';
import { LiveHub } from './live-hub.js';

export class JobStore {
  readonly hub = new LiveHub();
  private readonly logs = new Map<string, Promise<JobLog>>();

  constructor(readonly dataDir: string) {}

  async init(): Promise<void> {
    await mkdir(jobsDir(this.dataDir), { recursive: true });
  }

  /**
   * The job's log, for `writer`, which becomes the only call allowed to write to it: a call
   * already feeding the job is superseded (its agent has reconnected, or it is a stale copy).
   */
  async attach(open_: Open, writer: JobWriter): Promise<JobLog> {
    let log: JobLog;
    do {
      let pending = this.logs.get(open_.jobId);
      if (!pending) {
        pending = JobLog.open(jobDir(this.dataDir, open_.jobId), open_, this.hub);
        this.logs.set(open_.jobId, pending);
        const failed = pending;
        pending.catch(() => {
          if (this.logs.get(open_.jobId) === failed) this.logs.delete(open_.jobId);
        });
      }
      log = await pending;
    } while (log.closed); // it was being closed by its last call's detach: open it afresh
    log.attached++;
    const previous = log.writer;
    log.writer = writer;
    if (previous && previous !== writer) previous.supersede();
    return log;
  }

  /** `writer` is done with `log`; the last one out closes its files. */
  async detach(log: JobLog, writer: JobWriter): Promise<void> {
    if (log.writer === writer) log.writer = undefined;
    if (--log.attached > 0) return;
    await log.exclusive(async () => {
      if (log.attached > 0) return; // someone attached while earlier work finished
      this.logs.delete(log.id);
      await log.close();
    });
  }

  /** Closes every open job (after their calls have ended). */
  async close(): Promise<void> {
    const logs = await Promise.allSettled([...this.logs.values()]);
    this.logs.clear();
    await Promise.allSettled(logs.map((r) => (r.status === 'fulfilled' ? r.value.exclusive(() => r.value.close()) : undefined)));
  }

  async listJobs(): Promise<JobMeta[]> {
    let ids: string[];
    try {
      ids = await readdir(jobsDir(this.dataDir));
    } catch {
      return [];
    }
    const metas = await Promise.all(ids.map((id) => this.meta(id)));
    return metas.filter((m): m is JobMeta => m !== undefined).sort((a, b) => b.startedUnixMs - a.startedUnixMs || a.id.localeCompare(b.id));
  }

  /** The job's meta, or undefined when there is no such job. */
  async meta(jobId: string): Promise<JobMeta | undefined> {
    try {
      return JSON.parse(await readFile(metaPath(jobDir(this.dataDir, jobId)), 'utf8')) as JobMeta;
    } catch {
      return undefined;
    }
  }

  /** The job's stored events, in seq order (a half-written last line is not one yet). */
  async events(jobId: string): Promise<StoredEvent[]> {
    let text: string;
    try {
      text = await readFile(eventsPath(jobDir(this.dataDir, jobId)), 'utf8');
    } catch {
      return [];
    }
    return text
      .slice(0, text.lastIndexOf('\n') + 1)
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as StoredEvent);
  }

  /** Bytes stored in a stream (0 when it has none). */
  async streamSize(jobId: string, step: number, stream: StreamName): Promise<number> {
    try {
      return (await stat(streamPath(jobDir(this.dataDir, jobId), step, stream))).size;
    } catch {
      return 0;
    }
  }

  /** The stream's file opened for reading, or undefined when it has no bytes yet. */
  async openStream(jobId: string, step: number, stream: StreamName): Promise<FileHandle | undefined> {
    try {
      return await open(streamPath(jobDir(this.dataDir, jobId), step, stream), 'r');
    } catch {
      return undefined;
    }
  }

  async openJournal(jobId: string): Promise<FileHandle | undefined> {
    try {
      return await open(journalPath(jobDir(this.dataDir, jobId)), 'r');
    } catch {
      return undefined;
    }
  }

  /** Whole records in the journal now. */
  static async journalLength(handle: FileHandle): Promise<number> {
    return Math.floor((await handle.stat()).size / RECORD_BYTES);
  }
}
