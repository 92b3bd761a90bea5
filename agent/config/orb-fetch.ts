/**
 * Fetching an orb's source from an orb registry: CircleCI's (https://circleci.com) or a CircleCI
 * Server's, over the GraphQL API that `circleci config process` and `circleci orb source` use:
 *
 *   POST {host}/graphql-unstable   {"query": "query($orbVersionRef: String!) { orbVersion(…) { id version orb { id } source } }",
 *                                   "variables": {"orbVersionRef": "ns/name@version"}}
 *   200 {"data": {"orbVersion": {"id": …, "version": "5.1.0", "orb": {"id": …}, "source": "<the packed orb YAML>"}}}
 *   200 {"data": {"orbVersion": null}}             no such orb or version
 *   200 {"errors": [{"message": …}, …]}            refused (a malformed reference, no access…)
 *
 * The registry resolves partial references itself (`@5`, `@1.2`, `@volatile`) and answers with the
 * exact version. A token (CIRCLE_TOKEN) is sent as `Circle-Token` for private orbs. Every failure is
 * one line naming the registry's host and what to do.
 */
import { createRequire } from 'node:module';
import { DeckhandError, errorMessage } from '../errors.js';
import { networkErrorCode } from '../net/error-code.js';

export const DEFAULT_ORB_REGISTRY = 'https://circleci.com';
const CONNECT_TIMEOUT_MS = 10_000;
const RESPONSE_TIMEOUT_MS = 30_000;
/** an orb's source is kilobytes; this stops a runaway answer */
const MAX_BODY_BYTES = 16 * 1024 * 1024;

const ORB_VERSION_QUERY = `query($orbVersionRef: String!) {
  orbVersion(orbVersionRef: $orbVersionRef) {
    id
    version
    orb { id }
    source
  }
}`;

export interface OrbVersion {
  id: string;
  /** the exact version the registry resolved the reference to */
  version: string;
  orbId: string;
  /** the packed orb, YAML */
  source: string;
}

export interface OrbSourceOptions {
  /** the registry's host URL; default https://circleci.com */
  host?: string;
  /** a CircleCI API token, for private orbs */
  token?: string;
  connectTimeoutMs?: number;
  responseTimeoutMs?: number;
}

/** The registry could not be asked, or would not answer: the orb may well exist. */
export class OrbFetchError extends DeckhandError {
  override name = 'OrbFetchError';
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'infrastructure', options);
  }
}

/** A client of one orb registry. */
export class OrbSource {
  readonly host: string;
  private readonly endpoint: URL;
  private readonly token: string | undefined;
  private readonly connectTimeoutMs: number;
  private readonly responseTimeoutMs: number;

  constructor(opts: OrbSourceOptions = {}) {
    this.host = normalizeHost(opts.host ?? DEFAULT_ORB_REGISTRY);
    this.endpoint = new URL(`${this.host}/graphql-unstable`);
    this.token = opts.token === undefined || opts.token === '' ? undefined : opts.token;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
    this.responseTimeoutMs = opts.responseTimeoutMs ?? RESPONSE_TIMEOUT_MS;
  }

  /** What the registry answers for `ns/name@version` (without a version: @volatile); undefined when it has no such orb or version. */
  async orbVersion(reference: string): Promise<OrbVersion | undefined> {
    const ref = reference.includes('@') ? reference : `${reference}@volatile`;
    const where = this.endpoint.host;
    const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', accept: 'application/json' };
    if (this.token !== undefined) headers['circle-token'] = this.token;
    // loaded here, not at the top: only a fetch needs it (the bundle keeps it external)
    const { Agent, request } = createRequire(import.meta.url)('undici') as typeof import('undici');
    const agent = new Agent({ connect: { timeout: this.connectTimeoutMs }, headersTimeout: this.responseTimeoutMs, bodyTimeout: this.responseTimeoutMs });
    const abort = new AbortController();
    let timedOut = false;
    const deadline = setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, this.connectTimeoutMs + this.responseTimeoutMs);
    let status: number;
    let text: string;
    try {
      const response = await request(this.endpoint, {
        method: 'POST',
        headers,
        body: JSON.stringify({ query: ORB_VERSION_QUERY, variables: { orbVersionRef: ref } }),
        dispatcher: agent,
        signal: abort.signal,
      });
      status = response.statusCode;
      text = await readText(response.body, where);
    } catch (err) {
      if (err instanceof OrbFetchError) throw err;
      throw new OrbFetchError(`cannot reach the orb registry ${where} for ${ref}: ${describeNetworkError(err, timedOut, this.connectTimeoutMs + this.responseTimeoutMs)}; check the network or the registry address (--orb-registry, DECKHAND_ORB_REGISTRY), or work offline with orbs already stored (--offline)`, { cause: err });
    } finally {
      clearTimeout(deadline);
      await agent.destroy().catch(() => undefined);
    }
    if (status !== 200) {
      const hint = status === 401 || status === 403 ? (this.token === undefined ? '; a private orb needs a token: set CIRCLE_TOKEN' : '; check that CIRCLE_TOKEN may read this orb') : '';
      // node:http only for its status names, and only here: a compile that fetches nothing stays off the network modules
      const { STATUS_CODES } = createRequire(import.meta.url)('node:http') as typeof import('node:http');
      throw new OrbFetchError(`the orb registry ${where} answered ${status} ${STATUS_CODES[status] ?? ''}`.trimEnd() + ` for ${ref}${hint}`);
    }
    return parseAnswer(text, ref, where, this.token !== undefined);
  }
}

/** `https://host[:port][/path]` without a trailing slash; anything else is refused in one line. */
export function normalizeHost(host: string): string {
  let url: URL;
  try {
    url = new URL(host);
  } catch {
    throw new DeckhandError(`orb registry "${host}" is not a URL: give one like https://circleci.com (--orb-registry or DECKHAND_ORB_REGISTRY)`, 'input');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new DeckhandError(`orb registry "${host}" is a ${url.protocol} URL: give an http: or https: URL such as https://circleci.com`, 'input');
  }
  if (url.search || url.hash || url.username || url.password) {
    throw new DeckhandError(`orb registry "${host}" must be a plain host URL (no credentials, query or fragment), like https://circleci.example.com`, 'input');
  }
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

function parseAnswer(text: string, ref: string, where: string, withToken: boolean): OrbVersion | undefined {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new OrbFetchError(`the orb registry ${where} answered ${ref} with something that is not JSON: is it an orb registry (a CircleCI host)?`);
  }
  if (!isObject(body)) throw new OrbFetchError(`the orb registry ${where} answered ${ref} with JSON that is not a GraphQL answer`);
  const errors = body.errors;
  if (Array.isArray(errors) && errors.length > 0) {
    const messages = errors.map((e) => (isObject(e) && typeof e.message === 'string' ? e.message : JSON.stringify(e))).join('; ');
    throw new DeckhandError(`the orb registry ${where} refused ${ref}: ${messages.replace(/\s+/g, ' ')}${withToken ? '' : ' (a private orb needs CIRCLE_TOKEN)'}`, 'input');
  }
  const data = body.data;
  if (!isObject(data) || !('orbVersion' in data)) throw new OrbFetchError(`the orb registry ${where} answered ${ref} without data.orbVersion`);
  const v = data.orbVersion;
  if (v === null) return undefined;
  if (!isObject(v) || typeof v.source !== 'string' || typeof v.version !== 'string' || v.version === '') {
    throw new OrbFetchError(`the orb registry ${where} answered ${ref} with an orbVersion that lacks its version or source`);
  }
  // CircleCI answers an orb that never published a version with an empty id
  if (v.id === '' || v.id === null) return undefined;
  return { id: String(v.id ?? ''), version: v.version, orbId: isObject(v.orb) ? String(v.orb.id ?? '') : '', source: v.source };
}

async function readText(body: AsyncIterable<Buffer> & { destroy(): void; on(e: 'error', l: () => void): unknown }, where: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      body.on('error', () => undefined);
      body.destroy();
      throw new OrbFetchError(`the orb registry ${where} sent more than ${MAX_BODY_BYTES / 1048576} MB for one orb; that is not an orb's source`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function describeNetworkError(err: unknown, timedOut: boolean, totalMs: number): string {
  if (timedOut) return `no answer within ${totalMs / 1000} s`;
  const c = networkErrorCode(err);
  if (c === 'UND_ERR_CONNECT_TIMEOUT') return 'connecting timed out';
  if (c === 'UND_ERR_HEADERS_TIMEOUT' || c === 'UND_ERR_BODY_TIMEOUT') return 'it stopped answering';
  if (c === 'ECONNREFUSED') return 'connection refused';
  if (c === 'ENOTFOUND' || c === 'EAI_AGAIN') return 'its name does not resolve';
  if (c === 'ECONNRESET' || c === 'UND_ERR_SOCKET') return 'the connection was cut';
  if (typeof c === 'string' && /CERT|SSL|TLS/i.test(c)) return `its certificate was not accepted (${c})`;
  return errorMessage(err).split('\n')[0];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
