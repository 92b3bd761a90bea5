/**
 * A job's journal: the order in which its output and events were stored, one fixed-size record
 * each — "stream S of step N grew by L bytes at offset O", or "event SEQ was stored". A live tail
 * replays it, so a position in the journal (a record index) names a point in the whole job's
 * output, and a client can resume from the last one it saw (SSE Last-Event-ID).
 */
import type { FileHandle } from 'node:fs/promises';

export const RECORD_BYTES = 24;

export type JournalRecord =
  | { type: 'output'; step: number; kind: number; offset: number; length: number }
  | { type: 'event'; seq: number };

export function encodeRecords(records: JournalRecord[]): Buffer {
  const buf = Buffer.alloc(records.length * RECORD_BYTES);
  records.forEach((r, i) => {
    const at = i * RECORD_BYTES;
    if (r.type === 'output') {
      buf.writeUInt8(1, at);
      buf.writeUInt8(r.kind, at + 1);
      buf.writeInt32LE(r.step, at + 4);
      buf.writeDoubleLE(r.offset, at + 8);
      buf.writeDoubleLE(r.length, at + 16);
    } else {
      buf.writeUInt8(2, at);
      buf.writeDoubleLE(r.seq, at + 8);
    }
  });
  return buf;
}

export function decodeRecords(buf: Buffer): JournalRecord[] {
  const out: JournalRecord[] = [];
  for (let at = 0; at + RECORD_BYTES <= buf.length; at += RECORD_BYTES) {
    if (buf.readUInt8(at) === 1) {
      out.push({ type: 'output', kind: buf.readUInt8(at + 1), step: buf.readInt32LE(at + 4), offset: buf.readDoubleLE(at + 8), length: buf.readDoubleLE(at + 16) });
    } else {
      out.push({ type: 'event', seq: buf.readDoubleLE(at + 8) });
    }
  }
  return out;
}

/** Records [from, from + max) of an open journal file, fewer at its end. */
export async function readRecords(handle: FileHandle, from: number, max: number): Promise<JournalRecord[]> {
  const buf = Buffer.alloc(max * RECORD_BYTES);
  let got = 0;
  for (;;) {
    const { bytesRead } = await handle.read(buf, got, buf.length - got, from * RECORD_BYTES + got);
    if (bytesRead === 0) break;
    got += bytesRead;
    if (got === buf.length) break;
  }
  return decodeRecords(buf.subarray(0, got - (got % RECORD_BYTES)));
}
