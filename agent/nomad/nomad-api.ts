/**
 * A small client of Nomad's HTTP API (https://developer.hashicorp.com/nomad/api-docs), for what
 * `deckhand nomad dispatch|drain` need. It follows the API's conventions: the ACL token in
 * `X-Nomad-Token`, `namespace`/`region` query parameters, blocking queries (`index` and `wait`,
 * the answer's `X-Nomad-Index`), TLS with a CA, a client certificate and a server name; and
 * Nomad's errors, which are plain text with a status, turned into one line that says what failed
 * and what to do. undici is loaded on first use (the rest of the CLI never needs it).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { STATUS_CODES } from 'node:http';
import { networkErrorCode } from '../net/error-code.js';
import { InfrastructureError, UsageError } from '../errors.js';

export interface NomadConnection {
  /** http(s)://host:port of a Nomad agent (NOMAD_ADDR; default http://127.0.0.1:4646) */
  address: string;
  /** NOMAD_TOKEN */
  token?: string;
  namespace?: string;
  region?: string;
  /** PEM files: NOMAD_CACERT, NOMAD_CLIENT_CERT, NOMAD_CLIENT_KEY */
  caCert?: string;
  clientCert?: string;
  clientKey?: string;
  /** NOMAD_TLS_SERVER_NAME: the name to check the server's certificate against */
  tlsServerName?: string;
}

/** Nomad's own CLI variables (https://developer.hashicorp.com/nomad/docs/commands#environment-variables). */
export function connectionFromEnv(env: Readonly<Record<string, string | undefined>>, flags: Partial<NomadConnection> = {}): NomadConnection {
  const pick = (flag: string | undefined, name: string) => (flag !== undefined && flag !== '' ? flag : env[name] || undefined);
  const c: NomadConnection = { address: pick(flags.address, 'NOMAD_ADDR') ?? 'http://127.0.0.1:4646' };
  const set = (key: keyof NomadConnection, value: string | undefined) => {
    if (value !== undefined) (c as unknown as Record<string, string>)[key] = value;
  };
  set('token', pick(flags.token, 'NOMAD_TOKEN'));
  set('namespace', pick(flags.namespace, 'NOMAD_NAMESPACE'));
  set('region', pick(flags.region, 'NOMAD_REGION'));
  set('caCert', pick(flags.caCert, 'NOMAD_CACERT'));
  set('clientCert', pick(flags.clientCert, 'NOMAD_CLIENT_CERT'));
  set('clientKey', pick(flags.clientKey, 'NOMAD_CLIENT_KEY'));
  set('tlsServerName', pick(flags.tlsServerName, 'NOMAD_TLS_SERVER_NAME'));
  return c;
}

export interface NomadResponse<T> {
  value: T;
  /** X-Nomad-Index: what the next blocking query waits past */
  index: number;
}

export interface RequestOptions {
  query?: Record<string, string | undefined>;
  body?: unknown;
  /** a blocking query: answer once the index passes this, or after `waitSeconds` */
  index?: number;
  waitSeconds?: number;
  signal?: AbortSignal;
}

const CONNECT_TIMEOUT_MS = 10_000;
const RESPONSE_TIMEOUT_MS = 30_000;

/** A Nomad API failure: the server's answer or the connection's, in one line. */
export class NomadApiError extends InfrastructureError {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

type Undici = typeof import('undici');

export class NomadApi {
  private undici: Undici | undefined;
  private agent: InstanceType<Undici['Agent']> | undefined;
  private readonly base: URL;

  constructor(readonly connection: NomadConnection) {
    let url: URL;
    try {
      url = new URL(connection.address);
    } catch {
      throw new UsageError(`the Nomad address ${JSON.stringify(connection.address)} is not a URL: give http(s)://HOST:PORT (--address or NOMAD_ADDR)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`the Nomad address ${connection.address} is not http:// or https://`);
    if ((connection.clientCert === undefined) !== (connection.clientKey === undefined)) throw new UsageError('a client certificate needs its key, and a key its certificate (NOMAD_CLIENT_CERT and NOMAD_CLIENT_KEY)');
    this.base = url;
  }

  private dispatcher(): InstanceType<Undici['Agent']> {
    if (this.agent) return this.agent;
    this.undici ??= createRequire(import.meta.url)('undici') as Undici;
    const c = this.connection;
    const read = (path: string | undefined, what: string) => {
      if (path === undefined) return undefined;
      try {
        return readFileSync(path);
      } catch (err) {
        throw new UsageError(`the ${what} ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
    };
    const ca = read(c.caCert, 'CA certificate (NOMAD_CACERT)');
    const cert = read(c.clientCert, 'client certificate (NOMAD_CLIENT_CERT)');
    const key = read(c.clientKey, 'client key (NOMAD_CLIENT_KEY)');
    this.agent = new this.undici.Agent({
      connect: { timeout: CONNECT_TIMEOUT_MS, ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}), ...(c.tlsServerName ? { servername: c.tlsServerName } : {}) },
      // a blocking query may hold the answer for its wait (and Nomad adds up to wait/16 of jitter)
      headersTimeout: 0,
      bodyTimeout: RESPONSE_TIMEOUT_MS,
    });
    return this.agent;
  }

  async close(): Promise<void> {
    await this.agent?.close().catch(() => undefined);
  }

  async request<T>(method: 'GET' | 'PUT' | 'POST', path: string, options: RequestOptions = {}): Promise<NomadResponse<T>> {
    const dispatcher = this.dispatcher();
    const url = new URL(path, this.base);
    const query: Record<string, string | undefined> = { namespace: this.connection.namespace, region: this.connection.region, ...options.query };
    if (options.index !== undefined) {
      query.index = String(options.index);
      query.wait = `${options.waitSeconds ?? 300}s`;
    }
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') url.searchParams.set(k, v);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.connection.token) headers['x-nomad-token'] = this.connection.token;
    let body: string | undefined;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] = 'application/json';
    }
    const what = `${method} ${url.pathname}`;
    // the whole exchange is bounded: the wait of a blocking query, plus time to connect and answer
    const limitMs = CONNECT_TIMEOUT_MS + RESPONSE_TIMEOUT_MS + (options.index !== undefined ? ((options.waitSeconds ?? 300) * 17_000) / 16 : 0);
    const abort = AbortSignal.any([AbortSignal.timeout(limitMs), ...(options.signal ? [options.signal] : [])]);
    let status: number;
    let text: string;
    let indexHeader: string | string[] | undefined;
    try {
      const response = await this.undici!.request(url, { method, headers, body, dispatcher, signal: abort });
      status = response.statusCode;
      indexHeader = response.headers['x-nomad-index'];
      text = await response.body.text();
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason ?? err;
      throw this.connectionError(err, what, limitMs);
    }
    if (status < 200 || status > 299) throw this.statusError(status, text, what);
    let value: T;
    try {
      value = (text === '' ? null : JSON.parse(text)) as T;
    } catch {
      throw new NomadApiError(`Nomad at ${this.shown()} answered ${what} with something that is not JSON: is ${this.shown()} a Nomad agent's HTTP address?`, status);
    }
    const index = Number(Array.isArray(indexHeader) ? indexHeader[0] : indexHeader);
    return { value, index: Number.isFinite(index) ? index : 0 };
  }

  private shown(): string {
    return `${this.base.protocol}//${this.base.host}`;
  }

  private statusError(status: number, body: string, what: string): NomadApiError {
    const said = body.replace(/\s+/g, ' ').trim().slice(0, 300) || STATUS_CODES[status] || 'no explanation';
    const answered = `Nomad at ${this.shown()} refused ${what}: ${status} ${said}`;
    let fix: string;
    if (status === 403 || status === 401) fix = this.connection.token ? 'check that the token (NOMAD_TOKEN) is valid and its ACL policy allows this' : 'the cluster has ACLs: set NOMAD_TOKEN (or --token) to a token allowed to do this';
    else if (status === 404) fix = 'check the name (job or node) and the namespace (NOMAD_NAMESPACE)';
    else if (status === 400) fix = 'the request does not fit what Nomad expects: see the reason above';
    else if (status >= 500) fix = 'Nomad could not do it now: check the servers (a leader elected?) and try again';
    else fix = 'see the reason above';
    return new NomadApiError(`${answered}; ${fix}`, status);
  }

  private connectionError(err: unknown, what: string, limitMs: number): NomadApiError {
    const code = networkErrorCode(err);
    const at = `cannot reach Nomad at ${this.shown()} (${what})`;
    if (code === 'ECONNREFUSED') return new NomadApiError(`${at}: connection refused; check NOMAD_ADDR (or --address) and that the agent is running`);
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new NomadApiError(`${at}: the host name does not resolve; check NOMAD_ADDR`);
    if (code === 'UND_ERR_CONNECT_TIMEOUT') return new NomadApiError(`${at}: no connection within ${CONNECT_TIMEOUT_MS / 1000} s; check the network path to the agent`);
    if (code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_ABORTED' || code === 'ABORT_ERR' || (err as Error)?.name === 'TimeoutError') {
      return new NomadApiError(`${at}: no complete answer within ${Math.round(limitMs / 1000)} s; check the agent's health`);
    }
    if (code && (/^(CERT_|ERR_TLS_|ERR_SSL_)/.test(code) || /CERT|SELF_SIGNED|UNABLE_TO_|HOSTNAME/.test(code))) {
      return new NomadApiError(`${at}: its TLS certificate is not trusted (${code}); give the CA that signed it with NOMAD_CACERT (or --ca-cert), and NOMAD_TLS_SERVER_NAME when the certificate names another host`);
    }
    if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPROTO') {
      return new NomadApiError(`${at}: the connection was closed (${code}); if the agent serves HTTPS, use an https:// address`);
    }
    return new NomadApiError(`${at}: ${code ?? (err instanceof Error ? err.message : String(err))}`);
  }
}


/** A job or node ID in a URL path: dispatched job IDs hold `/`. */
export function pathSegment(id: string): string {
  return encodeURIComponent(id);
}
