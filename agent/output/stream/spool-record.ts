/**
 * One spool record = one batch, as bytes: `u32 length` then the entries. A chunk is a fixed
 * header and its raw bytes (never text, so invalid UTF-8 stays exact); an event is a kind byte
 * and its JSON (sha256 totals as hex). Little-endian throughout.
 */
import type { EventEntry, OutputEntry, StreamKind } from './entries.js';

const CHUNK = 1;
const EVENT = 2;
/** kind u8, step i32, stream u8, offset f64 (exact up to 2^53), length u32 */
const CHUNK_HEADER = 1 + 4 + 1 + 8 + 4;
export const RECORD_HEADER = 4;

export function encodeBatch(entries: OutputEntry[]): Buffer {
  const parts: Buffer[] = [];
  let length = 0;
  for (const e of entries) {
    if (e.kind === 'chunk') {
      const head = Buffer.allocUnsafe(CHUNK_HEADER);
      head.writeUInt8(CHUNK, 0);
      head.writeInt32LE(e.step, 1);
      head.writeUInt8(e.stream, 5);
      head.writeDoubleLE(e.offset, 6);
      head.writeUInt32LE(e.data.length, 14);
      parts.push(head, e.data);
      length += head.length + e.data.length;
    } else {
      const json = Buffer.from(JSON.stringify(e.kind === 'job-finished' ? { ...e, streams: e.streams.map((s) => ({ ...s, sha256: s.sha256.toString('hex') })) } : e));
      const head = Buffer.allocUnsafe(5);
      head.writeUInt8(EVENT, 0);
      head.writeUInt32LE(json.length, 1);
      parts.push(head, json);
      length += head.length + json.length;
    }
  }
  const prefix = Buffer.allocUnsafe(RECORD_HEADER);
  prefix.writeUInt32LE(length, 0);
  return Buffer.concat([prefix, ...parts], RECORD_HEADER + length);
}

/** The entries of one record's body (the bytes after its length prefix). Chunk data are views into `body`. */
export function decodeBatch(body: Buffer): OutputEntry[] {
  const out: OutputEntry[] = [];
  let at = 0;
  while (at < body.length) {
    const kind = body.readUInt8(at);
    if (kind === CHUNK) {
      const step = body.readInt32LE(at + 1);
      const stream = body.readUInt8(at + 5) as StreamKind;
      const offset = body.readDoubleLE(at + 6);
      const length = body.readUInt32LE(at + 14);
      const start = at + CHUNK_HEADER;
      out.push({ kind: 'chunk', step, stream, offset, data: body.subarray(start, start + length) });
      at = start + length;
    } else if (kind === EVENT) {
      const length = body.readUInt32LE(at + 1);
      const parsed = JSON.parse(body.subarray(at + 5, at + 5 + length).toString('utf8')) as EventEntry;
      if (parsed.kind === 'job-finished') {
        const streams = parsed.streams as unknown as { step: number; stream: StreamKind; bytes: number; sha256: string }[];
        out.push({ ...parsed, streams: streams.map((s) => ({ ...s, sha256: Buffer.from(s.sha256, 'hex') })) });
      } else out.push(parsed);
      at += 5 + length;
    } else {
      throw new Error(`spool record is corrupt: unknown entry kind ${kind} at byte ${at}`);
    }
  }
  return out;
}
