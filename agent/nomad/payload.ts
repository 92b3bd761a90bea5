/**
 * The assignment a Nomad dispatch hands the agent. A parameterized job whose task has
 * `dispatch_payload { file = "payload" }` gets the dispatch payload written to
 * `$NOMAD_TASK_DIR/payload` before the task starts; `--payload FILE` names another file. The file
 * holds one of:
 *
 * - the JobAssignment as UTF-8 JSON;
 * - the same, gzipped (recognised by the gzip magic bytes 1f 8b, whatever the file is called);
 * - a reference `{"assignmentUrl": "https://…", "tokenFile": "/secrets/token"}` (exactly those
 *   keys, `tokenFile` optional): the assignment is fetched from the URL, with
 *   `Authorization: Bearer <token file's contents>` when a token file is named. The answer may
 *   itself be JSON or gzipped JSON. This is how an assignment too big for a payload gets there.
 *
 * What comes back is the JSON value, not yet validated: the assignment's validator checks it.
 * Every failure is a PayloadError with a one-line message naming the file or the URL (never the
 * token, nor a URL's credentials or query string) and what to do.
 */
import { open, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { STATUS_CODES } from 'node:http';
import { join } from 'node:path';
import { gunzip } from 'node:zlib';
import { networkErrorCode } from '../net/error-code.js';
import { PayloadError } from './payload-error.js';

/**
 * Nomad refuses a dispatch whose payload is over 16384 bytes (16 KiB): "The payload has a size
 * limit of 16384 bytes (16KiB)", https://developer.hashicorp.com/nomad/commands/job/dispatch
 * (the same limit holds for the HTTP API, https://developer.hashicorp.com/nomad/api-docs/jobs#dispatch-job).
 * The server checks the length of the payload bytes as the dispatcher sent them
 * (`len(req.Payload) > DispatchPayloadSizeLimit`, nomad/job_endpoint.go), before Nomad's own
 * snappy compression for storage; so a gzipped assignment counts by its gzipped size, which is
 * why gzip lets larger assignments through. A file that arrived by dispatch can never be over
 * the limit, but an operator may put one in place by hand, so it is checked all the same.
 */
export const NOMAD_DISPATCH_PAYLOAD_LIMIT = 16 * 1024;

/** The file name the parameterized job's `dispatch_payload` block is expected to use. */
export const PAYLOAD_FILE_NAME = 'payload';

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_RESPONSE_TIMEOUT_MS = 30_000;
/** Largest body a reference's URL may answer with, as sent (gzipped or not). */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;
/** Largest a gzipped payload or body may grow to: an assignment is kilobytes; this stops a gzip bomb. */
export const DEFAULT_MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024;

export interface ReadPayloadOptions {
  /** the payload file (see resolvePayloadPath) */
  path: string;
  /** a reference: how long connecting (TCP and TLS) may take; default 10 s */
  connectTimeoutMs?: number;
  /**
   * a reference: how long the server may take to start answering, and to go quiet while sending
   * the body; default 30 s. The whole fetch is also bounded by connect + response timeout.
   */
  responseTimeoutMs?: number;
  /** a reference: the largest body accepted, in bytes as sent; default 64 MiB */
  maxBodyBytes?: number;
  /** the largest a gzipped payload or body may decompress to; default 64 MiB */
  maxDecompressedBytes?: number;
  /** cancels a fetch under way (the signal's reason is thrown) */
  signal?: AbortSignal;
}

/** Where to fetch the assignment from, when the payload is a reference rather than the assignment. */
export interface AssignmentReference {
  /** an http: or https: URL */
  assignmentUrl: string;
  /** a file holding the bearer token to send; relative paths are from the working directory */
  tokenFile?: string;
}

/** The payload file: `--payload FILE` if given, else `$NOMAD_TASK_DIR/payload`. */
export function resolvePayloadPath(payloadFlag: string | undefined, taskDir: string | undefined): string {
  if (payloadFlag) return payloadFlag;
  if (taskDir) return join(taskDir, PAYLOAD_FILE_NAME);
  throw new PayloadError('input', 'NOMAD_TASK_DIR is not set, so the agent is not running as a Nomad task: pass --payload FILE to name the assignment file');
}

/** Reads the payload file and returns the assignment's JSON value (fetched first if the payload is a reference). */
export async function readDispatchPayload(options: ReadPayloadOptions): Promise<unknown> {
  const { path } = options;
  const maxDecompressed = options.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES;
  const bytes = await readPayloadFile(path);
  const what = `payload file ${path}`;
  if (bytes.length === 0) {
    throw new PayloadError('input', `${what} is empty: the job was dispatched without a payload; dispatch it with the assignment (JSON or gzipped JSON) or a reference {"assignmentUrl": "https://…"}, and make the parameterized job's payload "required"`);
  }
  const value = await decodeJson(bytes, what, maxDecompressed);
  const reference = parseAssignmentReference(value, what);
  return reference === undefined ? value : fetchAssignment(reference, options);
}

/**
 * A reference is an object whose keys are `assignmentUrl` and optionally `tokenFile`, nothing
 * else; any other value is taken to be the assignment itself. An object of that shape with a
 * value of the wrong type is a broken reference (it cannot be an assignment either).
 */
export function parseAssignmentReference(value: unknown, where = 'the payload'): AssignmentReference | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const keys = Object.keys(value);
  if (!keys.includes('assignmentUrl') || !keys.every((k) => k === 'assignmentUrl' || k === 'tokenFile')) return undefined;
  const { assignmentUrl, tokenFile } = value as Record<string, unknown>;
  if (typeof assignmentUrl !== 'string' || assignmentUrl.trim() === '') {
    throw new PayloadError('input', `${where} is a reference whose assignmentUrl is not a URL string: give {"assignmentUrl": "https://…"}`);
  }
  if (tokenFile !== undefined && (typeof tokenFile !== 'string' || tokenFile === '')) {
    throw new PayloadError('input', `${where} is a reference whose tokenFile is not a file path: give the path of a file holding the token, or leave tokenFile out`);
  }
  return tokenFile === undefined ? { assignmentUrl } : { assignmentUrl, tokenFile };
}

/** Fetches a reference's assignment: the JSON value of the body (gunzipped if it is gzip). */
export async function fetchAssignment(reference: AssignmentReference, options: Omit<ReadPayloadOptions, 'path'> = {}): Promise<unknown> {
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const responseTimeoutMs = options.responseTimeoutMs ?? DEFAULT_RESPONSE_TIMEOUT_MS;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxDecompressed = options.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES;

  const url = parseReferenceUrl(reference.assignmentUrl);
  const shown = displayUrl(url);
  const token = reference.tokenFile === undefined ? undefined : await readToken(reference.tokenFile, shown);
  const headers: Record<string, string> = { accept: 'application/json, application/gzip;q=0.9' };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;

  // loaded here, not at the top: ~40 ms that only a reference needs (required: the bundle keeps it external)
  const { Agent, request } = createRequire(import.meta.url)('undici') as typeof import('undici');
  const agent = new Agent({
    connect: { timeout: connectTimeoutMs },
    headersTimeout: responseTimeoutMs,
    bodyTimeout: responseTimeoutMs,
  });
  const abort = new AbortController();
  let timedOut = false;
  const deadline = setTimeout(() => {
    timedOut = true;
    abort.abort();
  }, connectTimeoutMs + responseTimeoutMs);
  const onCallerAbort = () => abort.abort();
  options.signal?.addEventListener('abort', onCallerAbort, { once: true });
  if (options.signal?.aborted) abort.abort();

  let body: Buffer;
  try {
    const response = await request(url, { method: 'GET', headers, dispatcher: agent, signal: abort.signal, maxRedirections: 0 });
    if (response.statusCode < 200 || response.statusCode > 299) {
      const hint = await errorBodyHint(response.body, token);
      throw statusError(response.statusCode, shown, reference.tokenFile, hint);
    }
    const declared = Number(response.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBodyBytes) {
      discard(response.body);
      throw tooBig(shown, `${declared} bytes`, maxBodyBytes);
    }
    body = await readBody(response.body, maxBodyBytes, shown);
  } catch (err) {
    if (err instanceof PayloadError) throw err;
    if (options.signal?.aborted && !timedOut) throw options.signal.reason ?? err;
    throw fetchError(err, shown, timedOut, connectTimeoutMs, responseTimeoutMs);
  } finally {
    clearTimeout(deadline);
    options.signal?.removeEventListener('abort', onCallerAbort);
    await agent.destroy().catch(() => undefined);
  }

  const what = `the assignment at ${shown}`;
  if (body.length === 0) throw new PayloadError('input', `${what} is empty (the server answered with no body): check that the assignment was stored at assignmentUrl`);
  const value = await decodeJson(body, what, maxDecompressed);
  if (parseAssignmentReference(value, what) !== undefined) {
    throw new PayloadError('input', `${what} is itself a reference; a reference must lead to the assignment, references are not followed twice`);
  }
  return value;
}

// ---- the payload file ----

async function readPayloadFile(path: string): Promise<Buffer> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw fileError(err, path);
  }
  try {
    const stat = await handle.stat();
    if (stat.isDirectory()) throw new PayloadError('input', `payload file ${path} is a directory: name the file that holds the assignment`);
    if (stat.isFile() && stat.size > NOMAD_DISPATCH_PAYLOAD_LIMIT) throw overLimit(path, `${stat.size} bytes`);
    // Read at most one byte past the limit, whatever stat said (a file can grow, a FIFO has no size).
    const buffer = Buffer.alloc(NOMAD_DISPATCH_PAYLOAD_LIMIT + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > NOMAD_DISPATCH_PAYLOAD_LIMIT) throw overLimit(path, `more than ${NOMAD_DISPATCH_PAYLOAD_LIMIT} bytes`);
    return buffer.subarray(0, length);
  } catch (err) {
    if (err instanceof PayloadError) throw err;
    throw fileError(err, path);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

function overLimit(path: string, size: string): PayloadError {
  return new PayloadError('input', `payload file ${path} is ${size}, over Nomad's dispatch payload limit of ${NOMAD_DISPATCH_PAYLOAD_LIMIT} bytes (16 KiB): dispatch the assignment gzipped, or dispatch a reference {"assignmentUrl": "https://…"} to where the assignment is stored`);
}

function fileError(err: unknown, path: string): PayloadError {
  const code = networkErrorCode(err);
  if (code === 'ENOENT') {
    return new PayloadError('input', `payload file ${path} does not exist: run the agent as the task of a Nomad parameterized job whose task has dispatch_payload { file = "${PAYLOAD_FILE_NAME}" }, or pass --payload FILE`, { cause: err });
  }
  if (code === 'EACCES' || code === 'EPERM') return new PayloadError('input', `payload file ${path} cannot be read (permission denied): make it readable by the agent's user`, { cause: err });
  if (code === 'EISDIR') return new PayloadError('input', `payload file ${path} is a directory: name the file that holds the assignment`, { cause: err });
  return new PayloadError('input', `payload file ${path} cannot be read: ${code ?? errorMessage(err)}`, { cause: err });
}

// ---- decoding: gzip or not, UTF-8, JSON ----

async function decodeJson(bytes: Buffer, what: string, maxDecompressed: number): Promise<unknown> {
  let data = bytes;
  let gzipped = false;
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    gzipped = true;
    data = await gunzipBounded(bytes, what, maxDecompressed);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(data);
  } catch {
    throw new PayloadError('input', `${what} is not UTF-8 text${gzipped ? ' once decompressed' : ''}: it must hold the assignment as JSON, gzipped JSON or a reference {"assignmentUrl": "https://…"}`);
  }
  // TextDecoder drops a leading byte-order mark, which JSON.parse would refuse.
  if (text.trim() === '') {
    throw new PayloadError('input', `${what} holds no JSON${gzipped ? ' once decompressed' : ''} (only white space): it must hold the assignment`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new PayloadError('input', `${what} is not valid JSON${gzipped ? ' once decompressed' : ''} (${describeJsonError(errorMessage(err), text)}): it must hold the assignment as JSON, gzipped JSON or a reference {"assignmentUrl": "https://…"}`);
  }
}

function gunzipBounded(bytes: Buffer, what: string, maxOutputLength: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    gunzip(bytes, { maxOutputLength }, (err, result) => {
      if (!err) return resolve(result);
      const code = networkErrorCode(err);
      if (code === 'ERR_BUFFER_TOO_LARGE') {
        reject(new PayloadError('input', `${what} decompresses to more than ${formatBytes(maxOutputLength)} (the agent's limit); an assignment is far smaller: check what was dispatched`, { cause: err }));
      } else if (code === 'Z_BUF_ERROR') {
        reject(new PayloadError('input', `${what} is gzip but cut short (${errorMessage(err)}): send the whole compressed assignment`, { cause: err }));
      } else {
        reject(new PayloadError('input', `${what} starts like gzip but is not valid gzip (${errorMessage(err)}): send the assignment as JSON or as one gzip stream of JSON`, { cause: err }));
      }
    });
  });
}

/**
 * JSON.parse's reason with the line and column where it failed. The position comes from the
 * message: "… in JSON at position 42" (later Node versions add the line and column themselves),
 * or, for V8's "Unexpected token 'x', …"snippet"… is not valid JSON", from where the quoted
 * snippet sits: V8 quotes 10 characters either side of the bad one and marks a cut side with
 * "...". A short text is quoted whole, position unknown; the quote then stands in for it,
 * escaped so that the message stays one line.
 */
function describeJsonError(message: string, text: string): string {
  const where = (offset: number) => {
    const before = text.slice(0, offset);
    return `line ${before.split('\n').length}, column ${offset - before.lastIndexOf('\n')}, position ${offset}`;
  };
  const position = /^(.*?)(?: in JSON)? at position (\d+)/s.exec(message);
  if (position) return `${position[1]} at ${where(Number(position[2]))}`;
  const quoted = /^(.*?), (\.\.\.)?"([\s\S]*)"(\.\.\.)? is not valid JSON$/.exec(message);
  if (quoted) {
    const [, reason, cutBefore, snippet, cutAfter] = quoted;
    const CONTEXT = 10;
    let offset: number | undefined;
    if (cutBefore && cutAfter) {
      const at = text.indexOf(snippet);
      if (at >= 0 && text.indexOf(snippet, at + 1) < 0) offset = at + CONTEXT;
    } else if (cutBefore && text.endsWith(snippet)) {
      offset = text.length - snippet.length + CONTEXT;
    } else if (cutAfter && text.startsWith(snippet)) {
      offset = snippet.length - CONTEXT;
    }
    if (offset !== undefined) return `${reason} at ${where(offset)}`;
    return `${reason} near ${JSON.stringify(snippet.length > 60 ? `${snippet.slice(0, 60)}…` : snippet)}`;
  }
  return message.replace(/\s+/g, ' ');
}

// ---- fetching a reference ----

function parseReferenceUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new PayloadError('input', `the payload's assignmentUrl is not a valid URL: give an absolute http: or https: URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new PayloadError('input', `the payload's assignmentUrl is a ${url.protocol} URL: only http: and https: URLs are fetched`);
  }
  return url;
}

/** The URL as errors show it: without user name, password, query (a signed URL's signature) or fragment. */
function displayUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}${url.search ? '?…' : ''}`;
}

async function readToken(tokenFile: string, shown: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(tokenFile, 'utf8');
  } catch (err) {
    const code = networkErrorCode(err);
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'cannot be read (permission denied)' : `cannot be read (${code ?? errorMessage(err)})`;
    throw new PayloadError('input', `token file ${tokenFile} (the payload's tokenFile, for ${shown}) ${why}: provide it, e.g. with a Nomad template into the secrets directory`, { cause: err });
  }
  const token = text.trim();
  if (token === '') throw new PayloadError('input', `token file ${tokenFile} (the payload's tokenFile, for ${shown}) is empty: it must hold the bearer token`);
  // a header value: visible ASCII only (no line breaks or spaces inside)
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw new PayloadError('input', `token file ${tokenFile} (the payload's tokenFile, for ${shown}) holds more than one token-like word or characters a header cannot carry: it must hold only the bearer token`);
  }
  return token;
}

type Body = AsyncIterable<Buffer> & { destroy(): void; on(event: 'error', listener: () => void): unknown };

/** Stops reading a body: destroying an undici body unread makes it emit an abort error, which nobody needs. */
function discard(body: Body): void {
  body.on('error', () => undefined);
  body.destroy();
}

async function readBody(body: Body, maxBodyBytes: number, shown: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of body) {
    length += chunk.length;
    if (length > maxBodyBytes) {
      discard(body);
      throw tooBig(shown, `more than ${maxBodyBytes} bytes`, maxBodyBytes);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, length);
}

function tooBig(shown: string, size: string, maxBodyBytes: number): PayloadError {
  return new PayloadError('input', `the assignment at ${shown} is ${size}, over the agent's limit of ${formatBytes(maxBodyBytes)}: an assignment is far smaller; check what is stored at assignmentUrl`);
}

/** Up to 200 characters of an error answer's body, on one line and without the token: servers often say why there. */
async function errorBodyHint(body: Body, token: string | undefined): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of body) {
      chunks.push(chunk);
      length += chunk.length;
      if (length >= 512) break;
    }
  } catch {
    // the status is what matters
  } finally {
    discard(body);
  }
  let text = Buffer.concat(chunks).subarray(0, 512).toString('utf8').replace(/\s+/g, ' ').trim();
  if (token) text = text.replaceAll(token, '[token]');
  if (!text || /^<(!doctype|html)/i.test(text)) return '';
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

function statusError(status: number, shown: string, tokenFile: string | undefined, hint: string): PayloadError {
  const answered = `${shown} answered ${status}${STATUS_CODES[status] ? ` ${STATUS_CODES[status]}` : ''}${hint ? ` ("${hint}")` : ''}`;
  if (status >= 300 && status < 400) {
    return new PayloadError('input', `fetching the assignment: ${answered}; redirects are not followed: put the final URL in assignmentUrl`);
  }
  if (status === 401 || status === 403) {
    const fix = tokenFile === undefined ? 'the reference has no tokenFile: add one naming a file that holds a valid token' : `check the token in ${tokenFile}`;
    return new PayloadError('input', `fetching the assignment: ${answered}; ${fix}`);
  }
  if (status === 404 || status === 410) {
    return new PayloadError('input', `fetching the assignment: ${answered}; check assignmentUrl (the assignment may have expired or never been stored)`);
  }
  if (status === 408 || status === 429 || status >= 500) {
    return new PayloadError('infrastructure', `fetching the assignment: ${answered}; the server could not serve it now: try the job again, and check the server if it persists`);
  }
  return new PayloadError('input', `fetching the assignment: ${answered}; check assignmentUrl and the server's requirements`);
}

function fetchError(err: unknown, shown: string, timedOut: boolean, connectTimeoutMs: number, responseTimeoutMs: number): PayloadError {
  const code = networkErrorCode(err);
  const fail = (why: string, fix: string) => new PayloadError('infrastructure', `could not fetch the assignment from ${shown}: ${why}; ${fix}`, { cause: err });
  if (timedOut) {
    return fail(`no complete answer within ${formatMs(connectTimeoutMs + responseTimeoutMs)}`, 'check that the server is healthy, or raise the response timeout');
  }
  switch (code) {
    case 'ECONNREFUSED':
      return fail('connection refused', "check that the server is up and that the URL's host and port are right");
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ETIMEDOUT':
      return fail(`no connection within ${formatMs(connectTimeoutMs)}`, 'check the network path to the server (firewall, routing), or raise the connect timeout');
    case 'UND_ERR_HEADERS_TIMEOUT':
      return fail(`the server accepted the connection but did not answer within ${formatMs(responseTimeoutMs)}`, 'check that the server is healthy, or raise the response timeout');
    case 'UND_ERR_BODY_TIMEOUT':
      return fail(`the server stopped sending the answer for ${formatMs(responseTimeoutMs)}`, 'check that the server is healthy, or raise the response timeout');
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return fail(`the host name could not be resolved (${code})`, "check the URL's host name and the task's DNS");
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
      return fail(`the connection was closed before the whole answer arrived (${code})`, 'try the job again, and check the server (or a proxy in between) if it persists');
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return fail(`the host is unreachable (${code})`, 'check the network path to the server');
  }
  if (code && (/^(CERT_|ERR_TLS_|ERR_SSL_)/.test(code) || /CERT|SELF_SIGNED|UNABLE_TO_/.test(code))) {
    return fail(`TLS failed (${code})`, "check the server's certificate; a private CA can be added with NODE_EXTRA_CA_CERTS");
  }
  return fail(code ?? errorMessage(err).replace(/\s+/g, ' '), 'check the URL and the server');
}

// ---- small helpers ----


function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

function formatBytes(n: number): string {
  if (n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}
