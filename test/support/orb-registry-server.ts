/**
 * A stand-in for CircleCI's orb registry: a real HTTP server on 127.0.0.1 that answers the
 * request `circleci config process` sends — `POST /graphql-unstable` with the `orbVersion` query
 * and `{"orbVersionRef": "ns/name@version"}` — in the same answer shapes:
 * `{"data": {"orbVersion": {id, version, orb: {id}, source}}}`, `{"data": {"orbVersion": null}}`
 * when there is no such orb or version, `{"errors": [{message}]}` for a malformed reference. It
 * resolves `@5`, `@1.2` and `@volatile` to the highest published match, as the registry does, and
 * hides a private orb from a request without its `Circle-Token`. It leaves out everything else of
 * CircleCI's API (other queries, publishing, namespaces, rate limits, TLS).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** the parsed JSON body, or the raw text when it is not JSON */
  body: unknown;
}

interface Published {
  source: string;
  id: string;
}

interface StoredOrb {
  id: string;
  /** a token a request must send as Circle-Token to see it */
  token?: string;
  versions: Map<string, Published>;
}

const REF = /^([a-z0-9][a-z0-9_-]*)\/([a-z0-9][a-z0-9_-]*)@(volatile|dev:[\w.-]+|\d+(?:\.\d+){0,2})$/i;

export class OrbRegistryStandIn {
  readonly requests: SeenRequest[] = [];
  /** answer every request with this HTTP status instead (e.g. 502) */
  failWith: number | undefined;
  /** accept requests and never answer them */
  hang = false;
  private readonly orbs = new Map<string, StoredOrb>();
  private server: Server | undefined;
  private readonly hanging = new Set<ServerResponse>();

  /** Publishes a packed orb's source under `ns/name@version`. */
  publish(ref: string, source: string, opts: { token?: string } = {}): void {
    const m = /^([^@]+)@(.+)$/.exec(ref);
    if (!m) throw new Error(`publish ${ref}: not ns/name@version`);
    let orb = this.orbs.get(m[1]);
    if (!orb) {
      orb = { id: randomUUID(), versions: new Map(), ...(opts.token ? { token: opts.token } : {}) };
      this.orbs.set(m[1], orb);
    }
    orb.versions.set(m[2], { source, id: randomUUID() });
  }

  /** Starts listening on 127.0.0.1 (any free port); returns the host URL to give as --orb-registry. */
  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.answer(req.method ?? '', req.url ?? '', req.headers, Buffer.concat(chunks).toString('utf8'), res));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.hanging.clear();
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    this.server = undefined;
  }

  private answer(method: string, path: string, headers: IncomingHttpHeaders, text: string, res: ServerResponse): void {
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // kept as text: the request is refused below
    }
    this.requests.push({ method, path, headers, body });
    if (this.hang) {
      this.hanging.add(res);
      return;
    }
    if (this.failWith !== undefined) return send(res, this.failWith, { message: 'stand-in failure' });
    if (method !== 'POST' || path !== '/graphql-unstable') return send(res, 404, { message: 'not found' });
    if (!String(headers['content-type'] ?? '').startsWith('application/json')) return send(res, 415, { message: 'send JSON' });
    const query = isObject(body) && typeof body.query === 'string' ? body.query : '';
    const variables = isObject(body) && isObject(body.variables) ? body.variables : {};
    const ref = variables.orbVersionRef;
    if (!/orbVersion\s*\(\s*orbVersionRef:\s*\$orbVersionRef\s*\)/.test(query) || !/\bsource\b/.test(query) || typeof ref !== 'string') {
      return send(res, 200, { errors: [{ message: 'the stand-in answers only the orbVersion query with an orbVersionRef variable' }] });
    }
    const m = REF.exec(ref);
    if (!m) return send(res, 200, { errors: [{ message: `Invalid orb reference: ${ref}` }] });
    const orb = this.orbs.get(`${m[1]}/${m[2]}`);
    const visible = orb && (orb.token === undefined || headers['circle-token'] === orb.token);
    const version = visible ? resolveVersion([...orb.versions.keys()], m[3]) : undefined;
    if (!orb || !version) return send(res, 200, { data: { orbVersion: null } });
    const published = orb.versions.get(version)!;
    return send(res, 200, { data: { orbVersion: { id: published.id, version, orb: { id: orb.id }, source: published.source } } });
  }
}

/** The registry's resolution: exact, dev label, the highest match of a partial version, or the highest of all. */
function resolveVersion(versions: string[], wanted: string): string | undefined {
  if (versions.includes(wanted)) return wanted;
  if (wanted.startsWith('dev:')) return undefined;
  const numeric = versions.filter((v) => /^\d+\.\d+\.\d+$/.test(v)).sort((a, b) => compare(b, a));
  if (wanted === 'volatile') return numeric[0];
  const parts = wanted.split('.');
  return parts.length < 3 ? numeric.find((v) => v.split('.').slice(0, parts.length).join('.') === wanted) : undefined;
}

function compare(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
  return 0;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
