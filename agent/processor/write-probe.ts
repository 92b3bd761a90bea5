/**
 * Whether the data directory can take a job's output right now, for `/health-check`: a probe
 * writes as much as one chunk (64 KiB) to a scratch file in the jobs folder and removes it. On
 * demand, not periodic: a processor nobody asks does no work. The answer is kept for a second and
 * concurrent checks share one probe, so a flood of health checks cannot churn the disk.
 */
import { access, constants, open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { MAX_CHUNK_BYTES } from '../output/wire/protocol.js';
import { appendWhole, FILE_MODE } from './durable-file.js';
import { describeStorageError } from './storage-failure.js';

/** How long one probe's answer stands. */
const PROBE_TTL_MS = 1000;

export type ProbeResult = { writable: true } | { writable: false; error: string };

export class WriteProbe {
  private last: { at: number; result: Promise<ProbeResult> } | undefined;
  private readonly scratch: string;

  /** `folder` is where jobs are written; the scratch file's name cannot be a job id (ids never start with '.'). */
  constructor(private readonly folder: string) {
    this.scratch = join(folder, '.write-probe');
  }

  check(now = Date.now()): Promise<ProbeResult> {
    if (this.last && now - this.last.at < PROBE_TTL_MS) return this.last.result;
    const result = this.probe();
    this.last = { at: now, result };
    return result;
  }

  private async probe(): Promise<ProbeResult> {
    try {
      await access(this.folder, constants.R_OK | constants.W_OK | constants.X_OK);
      const h = await open(this.scratch, 'w', FILE_MODE);
      try {
        await appendWhole(h, this.scratch, Buffer.alloc(MAX_CHUNK_BYTES), 0);
      } finally {
        await h.close();
        await unlink(this.scratch).catch(() => undefined);
      }
      return { writable: true };
    } catch (e) {
      return { writable: false, error: describeStorageError(e) };
    }
  }
}
