/**
 * The real output processor (`deckhand output-processor`) as a child process, for tests that
 * kill, freeze and restart it: same data folder and ports across restarts, readiness by its
 * HTTP health check, tokens minted by its own CLI, stored output read back over its HTTP API.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultSecretFile } from '../../agent/processor/index.js';
import { jobToken, loadSecret } from '../../agent/processor/tokens.js';
import { deckhandBin } from './execute.js';
import { freePort } from './free-port.js';


export interface ProcessorProcessOptions {
  /** the data directory (kept by stop()); default: a fresh one, removed by stop() */
  data?: string;
  /** more flags for `deckhand output-processor` */
  args?: string[];
  /** run it as this user (the data directory must be theirs) */
  user?: { uid: number; gid: number };
}

export class ProcessorProcess {
  readonly data: string;
  child: ChildProcess | undefined;
  /** the processor's stderr (its JSON log) across all its lives */
  log = '';

  private constructor(
    readonly grpcPort: number,
    readonly httpPort: number,
    private readonly options: ProcessorProcessOptions,
  ) {
    this.data = options.data ?? mkdtempSync(join(tmpdir(), 'deckhand-processor-'));
  }

  static async start(options: ProcessorProcessOptions = {}): Promise<ProcessorProcess> {
    const p = new ProcessorProcess(await freePort(), await freePort(), options);
    await p.restart();
    return p;
  }

  /** The processor's log lines (JSON), parsed. */
  logLines(): { level: string; msg: string; [field: string]: unknown }[] {
    return this.log
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: string; msg: string });
  }

  get target(): string {
    return `127.0.0.1:${this.grpcPort}`;
  }

  get http(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  /** Starts it (again) on the same ports and data folder, and waits until it answers. */
  async restart(): Promise<void> {
    const child = spawn(process.execPath, [deckhandBin, 'output-processor', '--listen', this.target, '--data', this.data, '--http', `127.0.0.1:${this.httpPort}`, ...(this.options.args ?? [])], {
      stdio: ['ignore', 'ignore', 'pipe'],
      ...(this.options.user ?? {}),
    });
    child.stderr?.on('data', (d: Buffer) => (this.log += d.toString()));
    this.child = child;
    const until = Date.now() + 20_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the output processor exited with ${child.exitCode}: ${this.log.slice(-2000)}`);
      try {
        const res = await fetch(`${this.http}/health-check`);
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > until) throw new Error(`the output processor did not become healthy in 20 s: ${this.log.slice(-2000)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** kill -9, and wait until it is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await gone;
  }

  signal(name: 'SIGSTOP' | 'SIGCONT'): void {
    this.child?.kill(name);
  }

  /** The file of the processor's token secret. */
  get secretFile(): string {
    return defaultSecretFile(this.data);
  }

  /** The token for `jobId`, minted from the processor's secret as `deckhand output-processor token` does. */
  token(jobId: string): string {
    return jobToken(loadSecret(this.secretFile, false), jobId);
  }

  /** The stored bytes of step `step`'s output stream, from the HTTP API. */
  async output(jobId: string, step: number, stream: 'stdout' | 'stderr' | 'agent' = 'stdout'): Promise<Buffer> {
    const res = await fetch(`${this.http}/api/jobs/${encodeURIComponent(jobId)}/steps/${step}/output?stream=${stream}`);
    if (res.status !== 200) throw new Error(`GET output of ${jobId} step ${step}: HTTP ${res.status} ${await res.text()}`);
    return Buffer.from(await res.arrayBuffer());
  }

  /** The job as the HTTP API describes it. */
  async job(jobId: string): Promise<Record<string, unknown>> {
    const res = await fetch(`${this.http}/api/jobs/${encodeURIComponent(jobId)}`);
    if (res.status !== 200) throw new Error(`GET job ${jobId}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as Record<string, unknown>;
  }

  async stop(): Promise<void> {
    this.signal('SIGCONT');
    await this.kill();
    if (this.options.data === undefined) rmSync(this.data, { recursive: true, force: true });
  }
}

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** What `seq 1 N` prints. */
export function seqBytes(n: number): Buffer {
  const parts: string[] = [];
  for (let i = 1; i <= n; i++) parts.push(`${i}\n`);
  return Buffer.from(parts.join(''), 'latin1');
}
