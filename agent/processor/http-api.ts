/**
 * The processor's HTTP side (routes in docs/output-processor.md): jobs and their steps as JSON,
 * a step's exact bytes with Range support, the live tail (live-tail.ts), the job page
 * (job-page.ts), and health checks. Every failure is a status code and a JSON error; a request
 * never takes the server down.
 */
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from '../net/http-error.js';
import { PLAIN_TEXT, SAFETY_HEADERS, sendHead } from '../net/http-headers.js';
import { answerRange, rangeNotSatisfiable } from '../net/http-range.js';
import { requestHandler, sendJson } from '../net/request-handler.js';
import { pathSegments } from '../net/url-path.js';
import { jobDir, JOB_ID_PATTERN, parseStreamFileName, streamPath, streamsDir, type JobMeta, type StoredEvent, type StreamName } from './job-files.js';
import { MAX_STEP } from './job-log.js';
import type { JobStore } from './job-store.js';
import { jobPage, jobsPage } from './job-page.js';
import { parsePosition, serveLiveTail } from './live-tail.js';
import { bearerToken, readTokenMatches } from './tokens.js';
import type { Logger } from '../daemon-log.js';

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

/** With `readSecret`, every route but the health checks wants a read token (tokens.ts readToken). */
export function httpHandler(store: JobStore, logger: Logger, readSecret?: Buffer): (req: IncomingMessage, res: ServerResponse) => void {
  return requestHandler(logger, (req, res) => route(store, req, res, readSecret));
}

async function route(store: JobStore, req: IncomingMessage, res: ServerResponse, readSecret: Buffer | undefined): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    throw new HttpError(405, `${req.method} is not supported; every route is GET`);
  }
  const parsed = pathSegments(req.url ?? '/');
  if ('error' in parsed) throw new HttpError(400, parsed.error);
  // a trailing slash names the same thing
  const seg = parsed.segments.length > 1 && parsed.segments[parsed.segments.length - 1] === '' ? parsed.segments.slice(0, -1) : parsed.segments;
  const path = `/${seg.join('/')}`;
  const query = new URL(req.url ?? '/', 'http://processor').searchParams;
  const noRoute = new HttpError(404, `no route ${JSON.stringify(path.slice(0, 200))}; see docs/output-processor.md`);
  if (path === '/status' || path === '/health-check') return health(store, res);
  const allowed = (jobId?: string): void => {
    if (readSecret) checkReadToken(readSecret, jobId, req, query, res);
  };
  if (path === '/') {
    allowed();
    return html(res, jobsPage());
  }
  if (path === '/api/jobs') {
    allowed();
    return sendJson(res, 200, (await store.listJobs()).map(summary));
  }
  if (seg.length === 2 && seg[0] === 'jobs') {
    allowed(checkJobId(seg[1]));
    const meta = await job(store, seg[1]);
    return html(res, jobPage(meta.id, meta.name));
  }
  if (seg.length < 3 || seg[0] !== 'api' || seg[1] !== 'jobs') throw noRoute;
  allowed(checkJobId(seg[2]));
  const meta = await job(store, seg[2]);
  const rest = seg.slice(3);
  if (rest.length === 0) {
    const events = await store.events(meta.id);
    const ssh = latestSsh(events);
    return sendJson(res, 200, { ...withoutDelivery(meta), steps: await steps(store, meta.id, events), ...(ssh ? { ssh } : {}) });
  }
  if (rest.length === 1 && rest[0] === 'events') return sendJson(res, 200, await store.events(meta.id));
  if (rest.length === 1 && rest[0] === 'live') {
    const raw = String(req.headers['last-event-id'] ?? query.get('from') ?? '0');
    const from = parsePosition(raw);
    if (!from) throw new HttpError(400, `bad position ${JSON.stringify(raw.slice(0, 200))}: use an event id this server sent (R or R.B)`);
    return serveLiveTail(store, meta.id, from, req, res);
  }
  if (rest.length === 3 && rest[0] === 'steps' && rest[2] === 'output') {
    return output(store, meta.id, rest[1], query.get('stream') ?? 'stdout', req, res);
  }
  throw noRoute;
}

/** 200 while a job's output can be written to the data directory, 503 (saying why) while it cannot. */
async function health(store: JobStore, res: ServerResponse): Promise<void> {
  const probe = await store.writable();
  if (!probe.writable) throw new HttpError(503, `the data directory ${store.dataDir} cannot be written: ${probe.error}; free space or fix its permissions`);
  sendJson(res, 200, { status: 'ok' });
}

/**
 * A read token from `authorization: Bearer …` or, for pages and EventSource (which cannot set
 * headers), `?token=`; 401 without one, 403 when it is not for this job (or, without a job, for all).
 */
function checkReadToken(secret: Buffer, jobId: string | undefined, req: IncomingMessage, query: URLSearchParams, res: ServerResponse): void {
  const token = bearerToken(req.headers.authorization) ?? query.get('token') ?? undefined;
  const mint = `mint one with: deckhand output-processor token --read --data DIR ${jobId ?? '--all-jobs'}`;
  if (!token) {
    res.setHeader('www-authenticate', 'Bearer realm="deckhand output processor"');
    throw new HttpError(401, `this processor wants a read token (authorization: Bearer TOKEN, or ?token=TOKEN); ${mint}`);
  }
  if (!readTokenMatches(secret, jobId, token)) throw new HttpError(403, `the token does not read ${jobId ? `job ${jobId}` : 'the job list (that takes an --all-jobs token)'}; ${mint}`);
}

function checkJobId(id: string): string {
  if (!JOB_ID_PATTERN.test(id)) throw new HttpError(400, `${JSON.stringify(id.slice(0, 200))} is not a job id`);
  return id;
}

/** The job's meta; `id` has passed checkJobId. */
async function job(store: JobStore, id: string): Promise<JobMeta> {
  const meta = await store.meta(id);
  if (!meta) throw new HttpError(404, `no job ${id}`);
  return meta;
}

function summary(m: JobMeta): Omit<JobMeta, 'environment' | 'delivery'> {
  const { environment: _environment, ...rest } = withoutDelivery(m);
  return rest;
}

/** The delivery id is the protocol's business (who may reopen a finished job), not a reader's. */
function withoutDelivery(m: JobMeta): Omit<JobMeta, 'delivery'> {
  const { delivery: _delivery, ...rest } = m;
  return rest;
}

/** Where the job's SSH stands, as its last SshStatus said (a job with SSH enabled), without the seq. */
function latestSsh(events: StoredEvent[]): Omit<Extract<StoredEvent, { type: 'ssh-status' }>, 'seq' | 'type'> | undefined {
  let last: Extract<StoredEvent, { type: 'ssh-status' }> | undefined;
  for (const ev of events) if (ev.type === 'ssh-status') last = ev;
  if (!last) return undefined;
  const { seq: _seq, type: _type, ...status } = last;
  return status;
}

/** The job's steps, from its events and stored streams, by index. */
async function steps(store: JobStore, jobId: string, events?: StoredEvent[]): Promise<StepSummary[]> {
  const byIndex = new Map<number, StepSummary>();
  const get = (index: number): StepSummary => {
    let s = byIndex.get(index);
    if (!s) byIndex.set(index, (s = { index, name: index === -1 ? 'Spin up environment' : '', type: '', background: false, status: 'running', bytes: {} }));
    return s;
  };
  for (const ev of events ?? (await store.events(jobId))) applyEvent(get, ev);
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
  if (stream !== 'stdout' && stream !== 'stderr' && stream !== 'agent') throw new HttpError(400, `stream=${JSON.stringify(stream.slice(0, 200))}: use stdout, stderr or agent`);
  const step = Number(stepText);
  const known = (await steps(store, jobId)).some((s) => s.index === step);
  if (!known) throw new HttpError(404, `job ${jobId} has no step ${step} (yet)`);
  const size = await store.streamSize(jobId, step, stream);
  const answer = answerRange(req.headers.range, size);
  if (answer.status === 416) throw rangeNotSatisfiable(res, answer);
  const { start, end } = answer;
  sendHead(res, answer.status, { 'content-type': PLAIN_TEXT, ...SAFETY_HEADERS, 'cache-control': 'no-cache', ...answer.headers });
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

function html(res: ServerResponse, body: string): void {
  sendHead(res, 200, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    ...SAFETY_HEADERS,
    // everything the page needs is inline; nothing else may load
    'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
    'cache-control': 'no-cache',
  }).end(body);
}

