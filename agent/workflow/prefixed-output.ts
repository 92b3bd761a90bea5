/**
 * The terminal view of one job among several running at once: the same human rendering as
 * `deckhand execute`, each line prefixed with the job's name, so parallel jobs stay readable.
 * Lines are written whole (a partial line waits for its end), so two jobs never mix within a
 * line. The environment listing stays in the job's log file, where it is written in full.
 */
import type { Writable } from 'node:stream';
import type { JobEvent, OutputSink } from '../output/events.js';
import { drained, streamRoom } from '../output/backpressure.js';
import { HumanRenderer } from '../output/terminal.js';

const NEWLINE = 0x0a;
/** foreground colours for job names, cycled by job (no red: it means failure) */
const PALETTE = [36, 33, 35, 34, 32, 96, 93, 95, 94, 92];

export class PrefixedSink implements OutputSink {
  private readonly renderer: HumanRenderer;
  private readonly prefix: Buffer;
  private partial: Buffer[] = [];

  constructor(
    private readonly stream: Writable,
    label: string,
    opts: { color: boolean; colorIndex: number; width: number },
  ) {
    const padded = `[${label}]`.padEnd(opts.width + 2);
    const colour = PALETTE[opts.colorIndex % PALETTE.length];
    this.prefix = Buffer.from(opts.color ? `\x1b[${colour}m${padded}\x1b[0m ` : `${padded} `);
    this.renderer = new HumanRenderer((bytes) => this.write(bytes), { color: opts.color, showLogPath: false });
  }

  event(e: JobEvent): void {
    if (e.type === 'job-start') {
      this.write(Buffer.from(`====>> Starting ${e.job} (its environment variables are listed in its log)\n`));
      return;
    }
    this.renderer.render(e);
  }

  async close(): Promise<void> {
    if (this.partial.length) this.write(Buffer.from('\n'));
    await drained(this.stream);
  }

  room(): Promise<void> | undefined {
    return streamRoom(this.stream);
  }

  private write(bytes: Buffer): void {
    let start = 0;
    for (let nl = bytes.indexOf(NEWLINE); nl >= 0; nl = bytes.indexOf(NEWLINE, start)) {
      this.stream.write(Buffer.concat([this.prefix, ...this.partial, bytes.subarray(start, nl + 1)]));
      this.partial = [];
      start = nl + 1;
    }
    if (start < bytes.length) this.partial.push(Buffer.from(bytes.subarray(start)));
  }
}
