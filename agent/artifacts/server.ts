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
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseRange } from '../processor/http-api.js';
import type { Logger } from '../processor/log.js';
import type { BlobStore } from '../store/blob-store.js';
import { byteSlice } from './byte-slice.js';
import { listArtifacts, listJobRuns, openArtifact, statArtifact, type Artifact, type JobRunArtifacts } from './catalog.js';
import { artifactContentType, artifactHeaders, SAFETY_HEADERS } from './content-type.js';
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

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function startArtifactServer(opts: ArtifactServerOptions): Promise<RunningArtifactServer> {
  const server = createServer(artifactHandler(opts.store, opts.logger));
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  // a request node:http cannot even parse: answer 400 and log it, as any other request
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    opts.logger.log('warn', 'bad request', { error: err.code ?? err.message, remote: socket.remoteAddress });
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
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
  return (req, res) => {
    const t0 = performance.now();
    let error: string | undefined;
    res.once('close', () => {
      const status = res.statusCode;
      logger.log(status >= 500 ? 'error' : 'info', 'request', {
        method: req.method,
        path: (req.url ?? '').slice(0, 2048),
        status,
        // the body's length as announced; `complete: false` says it was cut short
        bytes: Number(res.getHeader('content-length') ?? 0),
        ms: Math.round(performance.now() - t0),
        complete: res.writableFinished,
        remote: req.socket.remoteAddress,
        error,
      });
    });
    serve(store, req, res).catch((e: unknown) => {
      const status = e instanceof HttpError ? e.status : 500;
      error = e instanceof Error ? e.message : String(e);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendError(req, res, status, status === 500 ? `internal error reading the store: ${error}` : error);
    });
  };
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
  const headers: Record<string, string | number> = {
    ...artifactHeaders(path),
    'accept-ranges': 'bytes',
    'last-modified': info.modified.toUTCString(),
    'cache-control': 'private, no-cache',
  };
  let start = 0;
  let end = size - 1;
  let status = 200;
  const range = req.headers.range;
  if (range !== undefined) {
    const r = parseRange(range, size);
    if (r === 'unsatisfiable') {
      head(res, 416, { 'content-range': `bytes */${size}`, ...SAFETY_HEADERS, 'content-type': 'application/json; charset=utf-8' });
      res.end(`${JSON.stringify({ error: `range ${range} is outside the artifact's ${size} bytes` })}\n`);
      return;
    }
    if (r) {
      ({ start, end } = r);
      status = 206;
      headers['content-range'] = `bytes ${start}-${end}/${size}`;
    }
  }
  headers['content-length'] = Math.max(0, end - start + 1);
  if (req.method === 'HEAD' || end < start) {
    head(res, status, headers).end();
    return;
  }
  const body = await openArtifact(store, jobRunId, path);
  if (!body) throw new HttpError(404, `job run ${jobRunId} has no artifact ${path}`);
  head(res, status, headers);
  const source = status === 206 ? Readable.from(byteSlice(body, start, end)) : body;
  try {
    await pipeline(source, res);
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
  if (wantsJson(req)) return sendJson(req, res, { jobRunId, artifacts: entries });
  const rows = entries.map((e) => `<tr><td><a href="${escapeHtml(e.url)}">${escapeHtml(e.path)}</a></td><td>${e.size}</td><td>${escapeHtml(e.contentType)}</td><td>${e.modified}</td></tr>`);
  sendHtml(req, res, `Artifacts of job run ${jobRunId}`, `<p><a href="/artifacts/">all job runs</a></p>\n<table>\n<tr><th>path</th><th>bytes</th><th>served as</th><th>stored</th></tr>\n${rows.join('\n')}\n</table>`);
}

function sendJobRuns(req: IncomingMessage, res: ServerResponse, runs: JobRunArtifacts[]): void {
  const entries = runs.map((r) => ({ jobRunId: r.jobRunId, artifacts: r.count, bytes: r.bytes, modified: r.modified.toISOString(), url: `/artifacts/${encodeURIComponent(r.jobRunId)}/` }));
  if (wantsJson(req)) return sendJson(req, res, { jobRuns: entries });
  const rows = entries.map((e) => `<tr><td><a href="${escapeHtml(e.url)}">${escapeHtml(e.jobRunId)}</a></td><td>${e.artifacts}</td><td>${e.bytes}</td><td>${e.modified}</td></tr>`);
  sendHtml(req, res, 'Job runs with artifacts', `<table>\n<tr><th>job run</th><th>artifacts</th><th>bytes</th><th>newest</th></tr>\n${rows.join('\n')}\n</table>`);
}

function wantsJson(req: IncomingMessage): boolean {
  return /\bapplication\/json\b/i.test(req.headers.accept ?? '');
}

function sendJson(req: IncomingMessage, res: ServerResponse, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  head(res, 200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-cache', ...SAFETY_HEADERS });
  res.end(req.method === 'HEAD' ? undefined : text);
}

function sendHtml(req: IncomingMessage, res: ServerResponse, title: string, body: string): void {
  const text = `<!doctype html>\n<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>\n<body>\n<h1>${escapeHtml(title)}</h1>\n${body}\n</body></html>\n`;
  head(res, 200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-cache', ...SAFETY_HEADERS });
  res.end(req.method === 'HEAD' ? undefined : text);
}

function sendError(req: IncomingMessage, res: ServerResponse, status: number, message: string): void {
  const text = `${JSON.stringify({ error: message })}\n`;
  head(res, status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...SAFETY_HEADERS });
  res.end(req.method === 'HEAD' ? undefined : text);
}

/** Sets the headers one by one (so the log line can read them back), then sends the head. */
function head(res: ServerResponse, status: number, headers: Record<string, string | number>): ServerResponse {
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  return res.writeHead(status);
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
