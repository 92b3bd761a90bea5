/**
 * One stored output stream of a job — (step, stdout|stderr|agent) — as an append-only file, with
 * its size and a running SHA-256 of its bytes. After a restart both are recomputed from the file.
 */
import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { appendWhole, FILE_MODE } from './durable-file.js';

export class StreamFile {
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    private hash: Hash,
    private bytes: number,
  ) {}

  /** Opens (creating if missing, readable by the processor's user only) the file at `path`, hashing what it already holds. */
  static async open(path: string): Promise<StreamFile> {
    const handle = await open(path, 'a+', FILE_MODE);
    try {
      const hash = createHash('sha256');
      let size = 0;
      const buf = Buffer.allocUnsafe(1 << 20);
      for (;;) {
        const { bytesRead } = await handle.read(buf, 0, buf.length, size);
        if (bytesRead === 0) break;
        hash.update(buf.subarray(0, bytesRead));
        size += bytesRead;
      }
      return new StreamFile(path, handle, hash, size);
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  /** Bytes stored (written; durable after the next sync). */
  get size(): number {
    return this.bytes;
  }

  /** Appends `data` at the end, whole or not at all (a failed write is cut back off). */
  async append(data: Uint8Array): Promise<void> {
    await appendWhole(this.handle, this.path, data, this.bytes);
    this.hash.update(data);
    this.bytes += data.length;
  }

  /** The stored bytes [offset, offset + length), fewer past the end. */
  async read(offset: number, length: number): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(Math.max(0, Math.min(length, this.bytes - offset)));
    let got = 0;
    while (got < buf.length) {
      const { bytesRead } = await this.handle.read(buf, got, buf.length - got, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return buf.subarray(0, got);
  }

  sync(): Promise<void> {
    return this.handle.sync();
  }

  /** SHA-256 of everything stored so far. */
  digest(): Buffer {
    return this.hash.copy().digest();
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}
