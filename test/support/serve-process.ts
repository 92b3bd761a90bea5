/**
 * The real control API (`deckhand serve`) as a child process, for tests that talk to it over HTTP,
 * kill it and start it again: same port and data folder across restarts, readiness by its health
 * check, tokens made by its own `serve token`, and a small JSON client.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JOB_LABEL } from '../../agent/executor/docker/labels.js';
import { connectDocker } from '../../agent/executor/docker/engine.js';
import { BUSYBOX, deckhandBin } from './execute.js';
import { freePort } from './free-port.js';

export interface ApiAnswer<T = Record<string, unknown>> {
  status: number;
  body: T;
  text: string;
  headers: Headers;
}

export class ServeProcess {
  readonly data: string;
  child: ChildProcess | undefined;
  /** stderr (the JSON log) across all its lives */
  log = '';

  private constructor(
    readonly port: number,
    private readonly args: string[],
    private readonly env: Record<string, string>,
  ) {
    this.data = mkdtempSync(join(tmpdir(), 'deckhand-serve-'));
  }

  /** `env` is added to the service's environment (NOMAD_ADDR for --backend nomad, say). */
  static async start(args: string[] = [], env: Record<string, string> = {}): Promise<ServeProcess> {
    const s = new ServeProcess(await freePort(), args, env);
    await s.restart();
    return s;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** A new token of `scope`, from `deckhand serve token`. */
  token(scope: 'read' | 'submit' | 'admin', name?: string): string {
    return execFileSync(process.execPath, [deckhandBin, 'serve', 'token', '--data', this.data, '--scope', scope, ...(name ? ['--name', name] : [])], { encoding: 'utf8' }).trim();
  }

  async restart(): Promise<void> {
    const child = spawn(process.execPath, [deckhandBin, 'serve', '--listen', `127.0.0.1:${this.port}`, '--data', this.data, ...this.args], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, DECKHAND_HOME: join(this.data, 'home'), ...this.env },
    });
    // the last 1 MB is plenty to show why something failed; a benchmark logs far more
    child.stderr?.on('data', (d: Buffer) => (this.log = (this.log + d.toString()).slice(-1048576)));
    this.child = child;
    const until = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`deckhand serve exited with ${child.exitCode}: ${this.log.slice(-2000)}`);
      try {
        if ((await fetch(`${this.url}/health-check`)).status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > until) throw new Error(`deckhand serve did not become healthy in 30 s: ${this.log.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await gone;
  }

  async request<T = Record<string, unknown>>(method: string, path: string, options: { token?: string; json?: unknown; body?: string; headers?: Record<string, string> } = {}): Promise<ApiAnswer<T>> {
    const headers: Record<string, string> = { ...(options.token ? { authorization: `Bearer ${options.token}` } : {}), ...options.headers };
    let body: string | undefined = options.body;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(`${this.url}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
    const text = await res.text();
    let parsed: unknown = undefined;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: output, metrics, CSV
    }
    return { status: res.status, body: parsed as T, text, headers: res.headers };
  }

  /** Submits a config (or, with `extra.repository`, a repository); the pipeline's id. */
  async submit(token: string, config: string, extra: Record<string, unknown> = {}): Promise<string> {
    const body = extra.repository !== undefined ? Object.fromEntries(Object.entries(extra).filter(([k]) => k !== 'config')) : { config, ...extra };
    const r = await this.request<{ id: string }>('POST', '/api/v1/pipelines', { token, json: body });
    if (r.status !== 201) throw new Error(`POST /api/v1/pipelines: ${r.status} ${r.text}`);
    return r.body.id;
  }

  /** Polls the pipeline until `done` holds for it (or the time is up). */
  async waitFor(token: string, pipelineId: string, done: (p: PipelineJson) => boolean, timeoutMs = 120_000): Promise<PipelineJson> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.request<PipelineJson>('GET', `/api/v1/pipelines/${pipelineId}`, { token });
      if (r.status === 200 && done(r.body)) return r.body;
      if (Date.now() > until) throw new Error(`pipeline ${pipelineId} did not get there in ${timeoutMs} ms: ${r.text}\n${this.log.slice(-3000)}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  }

  async stop(): Promise<void> {
    await this.kill('SIGKILL');
    rmSync(this.data, { recursive: true, force: true });
  }
}

/** A pipeline config of one small busybox job, `job`, running `commands` in workflow `workflow`. */
export function oneJobConfig(job: string, commands: string[], workflow = 'w'): string {
  return `version: 2.1
jobs:
  ${job}:
    docker: [{image: ${BUSYBOX}}]
    resource_class: small
    steps: [${commands.map((c) => `{run: ${JSON.stringify(c)}}`).join(', ')}]
workflows:
  ${workflow}:
    jobs: [${job}]
`;
}

export interface JobJson {
  id: string;
  name: string;
  type: string;
  status: string;
  reason?: string;
  started_at: string | null;
  stopped_at: string | null;
}

export interface PipelineJson {
  id: string;
  number: number;
  state: string;
  workflows: { id: string; name: string; status: string; jobs: JobJson[] }[];
}

export const jobNamed = (p: PipelineJson, name: string): JobJson => {
  const j = p.workflows.flatMap((w) => w.jobs).find((x) => x.name === name);
  if (!j) throw new Error(`no job ${name} in ${JSON.stringify(p)}`);
  return j;
};

/** Containers the engine still has for a job node (by the label its executor put on them). */
export async function containersOf(workflowId: string, runId: string): Promise<number> {
  const list = await connectDocker().listContainers({ all: true, filters: JSON.stringify({ label: [`${JOB_LABEL}=deckhand-${workflowId.slice(0, 8)}-${runId.slice(0, 8)}`] }) });
  return list.length;
}
