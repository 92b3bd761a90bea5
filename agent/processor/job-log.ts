/**
 * The write side of one stored job: takes a job's entries in order, appends output at its byte
 * offset and events at their seq, makes them durable in groups (one fsync per file per commit,
 * not per chunk), says what is stored (Resume/Ack), and checks JobFinished's totals.
 *
 * Idempotence is by position: bytes below a stream's stored end and events below the next seq
 * are resends and are skipped; anything past the end (a gap) is refused, since storing it would
 * leave a hole no later resend could fill in order.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, type FileHandle } from 'node:fs/promises';
import { status } from '@grpc/grpc-js';
import { MAX_CHUNK_BYTES, type Complete, type Entry, type JobFinished, type Open, type Resume, type StreamKind } from '../output/wire/protocol.js';
import { decodeRecords, encodeRecords, RECORD_BYTES, type JournalRecord } from './journal.js';
import {
  eventsPath,
  journalPath,
  metaPath,
  parseStreamFileName,
  STREAM_NAMES,
  STREAM_NUMBERS,
  streamPath,
  streamsDir,
  WIRE_NAMES,
  type JobMeta,
  type StoredEvent,
  type StreamName,
} from './job-files.js';
import type { LiveHub } from './live-hub.js';
import { ProtocolError } from './protocol-error.js';
import { StreamFile } from './stream-file.js';

/** Highest step index taken: bounds the files one job can make. -1 is the spin-up section. */
export const MAX_STEP = 9999;

const EMPTY_SHA256 = createHash('sha256').digest();

/** Accepted bytes held for one append at most this long: a flood of tiny chunks becomes few writes. */
const PENDING_OUTPUT_BYTES = 1024 * 1024;

/** The call currently feeding a job; a newer call for the same job supersedes it. */
export interface JobWriter {
  supersede(): void;
}

interface StoredStream {
  step: number;
  kind: number;
  name: StreamName;
  file: StreamFile;
}

export class JobLog {
  private readonly streams = new Map<string, StoredStream>();
  private pendingEvents: StoredEvent[] = [];
  private pendingRecords: JournalRecord[] = [];
  /** accepted output not appended yet: consecutive bytes of one stream, written in one go */
  private pendingOutput: { stream: StoredStream; parts: Buffer[]; bytes: number } | undefined;
  private readonly dirty = new Set<StreamFile>();
  private newFiles = false;
  private queue: Promise<unknown> = Promise.resolve();
  /** the call allowed to write; others are told they were superseded */
  writer: JobWriter | undefined;
  /** calls attached (store.ts closes the files when none are) */
  attached = 0;

  private constructor(
    readonly id: string,
    readonly dir: string,
    private meta: JobMeta,
    private readonly events: FileHandle,
    private readonly journal: FileHandle,
    private nextSeq: number,
    private readonly hub: LiveHub,
  ) {}

  /** Opens job `open.jobId` in `dir`, creating it, or loading and repairing what a crash left. */
  static async open(dir: string, open_: Open, hub: LiveHub): Promise<JobLog> {
    await mkdir(streamsDir(dir), { recursive: true });
    let meta: JobMeta;
    try {
      meta = JSON.parse(await readFile(metaPath(dir), 'utf8')) as JobMeta;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      meta = {
        id: open_.jobId,
        name: open_.jobName,
        environment: { ...open_.environment },
        stepCount: open_.stepCount,
        startedUnixMs: open_.startedUnixMs,
        receivedUnixMs: Date.now(),
        status: 'running',
      };
      await writeMeta(dir, meta);
    }
    const events = await open(eventsPath(dir), 'a+', 0o644);
    const journal = await open(journalPath(dir), 'a+', 0o644).catch(async (e: unknown) => {
      await events.close();
      throw e;
    });
    const log = new JobLog(open_.jobId, dir, meta, events, journal, 0, hub);
    try {
      await log.load();
    } catch (e) {
      await log.close();
      throw e;
    }
    return log;
  }

  get status(): JobMeta['status'] {
    return this.meta.status;
  }

  /** Runs `op` after every earlier one on this job has finished: writes to a job never interleave. */
  exclusive<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** What is stored: every stream's end and the next event seq (durable once commit() returned). */
  stored(): Resume {
    return {
      streams: [...this.streams.values()].map((s) => ({ step: s.step, stream: wireName(s.kind), offset: this.end(s) })),
      nextEventSeq: this.nextSeq,
    };
  }

  /**
   * Stores `entries` (not yet durable: call commit()). Returns the Complete answer when they held
   * a JobFinished. Throws ProtocolError on a bad entry; the entries before it stay written.
   */
  async write(entries: Entry[]): Promise<Complete | undefined> {
    let complete: Complete | undefined;
    for (const e of entries) {
      if (e.chunk) await this.writeChunk(e.chunk.step, e.chunk.stream, e.chunk.offset, e.chunk.data);
      else if (e.stepStarted) {
        const s = e.stepStarted;
        if (this.takeSeq(s.seq, 'StepStarted')) {
          checkStep(s.step, 'StepStarted');
          this.addEvent({ seq: s.seq, type: 'step-started', step: s.step, name: s.name, stepType: s.type, timeUnixMs: s.timeUnixMs, background: s.background });
        }
      } else if (e.stepFinished) {
        const s = e.stepFinished;
        if (this.takeSeq(s.seq, 'StepFinished')) {
          checkStep(s.step, 'StepFinished');
          const exit = s.exitCode !== undefined ? { exitCode: s.exitCode } : {};
          this.addEvent({ seq: s.seq, type: 'step-finished', step: s.step, status: s.status, ...exit, durationMs: s.durationMs, message: s.message });
        }
      } else if (e.jobFinished) {
        complete = await this.finish(e.jobFinished);
      } else {
        throw new ProtocolError(status.INVALID_ARGUMENT, 'an Entry with none of chunk, step_started, step_finished, job_finished set');
      }
    }
    return complete;
  }

  private eventsWritten = false;
  private journalWritten = false;

  /**
   * Writes buffered events and journal records and tells live watchers: what is written is
   * readable at once (the page cache serves it), durable only after commit().
   */
  async publish(): Promise<void> {
    // bytes first: a journal record must never name bytes a reader cannot find yet
    await this.appendPending();
    if (this.pendingEvents.length > 0) {
      const lines = this.pendingEvents.map((ev) => `${JSON.stringify(ev)}\n`).join('');
      this.pendingEvents = [];
      await writeAll(this.events, Buffer.from(lines, 'utf8'));
      this.eventsWritten = true;
    }
    if (this.pendingRecords.length > 0) {
      const buf = encodeRecords(this.pendingRecords);
      this.pendingRecords = [];
      await writeAll(this.journal, buf);
      this.journalWritten = true;
      this.hub.notify(this.id);
    }
  }

  /** publish(), then fsync everything written since the last commit: after this, stored() may be acknowledged. */
  async commit(): Promise<void> {
    await this.publish();
    const syncs: Promise<void>[] = [];
    if (this.eventsWritten) syncs.push(this.events.sync());
    if (this.journalWritten) syncs.push(this.journal.sync());
    this.eventsWritten = this.journalWritten = false;
    for (const f of this.dirty) syncs.push(f.sync());
    this.dirty.clear();
    if (this.newFiles) {
      this.newFiles = false;
      syncs.push(syncDir(streamsDir(this.dir)));
    }
    await Promise.all(syncs);
  }

  /** set once close() started: store.ts must open the job afresh */
  closed = false;

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([this.events.close(), this.journal.close(), ...[...this.streams.values()].map((s) => s.file.close())]);
    this.streams.clear();
  }

  private async writeChunk(step: number, stream: StreamKind, offset: number, data: Buffer): Promise<void> {
    checkStep(step, 'Chunk');
    const kind = kindNumber(stream);
    if (data.length > MAX_CHUNK_BYTES) {
      throw new ProtocolError(status.INVALID_ARGUMENT, `a chunk of step ${step} ${STREAM_NAMES[kind]} carries ${data.length} bytes; the limit is ${MAX_CHUNK_BYTES}`);
    }
    if (!Number.isSafeInteger(offset) || offset < 0) throw new ProtocolError(status.INVALID_ARGUMENT, `a chunk of step ${step} ${STREAM_NAMES[kind]} has offset ${offset}`);
    const s = await this.stream(step, kind);
    const stored = this.end(s);
    const end = offset + data.length;
    if (end <= stored) return; // a resend of stored bytes
    if (offset > stored) {
      throw new ProtocolError(
        status.FAILED_PRECONDITION,
        `gap in step ${step} ${s.name}: a chunk at offset ${offset} but only ${stored} bytes are stored; resend from offset ${stored}`,
      );
    }
    if (this.meta.status !== 'running') throw new ProtocolError(status.FAILED_PRECONDITION, `job ${this.id} has finished; step ${step} ${s.name} takes no more output`);
    const tail = offset === stored ? data : data.subarray(stored - offset);
    if (this.pendingOutput && (this.pendingOutput.stream !== s || this.pendingOutput.bytes + tail.length > PENDING_OUTPUT_BYTES)) await this.appendPending();
    this.pendingOutput ??= { stream: s, parts: [], bytes: 0 };
    this.pendingOutput.parts.push(tail);
    this.pendingOutput.bytes += tail.length;
    const last = this.pendingRecords[this.pendingRecords.length - 1];
    // consecutive bytes of one stream make one journal record: a million tiny chunks stay small
    if (last && last.type === 'output' && last.step === step && last.kind === kind && last.offset + last.length === stored && last.length + tail.length <= MAX_CHUNK_BYTES) {
      last.length += tail.length;
    } else {
      this.pendingRecords.push({ type: 'output', step, kind, offset: stored, length: tail.length });
    }
  }

  /** Where stream `s` ends: what is in its file and what is accepted for it but not appended yet. */
  private end(s: StoredStream): number {
    return s.file.size + (this.pendingOutput?.stream === s ? this.pendingOutput.bytes : 0);
  }

  private async appendPending(): Promise<void> {
    const p = this.pendingOutput;
    if (!p) return;
    this.pendingOutput = undefined;
    await p.stream.file.append(p.parts.length === 1 ? p.parts[0] : Buffer.concat(p.parts, p.bytes));
    this.dirty.add(p.stream.file);
  }

  /** Whether event `seq` is the next one (true), a resend (false); a gap throws. */
  private takeSeq(seq: number, what: string): boolean {
    if (!Number.isSafeInteger(seq) || seq < 0) throw new ProtocolError(status.INVALID_ARGUMENT, `${what} has seq ${seq}`);
    if (seq < this.nextSeq) return false;
    if (seq > this.nextSeq) {
      throw new ProtocolError(status.FAILED_PRECONDITION, `gap in events: ${what} has seq ${seq} but the next stored seq is ${this.nextSeq}; resend from seq ${this.nextSeq}`);
    }
    if (this.meta.status !== 'running') throw new ProtocolError(status.FAILED_PRECONDITION, `job ${this.id} has finished; it takes no more events (${what} seq ${seq})`);
    return true;
  }

  private addEvent(ev: StoredEvent): void {
    this.pendingEvents.push(ev);
    this.pendingRecords.push({ type: 'event', seq: ev.seq });
    this.nextSeq++;
  }

  /** Stores JobFinished, checks every stream against its totals, and marks the job. */
  private async finish(jf: JobFinished): Promise<Complete> {
    const fresh = this.takeSeq(jf.seq, 'JobFinished');
    if (!fresh && this.meta.status !== 'running') {
      // a resend after the answer was lost: the stored verdict stands
      return { verified: this.meta.status === 'complete', message: this.meta.finished?.message ?? '' };
    }
    await this.appendPending(); // sizes and digests below are of the files
    const problems: string[] = [];
    const listed = new Set<string>();
    const totals: { step: number; stream: StreamName; bytes: number; sha256: string }[] = [];
    for (const t of jf.streams) {
      const kind = kindNumber(t.stream);
      const name = STREAM_NAMES[kind];
      listed.add(key(t.step, kind));
      totals.push({ step: t.step, stream: name, bytes: t.bytes, sha256: Buffer.from(t.sha256).toString('hex') });
      const s = this.streams.get(key(t.step, kind));
      const size = s?.file.size ?? 0;
      if (size !== t.bytes) problems.push(`step ${t.step} ${name}: ${size} bytes stored, the agent sent ${t.bytes}`);
      else if (!(s?.file.digest() ?? EMPTY_SHA256).equals(Buffer.from(t.sha256))) problems.push(`step ${t.step} ${name}: SHA-256 of the stored bytes differs from the agent's`);
    }
    for (const [k, s] of this.streams) {
      if (!listed.has(k) && s.file.size > 0) problems.push(`step ${s.step} ${s.name}: ${s.file.size} bytes stored that JobFinished does not list`);
    }
    if (fresh) this.addEvent({ seq: jf.seq, type: 'job-finished', status: jf.status, durationMs: jf.durationMs, streams: totals });
    await this.commit();
    const message = problems.length <= 10 ? problems.join('; ') : `${problems.slice(0, 10).join('; ')}; and ${problems.length - 10} more`;
    this.meta = {
      ...this.meta,
      status: problems.length === 0 ? 'complete' : 'incomplete',
      finished: { status: jf.status, durationMs: jf.durationMs, unixMs: Date.now(), message },
    };
    await writeMeta(this.dir, this.meta);
    this.hub.notify(this.id);
    return { verified: problems.length === 0, message };
  }

  private async stream(step: number, kind: number): Promise<StoredStream> {
    const k = key(step, kind);
    let s = this.streams.get(k);
    if (!s) {
      const name = STREAM_NAMES[kind];
      s = { step, kind, name, file: await StreamFile.open(streamPath(this.dir, step, name)) };
      this.streams.set(k, s);
      this.newFiles = true;
    }
    return s;
  }

  /**
   * Loads stored state after a restart and repairs what a crash can leave: a half-written
   * event line or journal record is cut off; stored bytes or events the journal does not
   * cover (written, then the crash) get journal records, so a live tail shows them too.
   */
  private async load(): Promise<void> {
    for (const name of await readdir(streamsDir(this.dir))) {
      const p = parseStreamFileName(name);
      if (!p) continue;
      const kind = STREAM_NUMBERS[p.stream];
      this.streams.set(key(p.step, kind), { step: p.step, kind, name: p.stream, file: await StreamFile.open(streamPath(this.dir, p.step, p.stream)) });
    }

    const text = (await this.events.readFile()).toString('utf8');
    const complete = text.lastIndexOf('\n') + 1;
    if (complete < Buffer.byteLength(text)) await this.events.truncate(Buffer.byteLength(text.slice(0, complete)));
    this.nextSeq = text.slice(0, complete).split('\n').filter((l) => l.length > 0).length;

    const raw = await this.journal.readFile();
    const records = decodeRecords(raw);
    const covered = new Map<string, number>();
    let eventsCovered = 0;
    let keep = records.length;
    for (let i = 0; i < records.length; i++) {
      const r = records[i];
      if (r.type === 'event') {
        if (r.seq >= this.nextSeq) {
          keep = i;
          break;
        }
        eventsCovered = r.seq + 1;
      } else {
        const size = this.streams.get(key(r.step, r.kind))?.file.size ?? 0;
        if (r.offset + r.length > size) {
          keep = i;
          break;
        }
        covered.set(key(r.step, r.kind), r.offset + r.length);
      }
    }
    if (keep * RECORD_BYTES !== raw.length) await this.journal.truncate(keep * RECORD_BYTES);
    for (const [k, s] of this.streams) {
      const from = covered.get(k) ?? 0;
      for (let at = from; at < s.file.size; at += MAX_CHUNK_BYTES) {
        this.pendingRecords.push({ type: 'output', step: s.step, kind: s.kind, offset: at, length: Math.min(MAX_CHUNK_BYTES, s.file.size - at) });
      }
    }
    for (let seq = eventsCovered; seq < this.nextSeq; seq++) this.pendingRecords.push({ type: 'event', seq });
    await this.commit();
  }
}

function key(step: number, kind: number): string {
  return `${step}:${kind}`;
}

function wireName(kind: number): 'STDOUT' | 'STDERR' | 'AGENT' {
  return kind === 1 ? 'STDOUT' : kind === 2 ? 'STDERR' : 'AGENT';
}

function kindNumber(stream: StreamKind): number {
  const n = typeof stream === 'string' ? WIRE_NAMES[stream] : stream;
  if (n === undefined || STREAM_NAMES[n] === undefined) throw new ProtocolError(status.INVALID_ARGUMENT, `unknown stream kind ${String(stream)}: use STDOUT, STDERR or AGENT`);
  return n;
}

function checkStep(step: number, what: string): void {
  if (!Number.isInteger(step) || step < -1 || step > MAX_STEP) {
    throw new ProtocolError(status.INVALID_ARGUMENT, `${what} names step ${step}; steps are -1 (spin-up) to ${MAX_STEP}`);
  }
}

async function writeAll(handle: FileHandle, buf: Buffer): Promise<void> {
  let done = 0;
  while (done < buf.length) done += (await handle.write(buf, done, buf.length - done)).bytesWritten;
}

async function syncDir(path: string): Promise<void> {
  const h = await open(path, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/** Replaces meta.json atomically (write, fsync, rename, fsync the folder). */
async function writeMeta(dir: string, meta: JobMeta): Promise<void> {
  const tmp = `${metaPath(dir)}.tmp`;
  const h = await open(tmp, 'w', 0o644);
  try {
    await writeAll(h, Buffer.from(`${JSON.stringify(meta, null, 2)}\n`, 'utf8'));
    await h.sync();
  } finally {
    await h.close();
  }
  await rename(tmp, metaPath(dir));
  await syncDir(dir);
}
