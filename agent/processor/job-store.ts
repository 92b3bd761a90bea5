/**
 * The processor's filesystem store (layout in job-files.ts): hands the one JobLog of a job to the
 * gRPC calls feeding it, reads jobs back for the HTTP API, and notices what no call feeds: a
 * running job nobody streams to for the abandon timeout is marked incomplete, so a job whose
 * agent died does not stay `running` forever.
 */
import { chmod, mkdir, open, readdir, readFile, stat, type FileHandle } from 'node:fs/promises';
import type { Open } from '../output/wire/protocol.js';
import { DIR_MODE } from './durable-file.js';
import { eventsPath, jobDir, jobsDir, journalPath, streamPath, type JobMeta, type StoredEvent, type StreamName } from './job-files.js';
import { JobLog, type JobWriter } from './job-log.js';
import { JobMetas } from './job-metas.js';
import { RECORD_BYTES } from './journal.js';
import { LiveHub } from './live-hub.js';
import { WriteProbe, type ProbeResult } from './write-probe.js';

export class JobStore {
  readonly hub = new LiveHub();
  readonly metas = new JobMetas();
  private readonly logs = new Map<string, Promise<JobLog>>();
  /** running jobs no call feeds, and since when (epoch ms) */
  private readonly idleSince = new Map<string, number>();
  /** jobs whose last store failed, with what failed, until a store succeeds */
  private readonly troubled = new Map<string, string>();
  private readonly probe: WriteProbe;

  constructor(readonly dataDir: string) {
    this.probe = new WriteProbe(jobsDir(dataDir));
  }

  /** Whether a job's output can be written now (a write probe, answered from a one-second cache). */
  writable(): Promise<ProbeResult> {
    return this.probe.check();
  }

  /** Makes the jobs folder (owner only, tightened if it exists), and notes the running jobs left from before a restart. */
  async init(): Promise<void> {
    await mkdir(jobsDir(this.dataDir), { recursive: true, mode: DIR_MODE });
    await chmod(jobsDir(this.dataDir), DIR_MODE);
    for (const id of await readdir(jobsDir(this.dataDir))) {
      const meta = await this.meta(id);
      if (meta?.status !== 'running') continue;
      // idle since its last write: the journal grows with every stored entry
      const since = await stat(journalPath(jobDir(this.dataDir, id))).then(
        (s) => s.mtimeMs,
        () => meta.receivedUnixMs,
      );
      this.idleSince.set(id, since);
    }
  }

  /**
   * The job's log, for `writer`, which becomes the only call allowed to write to it: a call
   * already feeding the job is superseded (its agent has reconnected, or it is a stale copy).
   * Throws ALREADY_EXISTS (before superseding anyone) when the job finished and `open_` is
   * another delivery's.
   */
  async attach(open_: Open, writer: JobWriter): Promise<JobLog> {
    const log = await this.acquire(open_.jobId, open_);
    try {
      await log.exclusive(() => log.admit(open_.deliveryId ?? ''));
    } catch (e) {
      await this.release(log);
      throw e;
    }
    const previous = log.writer;
    log.writer = writer;
    if (previous && previous !== writer) previous.supersede();
    return log;
  }

  /** `writer` is done with `log`; the last one out closes its files. */
  async detach(log: JobLog, writer: JobWriter): Promise<void> {
    if (log.writer === writer) log.writer = undefined;
    await this.release(log);
  }

  /** Notes that storing job `jobId` failed with `what`; true when it is news (the job was not failing already). */
  storeFailed(jobId: string, what: string): boolean {
    const news = !this.troubled.has(jobId);
    this.troubled.set(jobId, what);
    return news;
  }

  /** Notes that a store of job `jobId` succeeded; true when it had been failing. */
  stored(jobId: string): boolean {
    return this.troubled.size > 0 && this.troubled.delete(jobId);
  }

  /**
   * Marks incomplete every running job no call has fed for `timeoutMs`; returns their ids and
   * verdicts. A job a call attaches to meanwhile is left alone.
   */
  async abandonIdle(timeoutMs: number, now = Date.now()): Promise<{ jobId: string; message: string }[]> {
    const abandoned: { jobId: string; message: string }[] = [];
    for (const [jobId, since] of [...this.idleSince]) {
      if (now - since < timeoutMs) continue;
      this.idleSince.delete(jobId);
      let log: JobLog;
      try {
        log = await this.acquire(jobId, undefined);
      } catch {
        this.idleSince.set(jobId, since); // the disk refused even to open it: try again at the next sweep
        continue;
      }
      try {
        const trouble = this.troubled.get(jobId);
        const message = `no stream for ${Math.round((now - since) / 1000)} s: its agent stopped delivering before the job's end (it died, lost its network, or gave up)${trouble ? `; the last store failure was ${trouble}` : ''}`;
        const verdict = await log.exclusive(async () => (log.writer === undefined && log.status === 'running' ? log.abandon(message, 'timeout') : undefined));
        if (verdict) {
          this.troubled.delete(jobId);
          abandoned.push({ jobId, message });
        }
      } finally {
        await this.release(log);
      }
    }
    return abandoned;
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
      return await this.metas.read(jobDir(this.dataDir, jobId));
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

  /** The job's log, opened (or created from `open_`) if no one has it open, counted as attached. */
  private async acquire(jobId: string, open_: Open | undefined): Promise<JobLog> {
    for (;;) {
      let pending = this.logs.get(jobId);
      if (!pending) {
        pending = JobLog.open(jobDir(this.dataDir, jobId), jobId, open_, this.hub, this.metas);
        this.logs.set(jobId, pending);
        const failed = pending;
        pending.catch(() => {
          if (this.logs.get(jobId) === failed) this.logs.delete(jobId);
        });
      }
      const log = await pending;
      if (log.closed) continue; // it was being closed by its last call's detach: open it afresh
      if (log.broken) {
        // a failed write left it out of step with the disk: its users close it; open the job afresh
        if (this.logs.get(jobId) === pending) this.logs.delete(jobId);
        if (log.attached === 0 && !log.closed) await log.exclusive(() => log.close());
        continue;
      }
      log.attached++;
      this.idleSince.delete(jobId);
      return log;
    }
  }

  /** One user fewer; the last one out closes the files, and a job left running starts counting as idle. */
  private async release(log: JobLog): Promise<void> {
    if (--log.attached > 0) return;
    if (log.status === 'running') this.idleSince.set(log.id, Date.now());
    await log.exclusive(async () => {
      if (log.attached > 0 || log.closed) return; // someone attached while earlier work finished
      const pending = this.logs.get(log.id);
      if (pending && (await pending.catch(() => undefined)) === log && this.logs.get(log.id) === pending) this.logs.delete(log.id);
      await log.close();
    });
  }
}
