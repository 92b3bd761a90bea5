/**
 * The full human log of a job in a file: what the terminal shows, without colours, every output
 * byte kept. Writes are synchronous on purpose: the log is the place no byte may be lost, and a
 * synchronous write to a local file never queues output in memory (a step that writes 200 MB does
 * not grow the agent by 200 MB when the disk is slower than the step). `close` fsyncs.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { deckhandHome } from '../config/orb-registry.js';
import type { JobEvent, OutputSink } from './events.js';
import { HumanRenderer } from './terminal.js';

/** `$DECKHAND_HOME/logs/<job>-<UTC timestamp>.log`; the job name is made safe for a file name. */
export function defaultLogPath(jobName: string, now: Date = new Date(), env: NodeJS.ProcessEnv = process.env): string {
  const safeName = jobName.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[.]+/, '_') || 'job';
  // 20250131T120501.123Z: sorts by time, no characters a file system or shell dislikes
  const stamp = now.toISOString().replace(/[-:]/g, '');
  return join(deckhandHome(env), 'logs', `${safeName}-${stamp}.log`);
}

export class LogFileSink implements OutputSink {
  readonly path: string;
  private fd: number | undefined;
  private readonly renderer: HumanRenderer;
  /** the first write error; reported by close() so a full disk does not kill the job mid-step */
  private failure: Error | undefined;

  constructor(path: string) {
    this.path = path;
    try {
      mkdirSync(dirname(path), { recursive: true });
      this.fd = openSync(path, 'w', 0o600);
    } catch (err) {
      throw new Error(`cannot write the job log ${path}: ${(err as Error).message}; set DECKHAND_HOME to a writable folder`);
    }
    this.renderer = new HumanRenderer((bytes) => this.write(bytes), { color: false, showLogPath: false });
  }

  event(e: JobEvent): void {
    this.renderer.render(e);
  }

  async close(): Promise<void> {
    const fd = this.fd;
    if (fd === undefined) return;
    this.fd = undefined;
    try {
      if (!this.failure) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (this.failure) throw new Error(`the job log ${this.path} is incomplete: ${this.failure.message}`);
  }

  private write(bytes: Buffer): void {
    if (this.fd === undefined || this.failure) return;
    try {
      let done = 0;
      while (done < bytes.length) done += writeSync(this.fd, bytes, done, bytes.length - done);
    } catch (err) {
      this.failure = err as Error;
    }
  }
}

export function createLogFileSink(path: string): LogFileSink {
  return new LogFileSink(path);
}
