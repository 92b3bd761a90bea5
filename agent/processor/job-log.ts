/**
 * The write side of one stored job: takes a job's entries in order, appends output at its byte
 * offset and events at their seq, makes them durable in groups (one fsync per file per commit,
 * not per chunk), says what is stored (Resume/Ack), and checks JobFinished's totals.
 *
 * Idempotence is by position: bytes below a stream's stored end and events below the next seq
 * are resends and are skipped — resent bytes are compared with the stored ones, and refused as a
 * conflict when they differ; anything past the end (a gap) is refused, since storing it would
 * leave a hole no later resend could fill in order.
 *
 * A write the disk refuses (full, not writable) leaves every file as it was before the write
 * (appends land whole or not at all, and what is pending stays pending), and the log is not used
 * again: the store opens the job afresh for the next call, from the disk. A job opens on a full
 * disk too (what a repair would write waits), so that it can be resumed or given up.
 */
import { createHash } from 'node:crypto';
import { open, readdir, type FileHandle } from 'node:fs/promises';
import { status } from '@grpc/grpc-js';
import { MAX_CHUNK_BYTES, type Complete, type Entry, type JobFinished, type Open, type Resume, type SshStatus, type StreamKind } from '../output/wire/protocol.js';
import { decodeRecords, encodeRecords, RECORD_BYTES, type JournalRecord } from './journal.js';
import { appendWhole, FILE_MODE, makeFolder, syncDir } from './durable-file.js';
import {
  eventsPath,
  journalPath,
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
import type { JobMetas } from './job-metas.js';
import type { LiveHub } from './live-hub.js';
import { ProtocolError } from './protocol-error.js';
import { storageErrno } from './storage-failure.js';
import { StreamFile } from './stream-file.js';

/** Highest step index taken: bounds the files one job can make. -1 is the spin-up section. */
export const MAX_STEP = 9999;

const EMPTY_SHA256 = createHash('sha256').digest();

/** Accepted bytes held for one append at most this long: a flood of tiny chunks becomes few writes. */
const PENDING_OUTPUT_BYTES = 1024 * 1024;

/** The longest reason for giving up a job that is kept (an agent's text, so bounded). */
const MAX_REASON = 1000;

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

  /** bytes in the events and journal files (appends are cut back to these when they fail) */
  private eventsSize = 0;
  private journalSize = 0;
  /** the write that failed; set, the log takes nothing more (see the header) */
  private failed: Error | undefined;

  private constructor(
    readonly id: string,
    readonly dir: string,
    private meta: JobMeta,
    private readonly events: FileHandle,
    private readonly journal: FileHandle,
    private nextSeq: number,
    private readonly hub: LiveHub,
    private readonly metas: JobMetas,
  ) {}

  /**
   * Opens job `id` in `dir`, loading and repairing what a crash left; creates it from `open_`
   * when it does not exist (without `open_`, a missing job throws).
   */
  static async open(dir: string, id: string, open_: Open | undefined, hub: LiveHub, metas: JobMetas): Promise<JobLog> {
    let meta = await metas.read(dir);
    if (!meta && !open_) throw new Error(`no job ${id} in ${dir}`);
    await makeFolder(dir);
    await makeFolder(streamsDir(dir));
    if (!meta && open_) {
      meta = {
        id,
        name: open_.jobName,
        environment: { ...open_.environment },
        stepCount: open_.stepCount,
        startedUnixMs: open_.startedUnixMs,
        receivedUnixMs: Date.now(),
        status: 'running',
        delivery: open_.deliveryId ?? '',
      };
      // held in memory when the disk is full: the job exists for readers, and is saved later
      await metas.save(dir, meta);
    }
    const events = await open(eventsPath(dir), 'a+', FILE_MODE);
    const journal = await open(journalPath(dir), 'a+', FILE_MODE).catch(async (e: unknown) => {
      await events.close();
      throw e;
    });
    const log = new JobLog(id, dir, meta as JobMeta, events, journal, 0, hub, metas);
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

  /** A write failed: this log must not be used again (the store opens the job afresh). */
  get broken(): boolean {
    return this.failed !== undefined;
  }

  /**
   * Lets delivery `deliveryId` stream to the job. A running job takes any (a reconnect, or a newer
   * copy taking over). A finished one only the delivery that created it — which gets the stored
   * verdict again, or reopens the job when it had been abandoned; anyone else is told the job id
   * is taken, at once.
   */
  async admit(deliveryId: string): Promise<void> {
    if (this.meta.status === 'running') return;
    const finished = this.meta.finished;
    if ((this.meta.delivery ?? '') !== deliveryId) {
      const when = finished ? ` at ${new Date(finished.unixMs).toISOString()}` : '';
      throw new ProtocolError(
        status.ALREADY_EXISTS,
        `job ${this.id} already finished${when} (${this.meta.status}) and is another run's: a job id names one run of a job; stream this run under a new job id`,
      );
    }
    if (finished?.abandoned === 'timeout') {
      // the agent that was given up for lost came back: its output is welcome again
      const { finished: _finished, ...rest } = this.meta;
      this.meta = { ...rest, status: 'running' };
      await this.metas.save(this.dir, this.meta);
      this.hub.notify(this.id);
    }
  }

  /**
   * Marks the running job incomplete without JobFinished: its agent gave up (`agent`), or no call
   * came for the abandon timeout (`timeout`). What was accepted is made durable first when the
   * disk allows. Returns the job's verdict (the stored one when it had already finished).
   */
  async abandon(reason: string, by: 'agent' | 'timeout', jobStatus = ''): Promise<Complete> {
    if (this.meta.status !== 'running') return { verified: this.meta.status === 'complete', message: this.meta.finished?.message ?? '' };
    if (!this.failed) await this.commit().catch(() => undefined);
    const text = reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON)}…` : reason;
    const message = by === 'agent' ? `the agent gave up delivering: ${text}` : text;
    this.meta = {
      ...this.meta,
      status: 'incomplete',
      finished: { status: /^[a-z]{1,20}$/.test(jobStatus) ? jobStatus : 'unknown', unixMs: Date.now(), message, abandoned: by },
    };
    await this.metas.save(this.dir, this.meta);
    this.hub.notify(this.id);
    return { verified: false, message };
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
    if (this.failed) throw this.failed;
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
      } else if (e.sshStatus) {
        const s = e.sshStatus;
        if (this.takeSeq(s.seq, 'SshStatus')) this.addEvent(sshStatusEvent(s));
      } else if (e.jobFinished) {
        complete = await this.finish(e.jobFinished);
      } else {
        throw new ProtocolError(status.INVALID_ARGUMENT, 'an Entry with none of chunk, step_started, step_finished, ssh_status, job_finished set');
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
  publish(): Promise<void> {
    return this.guarded(async () => {
      // bytes first: a journal record must never name bytes a reader cannot find yet
      await this.appendPending();
      // what is pending stays so until it is written (appends land whole or not at all)
      if (this.pendingEvents.length > 0) {
        const buf = Buffer.from(this.pendingEvents.map((ev) => `${JSON.stringify(ev)}\n`).join(''), 'utf8');
        await appendWhole(this.events, eventsPath(this.dir), buf, this.eventsSize);
        this.pendingEvents = [];
        this.eventsSize += buf.length;
        this.eventsWritten = true;
      }
      if (this.pendingRecords.length > 0) {
        const buf = encodeRecords(this.pendingRecords);
        await appendWhole(this.journal, journalPath(this.dir), buf, this.journalSize);
        this.pendingRecords = [];
        this.journalSize += buf.length;
        this.journalWritten = true;
        this.hub.notify(this.id);
      }
    });
  }

  /** publish(), then fsync everything written since the last commit: after this, stored() may be acknowledged. */
  async commit(): Promise<void> {
    await this.publish();
    await this.guarded(async () => {
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
    });
  }

  /** Runs a write to the disk; its failure makes the log unusable (the first failure is kept and rethrown). */
  private async guarded(op: () => Promise<void>): Promise<void> {
    if (this.failed) throw this.failed;
    try {
      await op();
    } catch (e) {
      this.failed = e instanceof Error ? e : new Error(String(e));
      throw e;
    }
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
    if (offset < stored) await this.checkResend(s, offset, data.subarray(0, Math.min(end, stored) - offset));
    if (end <= stored) return; // a resend of stored bytes
    if (offset > stored) {
      throw new ProtocolError(
        status.FAILED_PRECONDITION,
        `gap in step ${step} ${s.name}: a chunk at offset ${offset} but only ${stored} bytes are stored; resend from offset ${stored}`,
      );
    }
    if (this.meta.status !== 'running') throw new ProtocolError(status.FAILED_PRECONDITION, `job ${this.id} has finished; step ${step} ${s.name} takes no more output`);
    const tail = offset === stored ? data : data.subarray(stored - offset);
    if (this.pendingOutput && (this.pendingOutput.stream !== s || this.pendingOutput.bytes + tail.length > PENDING_OUTPUT_BYTES)) await this.guarded(() => this.appendPending());
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

  /**
   * A resend of stored bytes must be those bytes: anything else means two runs share the job id,
   * or the agent's copy is damaged, and either way the stored output is never replaced.
   */
  private async checkResend(s: StoredStream, offset: number, resent: Buffer): Promise<void> {
    if (this.pendingOutput?.stream === s) await this.guarded(() => this.appendPending());
    const stored = await s.file.read(offset, resent.length);
    if (stored.equals(resent)) return;
    let at = 0;
    while (at < stored.length && stored[at] === resent[at]) at++;
    throw new ProtocolError(
      status.ALREADY_EXISTS,
      `conflict in step ${s.step} ${s.name}: the resent chunk at offset ${offset} (${resent.length} bytes already stored) differs from the stored bytes at offset ${offset + at}; stored output is never replaced (is another run streaming as job ${this.id}?)`,
    );
  }

  /** Where stream `s` ends: what is in its file and what is accepted for it but not appended yet. */
  private end(s: StoredStream): number {
    return s.file.size + (this.pendingOutput?.stream === s ? this.pendingOutput.bytes : 0);
  }

  private async appendPending(): Promise<void> {
    const p = this.pendingOutput;
    if (!p) return;
    // kept pending until written: a failed append (cut back whole) loses nothing accepted
    await p.stream.file.append(p.parts.length === 1 ? p.parts[0] : Buffer.concat(p.parts, p.bytes));
    this.pendingOutput = undefined;
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
    await this.guarded(() => this.appendPending()); // sizes and digests below are of the files
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
    await this.metas.save(this.dir, this.meta);
    this.hub.notify(this.id);
    return { verified: problems.length === 0, message };
  }

  private async stream(step: number, kind: number): Promise<StoredStream> {
    const k = key(step, kind);
    let s = this.streams.get(k);
    if (!s) {
      const name = STREAM_NAMES[kind];
      let file: StreamFile | undefined;
      await this.guarded(async () => {
        file = await StreamFile.open(streamPath(this.dir, step, name));
      });
      s = { step, kind, name, file: file as StreamFile };
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

    const eventBytes = await this.events.readFile();
    // whole lines only: cut at the last newline (a byte, so this is exact for any content)
    const whole = eventBytes.lastIndexOf(0x0a) + 1;
    if (whole < eventBytes.length) await this.events.truncate(whole);
    this.eventsSize = whole;
    this.nextSeq = eventBytes.subarray(0, whole).toString('utf8').split('\n').filter((l) => l.length > 0).length;

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
    this.journalSize = keep * RECORD_BYTES;
    for (const [k, s] of this.streams) {
      const from = covered.get(k) ?? 0;
      for (let at = from; at < s.file.size; at += MAX_CHUNK_BYTES) {
        this.pendingRecords.push({ type: 'output', step: s.step, kind: s.kind, offset: at, length: Math.min(MAX_CHUNK_BYTES, s.file.size - at) });
      }
    }
    for (let seq = eventsCovered; seq < this.nextSeq; seq++) this.pendingRecords.push({ type: 'event', seq });
    try {
      await this.commit();
    } catch (e) {
      if (!storageErrno(e)) throw e;
      // a full disk cannot take the repair records now: they wait in memory for the next write
      // (a failed append loses nothing pending), and the bytes they name are made durable, so the
      // job still opens — to resume, or to be given up
      this.failed = undefined;
      await Promise.all([this.events.sync(), ...[...this.streams.values()].map((s) => s.file.sync())]);
    }
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

const SSH_PHASES = new Set(['listening', 'holding', 'ended']);

/** An SshStatus as stored; one that says something impossible is refused. */
function sshStatusEvent(s: SshStatus): StoredEvent {
  if (!SSH_PHASES.has(s.phase)) throw new ProtocolError(status.INVALID_ARGUMENT, `SshStatus has phase ${JSON.stringify(s.phase.slice(0, 40))}; expected listening, holding or ended`);
  if (!Number.isInteger(s.port) || s.port < 1 || s.port > 65535) throw new ProtocolError(status.INVALID_ARGUMENT, `SshStatus has port ${s.port}; expected 1 to 65535`);
  return {
    seq: s.seq,
    type: 'ssh-status',
    phase: s.phase as 'listening' | 'holding' | 'ended',
    command: s.command,
    user: s.user,
    host: s.host,
    port: s.port,
    hostKey: s.hostKey,
    hostKeyFingerprint: s.hostKeyFingerprint,
    sessions: s.sessions,
    timeUnixMs: s.timeUnixMs,
  };
}

function checkStep(step: number, what: string): void {
  if (!Number.isInteger(step) || step < -1 || step > MAX_STEP) {
    throw new ProtocolError(status.INVALID_ARGUMENT, `${what} names step ${step}; steps are -1 (spin-up) to ${MAX_STEP}`);
  }
}
