/**
 * The artifact server (`deckhand artifacts serve`): on node:http, read-only, straight from a
 * BlobStore.
 *
 *   GET /artifacts/                      job runs with artifacts, newest first
 *   GET /artifacts/<job run id>/         that run's artifacts (JSON for Accept: application/json, else HTML)
 *   GET /artifacts/<job run id>/<path>   the artifact's bytes, streamed; single Range requests honoured
 *
 * Content types follow CircleCI Server's allowed list (content-type.ts); every response carries
 * nosniff and a CSP that lets nothing load or run. Each request is one JSON line on the logger;
 * a failing request is a status code, never the end of the server.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { escapeHtml } from '../net/html.js';
import { HttpError } from '../net/http-error.js';
import { SAFETY_HEADERS, sendHead as head } from '../net/http-headers.js';
import { answerRange, rangeNotSatisfiable } from '../net/http-range.js';
import { answerUnparsable, requestHandler, sendJson } from '../net/request-handler.js';
import type { Logger } from '../daemon-log.js';
import type { BlobStore } from '../store/blob-store.js';
import { listArtifacts, listJobRuns, openArtifact, statArtifact, type Artifact, type JobRunArtifacts } from './catalog.js';
import { artifactContentType, artifactHeaders } from './content-type.js';
import { routeArtifactRequest } from './route.js';

export interface ArtifactServerOptions {
  store: BlobStore;
  host: string;
  /** 0: any free port */
  port: number;
  logger: Logger;
}

export interface RunningArtifactServer {
  /** `http://HOST:PORT/artifacts/` */
  url: string;
  /** stops accepting, lets running responses end for up to `graceMs`, then cuts them */
  close(graceMs?: number): Promise<void>;
}

export async function startArtifactServer(opts: ArtifactServerOptions): Promise<RunningArtifactServer> {
  const server = createServer(artifactHandler(opts.store, opts.logger));
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  answerUnparsable(server, opts.logger);
  await listen(server, opts.host, opts.port);
  const { port } = server.address() as AddressInfo;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${host}:${port}/artifacts/`,
    async close(graceMs = 5_000) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => {
        for (const s of sockets) s.destroy();
      }, graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** The request handler, for embedding the artifact routes in another node:http server. */
export function artifactHandler(store: BlobStore, logger: Logger): (req: IncomingMessage, res: ServerResponse) => void {
  return requestHandler(logger, (req, res) => serve(store, req, res), (error) => `internal error reading the store: ${error}`);
}

async function serve(store: BlobStore, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    throw new HttpError(405, `${req.method} is not supported: the artifact server is read-only (GET, HEAD)`);
  }
  const route = routeArtifactRequest(req.url ?? '/');
  switch (route.kind) {
    case 'error':
      throw new HttpError(route.status, route.message);
    case 'redirect':
      head(res, 301, { location: route.location, ...SAFETY_HEADERS, 'content-length': 0 }).end();
      return;
    case 'job-runs':
      return sendJobRuns(req, res, await listJobRuns(store));
    case 'job-run': {
      const artifacts = await listArtifacts(store, route.jobRunId);
      if (artifacts.length === 0) throw new HttpError(404, `job run ${route.jobRunId} has no artifacts in this store`);
      return sendJobRun(req, res, route.jobRunId, artifacts);
    }
    case 'artifact':
      return sendArtifact(store, req, res, route.jobRunId, route.path);
  }
}

async function sendArtifact(store: BlobStore, req: IncomingMessage, res: ServerResponse, jobRunId: string, path: string): Promise<void> {
  const info = await statArtifact(store, jobRunId, path);
  if (!info) throw new HttpError(404, `job run ${jobRunId} has no artifact ${path}`);
  const size = info.size;
  const answer = answerRange(req.headers.range, size);
  if (answer.status === 416) throw rangeNotSatisfiable(res, answer);
  const { status, start, end } = answer;
  const headers = { ...artifactHeaders(path), 'last-modified': info.modified.toUTCString(), 'cache-control': 'private, no-cache', ...answer.headers };
  if (req.method === 'HEAD' || end < start) {
    head(res, status, headers).end();
    return;
  }
  // a Range is read from the store as a range: the bytes before it are never read
  const body = await openArtifact(store, jobRunId, path, status === 206 ? { start, end } : undefined);
  if (!body) throw new HttpError(404, `job run ${jobRunId} has no artifact ${path}`);
  head(res, status, headers);
  try {
    await pipeline(body, res);
  } catch {
    // the client went away, or the store failed mid-body: the response is cut short, which the
    // client sees from Content-Length; nothing else to do
    body.destroy();
    res.destroy();
  }
}

interface IndexEntry {
  path: string;
  size: number;
  modified: string;
  contentType: string;
  url: string;
}

function sendJobRun(req: IncomingMessage, res: ServerResponse, jobRunId: string, artifacts: Artifact[]): void {
  const entries: IndexEntry[] = artifacts.map((a) => ({
    path: a.path,
    size: a.size,
    modified: a.modified.toISOString(),
    contentType: artifactContentType(a.path).type,
    url: `/artifacts/${encodeURIComponent(jobRunId)}/${a.path.split('/').map(encodeURIComponent).join('/')}`,
  }));
  if (wantsJson(req)) return sendJson(res, 200, { jobRunId, artifacts: entries });
  const rows = entries.map((e) => `<tr><td><a href="${escapeHtml(e.url)}">${escapeHtml(e.path)}</a></td><td>${e.size}</td><td>${escapeHtml(e.contentType)}</td><td>${e.modified}</td></tr>`);
  sendHtml(req, res, `Artifacts of job run ${jobRunId}`, `<p><a href="/artifacts/">all job runs</a></p>\n<table>\n<tr><th>path</th><th>bytes</th><th>served as</th><th>stored</th></tr>\n${rows.join('\n')}\n</table>`);
}

function sendJobRuns(req: IncomingMessage, res: ServerResponse, runs: JobRunArtifacts[]): void {
  const entries = runs.map((r) => ({ jobRunId: r.jobRunId, artifacts: r.count, bytes: r.bytes, modified: r.modified.toISOString(), url: `/artifacts/${encodeURIComponent(r.jobRunId)}/` }));
  if (wantsJson(req)) return sendJson(res, 200, { jobRuns: entries });
  const rows = entries.map((e) => `<tr><td><a href="${escapeHtml(e.url)}">${escapeHtml(e.jobRunId)}</a></td><td>${e.artifacts}</td><td>${e.bytes}</td><td>${e.modified}</td></tr>`);
  sendHtml(req, res, 'Job runs with artifacts', `<table>\n<tr><th>job run</th><th>artifacts</th><th>bytes</th><th>newest</th></tr>\n${rows.join('\n')}\n</table>`);
}

function wantsJson(req: IncomingMessage): boolean {
  return /\bapplication\/json\b/i.test(req.headers.accept ?? '');
}

function sendHtml(req: IncomingMessage, res: ServerResponse, title: string, body: string): void {
  const text = `<!doctype html>\n<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>\n<body>\n<h1>${escapeHtml(title)}</h1>\n${body}\n</body></html>\n`;
  head(res, 200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-cache', ...SAFETY_HEADERS });
  res.end(req.method === 'HEAD' ? undefined : text);
}

