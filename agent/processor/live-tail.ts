/**
 * `GET /api/jobs/ID/live`: a job's output and events as Server-Sent Events, from the start (or a
 * position) to now, then live as they are stored, until the job is finished and all is sent.
 *
 * Positions are places in the job's journal (journal.ts): an event's id `R` means "records
 * before R are delivered", `R.B` "and B bytes of record R". A client resumes from the last id it
 * saw (Last-Event-ID, which browsers' EventSource send by themselves on reconnect, or ?from=).
 * Ids stay valid across processor restarts: the journal only grows.
 *
 * The client's socket is written with backpressure: a slow reader is sent no faster than it
 * reads, and nothing is buffered for it beyond one read of the journal.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FileHandle } from 'node:fs/promises';
import { sendError } from '../net/request-handler.js';
import { MAX_CHUNK_BYTES } from '../output/wire/protocol.js';
import { STREAM_NAMES, type StoredEvent, type StreamName } from './job-files.js';
import { JobStore } from './job-store.js';
import { readRecords, type JournalRecord } from './journal.js';

export interface LivePosition {
  record: number;
  byte: number;
}

/** `R` or `R.B` → a position; undefined when malformed. */
export function parsePosition(text: string): LivePosition | undefined {
  const m = /^(\d{1,15})(?:\.(\d{1,15}))?$/.exec(text.trim());
  return m ? { record: Number(m[1]), byte: Number(m[2] ?? 0) } : undefined;
}

function formatPosition(p: LivePosition): string {
  return p.byte === 0 ? String(p.record) : `${p.record}.${p.byte}`;
}

const HEARTBEAT_MS = 15_000;
const RECORDS_PER_READ = 256;

export async function serveLiveTail(store: JobStore, jobId: string, from: LivePosition, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const journal = await store.openJournal(jobId);
  if (!journal) {
    sendError(res, 404, `no job ${jobId}`);
    return;
  }
  const streams = new Map<string, FileHandle>();
  let events: StoredEvent[] = [];
  let closed = false;
  let wake: (() => void) | undefined;
  // news that came while we were busy sending must not be lost: idle() returns at once then
  let news = false;
  const unwatch = store.hub.watch(jobId, () => {
    news = true;
    wake?.();
  });
  const onClose = (): void => {
    closed = true;
    wake?.();
  };
  req.on('close', onClose);
  res.on('close', onClose);
  res.on('drain', () => wake?.());

  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.write('retry: 1000\n\n');

  /** Waits for news (a store, a drain, a close) or the heartbeat interval. */
  const idle = async (): Promise<void> => {
    if (news) {
      news = false;
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      wake = resolve;
      timer = setTimeout(resolve, HEARTBEAT_MS);
    });
    clearTimeout(timer);
    wake = undefined;
    news = false;
  };
  const send = async (text: string): Promise<void> => {
    if (!res.write(text)) while (!closed && res.writableNeedDrain) await idle();
  };

  const position = { ...from };
  try {
    // a position past the end cannot come from us (the journal only grows): start at the end
    const atStart = await JobStore.journalLength(journal);
    if (position.record > atStart) Object.assign(position, { record: atStart, byte: 0 });
    while (!closed) {
      const length = await JobStore.journalLength(journal);
      if (position.record < length) {
        const records = await readRecords(journal, position.record, Math.min(RECORDS_PER_READ, length - position.record));
        for (let i = 0; i < records.length && !closed; ) {
          const r = records[i];
          if (r.type === 'event') {
            if (r.seq >= events.length) events = await store.events(jobId);
            const ev = events[r.seq];
            position.record++;
            position.byte = 0;
            i++;
            if (ev) await send(`id: ${formatPosition(position)}\nevent: ${ev.type}\ndata: ${JSON.stringify(ev)}\n\n`);
            continue;
          }
          if (position.byte >= r.length) {
            position.record++;
            position.byte = 0;
            i++;
            continue;
          }
          // consecutive records of one stream that continue each other go out as one message
          let j = i + 1;
          let length_ = r.length - position.byte;
          while (j < records.length && length_ < MAX_CHUNK_BYTES && continues(records[j - 1], records[j])) length_ += (records[j++] as { length: number }).length;
          const start = r.offset + position.byte;
          const want = Math.min(length_, MAX_CHUNK_BYTES);
          const data = await readStream(store, streams, jobId, r.step, STREAM_NAMES[r.kind], start, want);
          // advance the position by the bytes sent, across the records they span
          let left = data.length;
          while (left > 0) {
            const rec = records[i] as { length: number };
            const inRec = rec.length - position.byte;
            if (left >= inRec) {
              left -= inRec;
              position.record++;
              position.byte = 0;
              i++;
            } else {
              position.byte += left;
              left = 0;
            }
          }
          if (data.length === 0) {
            // the journal names bytes the file does not hold (it cannot, but never spin): skip the record
            position.record++;
            position.byte = 0;
            i++;
            continue;
          }
          await send(
            `id: ${formatPosition(position)}\nevent: output\ndata: ${JSON.stringify({ step: r.step, stream: STREAM_NAMES[r.kind], offset: start, data: data.toString('base64') })}\n\n`,
          );
        }
        continue;
      }
      const meta = await store.meta(jobId);
      if (meta && meta.status !== 'running' && position.record >= (await JobStore.journalLength(journal))) {
        await send(`id: ${formatPosition(position)}\nevent: end\ndata: ${JSON.stringify({ status: meta.status, jobStatus: meta.finished?.status ?? '', message: meta.finished?.message ?? '' })}\n\n`);
        break;
      }
      await idle();
      if (!closed && position.record >= (await JobStore.journalLength(journal))) await send(': keepalive\n\n');
    }
  } finally {
    unwatch();
    await Promise.allSettled([journal.close(), ...[...streams.values()].map((h) => h.close())]);
    if (!res.writableEnded) res.end();
  }
}

function continues(a: JournalRecord, b: JournalRecord): boolean {
  return a.type === 'output' && b.type === 'output' && a.step === b.step && a.kind === b.kind && a.offset + a.length === b.offset;
}

async function readStream(store: JobStore, handles: Map<string, FileHandle>, jobId: string, step: number, stream: StreamName, offset: number, length: number): Promise<Buffer> {
  const k = `${step}.${stream}`;
  let h = handles.get(k);
  if (!h) {
    h = await store.openStream(jobId, step, stream);
    if (!h) return Buffer.alloc(0);
    handles.set(k, h);
  }
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await h.read(buf, got, length - got, offset + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}
