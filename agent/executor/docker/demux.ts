// Splitting the Docker engine's multiplexed exec stream into stdout and
// stderr. Each frame is an 8-byte header (stream type, 3 zero bytes, payload
// length as uint32 big-endian) and its payload. Writes wait for the reader
// ('drain'), so a slow consumer slows the command instead of filling memory.

import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';

const HEADER_BYTES = 8;
const STDOUT = 1;
const STDERR = 2;

/** Copies every payload byte to its stream; resolves at the end of `source`.
 *  Does not end the targets: the caller decides when output is complete. */
export async function demultiplex(source: Readable, stdout: Writable, stderr: Writable): Promise<void> {
  let pending: Buffer = Buffer.alloc(0);
  for await (const chunk of source as AsyncIterable<Buffer>) {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let offset = 0;
    while (pending.length - offset >= HEADER_BYTES) {
      const size = pending.readUInt32BE(offset + 4);
      if (pending.length - offset - HEADER_BYTES < size) break;
      const kind = pending[offset];
      const payload = pending.subarray(offset + HEADER_BYTES, offset + HEADER_BYTES + size);
      offset += HEADER_BYTES + size;
      // Only stdout and stderr frames carry the command's output.
      if (kind !== STDOUT && kind !== STDERR) continue;
      const target = kind === STDOUT ? stdout : stderr;
      // A reader that destroyed its stream no longer wants the bytes.
      if (payload.length && !target.destroyed && !target.write(payload)) await drained(target);
    }
    pending = pending.subarray(offset);
  }
  if (pending.length) {
    throw new Error(`the Docker engine's output stream ended inside a frame (${pending.length} bytes left)`);
  }
}

/** Resolves when the reader has caught up, or has gone away. */
async function drained(target: Writable): Promise<void> {
  const controller = new AbortController();
  try {
    await Promise.race([
      once(target, 'drain', { signal: controller.signal }),
      once(target, 'close', { signal: controller.signal }),
    ]);
  } finally {
    controller.abort();
  }
}
