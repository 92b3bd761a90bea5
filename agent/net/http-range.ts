/**
 * Single-range `Range: bytes=…` requests (RFC 9110 §14), as the output processor serves a step's
 * output and the artifact server an artifact: what to send, and the headers that say so.
 */
import type { ServerResponse } from 'node:http';
import { HttpError } from './http-error.js';

/**
 * One `bytes=` range → inclusive offsets; undefined to send everything (a header we do not
 * serve, such as several ranges, is ignored as RFC 9110 allows); 'unsatisfiable' for 416.
 */
export function parseRange(header: string, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return undefined;
  }
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

export type RangeAnswer =
  /** send bytes start..end (inclusive; end < start: none) with `headers` */
  | { status: 200 | 206; start: number; end: number; headers: Record<string, string | number> }
  /** 416: the range lies outside the `size` bytes; `headers` says how many there are */
  | { status: 416; headers: Record<string, string>; message: string };

/** How to answer a GET of `size` bytes that came with Range header `range` (or none). */
export function answerRange(range: string | undefined, size: number): RangeAnswer {
  const r = range === undefined ? undefined : parseRange(range, size);
  if (r === 'unsatisfiable') return { status: 416, headers: { 'content-range': `bytes */${size}` }, message: `range ${range} is outside the ${size} bytes there are` };
  const { start, end } = r ?? { start: 0, end: size - 1 };
  const headers: Record<string, string | number> = { 'accept-ranges': 'bytes', 'content-length': Math.max(0, end - start + 1) };
  if (r) headers['content-range'] = `bytes ${start}-${end}/${size}`;
  return { status: r ? 206 : 200, start, end, headers };
}

/** The 416 answer as an HttpError for the request handler to send, its Content-Range already set. */
export function rangeNotSatisfiable(res: ServerResponse, answer: Extract<RangeAnswer, { status: 416 }>): HttpError {
  for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
  return new HttpError(416, answer.message);
}
