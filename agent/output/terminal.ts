/**
 * The human view of a job, in the shape CircleCI's local build agent printed in public build logs:
 * a `====>> <step name>` header per step, the step's bytes as they came, `Exited with code exit
 * status N` on failure, and `Success!` / `Task failed` at the end.
 *
 * Step output is written as the Buffers it arrived in, never decoded, so invalid UTF-8 and
 * terminal control sequences reach the terminal (and the log file) unchanged. The renderer only
 * adds its own lines around them, starting a new line first when the output left one open.
 */
import type { Writable } from 'node:stream';
import { drained, streamRoom } from './backpressure.js';
import type { JobEvent, OutputSink, StepStatus } from './events.js';

export interface RenderOptions {
  /** ANSI colours (bold cyan headers, dim agent lines, red failures) */
  color: boolean;
  /** print `Full log: <path>` at the end when job-end names a log file (the log file itself leaves it out) */
  showLogPath?: boolean;
}

const STYLE = {
  header: ['\x1b[1;36m', '\x1b[0m'],
  dim: ['\x1b[2m', '\x1b[22m'],
  red: ['\x1b[31m', '\x1b[39m'],
  yellow: ['\x1b[33m', '\x1b[39m'],
  success: ['\x1b[1;32m', '\x1b[0m'],
  failure: ['\x1b[1;31m', '\x1b[0m'],
} as const;
type Style = keyof typeof STYLE;

const NEWLINE = 0x0a;

/** Go-like short durations: `850ms`, `4.2s`, `1m5s`, `1h2m3s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  if (ms < 60_000) return `${(Math.floor(ms / 100) / 10).toFixed(1)}s`;
  const total = Math.floor(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h ? `${h}h${m}m${s}s` : `${m}m${s}s`;
}

/**
 * Whether to colour: only on a TTY, never with `--no-color`, never when `NO_COLOR` is set to a
 * non-empty value (no-color.org).
 */
export function shouldUseColor(stream: { isTTY?: boolean }, opts: { noColor?: boolean; env?: NodeJS.ProcessEnv } = {}): boolean {
  const env = opts.env ?? process.env;
  return !opts.noColor && !env.NO_COLOR && stream.isTTY === true;
}

/** Turns job events into the bytes of the human log; `write` receives them in order. */
export class HumanRenderer {
  /** whether the last byte written ended a line (or nothing was written yet) */
  private atLineStart = true;
  /** names of the steps started so far, and the section shown last: a background step can end
   *  under a later step's header, so its end line then says whose it is */
  private readonly names = new Map<number, string>();
  private section: number | undefined;

  constructor(
    private readonly write: (bytes: Buffer) => void,
    private readonly options: RenderOptions,
  ) {}

  render(e: JobEvent): void {
    switch (e.type) {
      case 'job-start':
        this.line('====>> Preparing environment variables', 'header');
        this.line('Using build environment variables:');
        for (const key of Object.keys(e.environment).sort()) this.line(`  ${key}=${e.environment[key]}`);
        this.line('The redacted variables listed above will be masked in run step output.');
        return;
      case 'step-start':
        this.names.set(e.index, e.name);
        this.section = e.index;
        this.line(`====>> ${e.name}${e.background ? ' (background)' : ''}`, 'header');
        return;
      case 'output':
        if (e.data.length === 0) return;
        if (e.stream === 'agent' && this.options.color) {
          this.raw(Buffer.from(STYLE.dim[0]));
          this.raw(e.data);
          this.raw(Buffer.from(STYLE.dim[1]));
        } else {
          this.raw(e.data);
        }
        this.atLineStart = e.data[e.data.length - 1] === NEWLINE;
        return;
      case 'step-end':
        if (e.index !== this.section) this.line(`Background step "${this.names.get(e.index) ?? e.index}" ended:`, 'dim');
        this.stepEnd(e.status, e.exitCode, e.message, e.durationMs);
        return;
      case 'job-end': {
        const took = formatDuration(e.durationMs);
        if (e.status === 'success') this.line(`Success! (total ${took})`, 'success');
        else if (e.status === 'canceled') this.line(`Task canceled (total ${took})`, 'failure');
        else this.line(`Task failed (total ${took})`, 'failure');
        if (e.logFile && this.options.showLogPath !== false) this.line(`Full log: ${e.logFile}`);
        return;
      }
    }
  }

  private stepEnd(status: StepStatus, exitCode: number | undefined, message: string | undefined, durationMs: number): void {
    const took = `Took ${formatDuration(durationMs)}`;
    switch (status) {
      case 'success':
        if (message) this.line(message, 'dim');
        this.line(took, 'dim');
        return;
      case 'failed':
        if (message) this.line(message, 'red');
        if (exitCode !== undefined) this.line(`Exited with code exit status ${exitCode}`, 'red');
        else if (!message) this.line('Step failed', 'red');
        this.line(took, 'dim');
        return;
      case 'timedout':
        this.line(message ?? 'Step timed out', 'red');
        this.line(took, 'dim');
        return;
      case 'canceled':
        this.line(message ?? 'Step canceled', 'yellow');
        this.line(took, 'dim');
        return;
      case 'skipped':
        this.line(message ?? 'Step skipped', 'dim');
        return;
    }
  }

  /** One line of the renderer's own, on a line of its own. */
  private line(text: string, style?: Style): void {
    let s = this.atLineStart ? '' : '\n';
    s += style && this.options.color ? `${STYLE[style][0]}${text}${STYLE[style][1]}\n` : `${text}\n`;
    this.raw(Buffer.from(s, 'utf8'));
    this.atLineStart = true;
  }

  private raw(bytes: Buffer): void {
    this.write(bytes);
  }
}

export interface TerminalSinkOptions {
  stream: Writable;
  /** default: `shouldUseColor(stream)` */
  color?: boolean;
}

/**
 * Renders to a writable (normally process.stdout). The stream is not ended on close: stdout
 * outlives the job. `room` holds steps back while a slow reader leaves more than
 * BACKLOG_LIMIT_BYTES queued; `close` waits until the stream has drained.
 */
export class TerminalSink implements OutputSink {
  private readonly renderer: HumanRenderer;
  private readonly stream: Writable;

  constructor(opts: TerminalSinkOptions) {
    this.stream = opts.stream;
    const color = opts.color ?? shouldUseColor(opts.stream as { isTTY?: boolean });
    this.renderer = new HumanRenderer((bytes) => this.stream.write(bytes), { color, showLogPath: true });
  }

  event(e: JobEvent): void {
    this.renderer.render(e);
  }

  close(): Promise<void> {
    // a reader that went away (EPIPE) loses nothing of the job's: the front end reports it
    return drained(this.stream).catch(() => undefined);
  }

  room(): Promise<void> | undefined {
    return streamRoom(this.stream);
  }
}

export function createTerminalSink(opts: TerminalSinkOptions): TerminalSink {
  return new TerminalSink(opts);
}
