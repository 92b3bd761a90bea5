/**
 * The processor's HTTP side (routes in docs/output-processor.md): jobs and their steps as JSON,
 * a step's exact bytes with Range support, the live tail (live-tail.ts), the job page
 * (job-page.ts), and health checks. Every failure is a status code and a JSON error; a request
 * never takes the server down.
 */
import { createReadStream } from 'node:fs';
import { access, constants, readdir, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { jobDir, JOB_ID_PATTERN, parseStreamFileName, streamPath, streamsDir, type JobMeta, type StoredEvent, type StreamName } from './job-files.js';
import { MAX_STEP } from './job-log.js';
import type { JobStore } from './job-store.js';
import { jobPage, jobsPage } from './job-page.js';
import { parsePosition, serveLiveTail } from './live-tail.js';
import type { Logger } from './log.js';

export interface StepSummary {
  index: number;
  name: string;
  type: string;
  background: boolean;
  startedUnixMs?: number;
  /** running until its StepFinished is stored */
  status: string;
  exitCode?: number;
  durationMs?: number;
  message?: string;
  /** bytes stored per stream */
  bytes: Partial<Record<StreamName, number>>;
}

class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

export function httpHandler(store: JobStore, logger: Logger): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    route(store, req, res).catch((e: unknown) => {
      const code = e instanceof HttpError ? e.statusCode : 500;
      if (code === 500) logger.log('error', 'http request failed', { method: req.method, url: req.url, error: e instanceof Error ? e.message : String(e) });
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.writeHead(code, { 'content-type': 'application/json; charset=utf-8' }).end(`${JSON.stringify({ error: e instanceof Error ? e.message : String(e) })}\n`);
    });
  };
}

async function route(store: JobStore, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://processor');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    throw new HttpError(405, `${req.method} is not supported; every route is GET`);
  }
  const path = url.pathname;
  if (path === '/status' || path === '/health-check') return health(store, res);
  if (path === '/') return html(res, jobsPage());
  if (path === '/api/jobs') return json(res, (await store.listJobs()).map(summary));

  let m = /^\/jobs\/([^/]+)\/?$/.exec(path);
  if (m) {
    const meta = await job(store, m[1]);
    return html(res, jobPage(meta.id, meta.name));
  }
  m = /^\/api\/jobs\/([^/]+)(\/.*)?$/.exec(path);
  if (!m) throw new HttpError(404, `no route ${path}; see docs/output-processor.md`);
  const meta = await job(store, m[1]);
  const rest = m[2] ?? '';
  if (rest === '' || rest === '/') return json(res, { ...meta, steps: await steps(store, meta.id) });
  if (rest === '/events') return json(res, await store.events(meta.id));
  if (rest === '/live') {
    const raw = req.headers['last-event-id'] ?? url.searchParams.get('from') ?? '0';
    const from = parsePosition(String(raw));
    if (!from) throw new HttpError(400, `bad position ${JSON.stringify(String(raw))}: use an event id this server sent (R or R.B)`);
    return serveLiveTail(store, meta.id, from, req, res);
  }
  m = /^\/steps\/([^/]+)\/output$/.exec(rest);
  if (m) return output(store, meta.id, m[1], url.searchParams.get('stream') ?? 'stdout', req, res);
  throw new HttpError(404, `no route ${path}; see docs/output-processor.md`);
}

async function health(store: JobStore, res: ServerResponse): Promise<void> {
  try {
    await access(store.dataDir, constants.R_OK | constants.W_OK);
  } catch (e) {
    throw new HttpError(503, `the data directory ${store.dataDir} is not usable: ${(e as Error).message}`);
  }
  json(res, { status: 'ok' });
}

async function job(store: JobStore, id: string): Promise<JobMeta> {
  const decoded = safeDecode(id);
  if (!JOB_ID_PATTERN.test(decoded)) throw new HttpError(400, `${JSON.stringify(decoded.slice(0, 200))} is not a job id`);
  const meta = await store.meta(decoded);
  if (!meta) throw new HttpError(404, `no job ${decoded}`);
  return meta;
}

function summary(m: JobMeta): Omit<JobMeta, 'environment'> {
  const { environment: _environment, ...rest } = m;
  return rest;
}

/** The job's steps, from its events and stored streams, by index. */
async function steps(store: JobStore, jobId: string): Promise<StepSummary[]> {
  const byIndex = new Map<number, StepSummary>();
  const get = (index: number): StepSummary => {
    let s = byIndex.get(index);
    if (!s) byIndex.set(index, (s = { index, name: index === -1 ? 'Spin up environment' : '', type: '', background: false, status: 'running', bytes: {} }));
    return s;
  };
  for (const ev of await store.events(jobId)) applyEvent(get, ev);
  let names: string[] = [];
  try {
    names = await readdir(streamsDir(jobDir(store.dataDir, jobId)));
  } catch {
    // no output yet
  }
  for (const name of names) {
    const p = parseStreamFileName(name);
    if (p) get(p.step).bytes[p.stream] = (await stat(streamPath(jobDir(store.dataDir, jobId), p.step, p.stream))).size;
  }
  return [...byIndex.values()].sort((a, b) => a.index - b.index);
}

function applyEvent(get: (index: number) => StepSummary, ev: StoredEvent): void {
  if (ev.type === 'step-started') Object.assign(get(ev.step), { name: ev.name, type: ev.stepType, background: ev.background, startedUnixMs: ev.timeUnixMs });
  else if (ev.type === 'step-finished') {
    Object.assign(get(ev.step), { status: ev.status, durationMs: ev.durationMs, message: ev.message }, ev.exitCode !== undefined ? { exitCode: ev.exitCode } : {});
  }
}

/** The exact bytes step `stepText` wrote to `stream`, or the Range asked for (single ranges). */
async function output(store: JobStore, jobId: string, stepText: string, stream: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (!/^(-1|0|[1-9]\d{0,8})$/.test(stepText) || Number(stepText) > MAX_STEP) throw new HttpError(400, `step ${JSON.stringify(stepText)} is not a step index (-1 to ${MAX_STEP})`);
  if (stream !== 'stdout' && stream !== 'stderr' && stream !== 'agent') throw new HttpError(400, `stream=${stream}: use stdout, stderr or agent`);
  const step = Number(stepText);
  const known = (await steps(store, jobId)).some((s) => s.index === step);
  if (!known) throw new HttpError(404, `job ${jobId} has no step ${step} (yet)`);
  const size = await store.streamSize(jobId, step, stream);
  const headers: Record<string, string | number> = {
    'content-type': 'text/plain; charset=utf-8',
    'x-content-type-options': 'nosniff',
    'accept-ranges': 'bytes',
    'cache-control': 'no-cache',
  };
  let start = 0;
  let end = size - 1;
  let code = 200;
  const range = req.headers.range;
  if (range !== undefined) {
    const r = parseRange(range, size);
    if (r === 'unsatisfiable') {
      res.writeHead(416, { 'content-range': `bytes */${size}`, 'content-type': 'application/json; charset=utf-8' });
      res.end(`${JSON.stringify({ error: `range ${range} is outside the ${size} bytes stored` })}\n`);
      return;
    }
    if (r) {
      ({ start, end } = r);
      code = 206;
      headers['content-range'] = `bytes ${start}-${end}/${size}`;
    }
  }
  headers['content-length'] = Math.max(0, end - start + 1);
  res.writeHead(code, headers);
  if (req.method === 'HEAD' || end < start) {
    res.end();
    return;
  }
  const file = createReadStream(streamPath(jobDir(store.dataDir, jobId), step, stream), { start, end });
  await new Promise<void>((resolve) => {
    file.on('error', () => {
      res.destroy();
      resolve();
    });
    res.on('close', () => {
      file.destroy();
      resolve();
    });
    file.pipe(res);
  });
}

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

function json(res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-cache' }).end(`${JSON.stringify(body)}\n`);
}

function html(res: ServerResponse, body: string): void {
  res
    .writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      // everything the page needs is inline; nothing else may load
      'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
      'cache-control': 'no-cache',
    })
    .end(body);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new HttpError(400, `bad percent-encoding in ${JSON.stringify(s.slice(0, 200))}`);
  }
}
