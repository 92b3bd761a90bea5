/**
 * The `deckhand execute` flags that stream a job to an output processor, checked and resolved:
 * `--output-processor HOST:PORT [--job-id ID] [--output-token T | --output-secret-file FILE]
 * [--tls-ca FILE [--tls-cert FILE --tls-key FILE]] [--output-deadline SECONDS] [--output-url BASE]`.
 * A bad value is a UsageError naming the flag.
 */
import { readFileSync } from 'node:fs';
import { loadSecret } from '../../processor/tokens.js';
import { UsageError } from '../../usage-error.js';

export const DEFAULT_OUTPUT_DEADLINE_SECONDS = 60;

/** The raw flag values, as commander gives them. */
export interface OutputStreamFlags {
  outputProcessor?: string;
  jobId?: string;
  outputToken?: string;
  outputSecretFile?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  outputDeadline?: string;
  outputUrl?: string;
}

export interface OutputStreamOptions {
  /** HOST:PORT */
  target: string;
  /** the job's identity at the processor; undefined: a fresh UUID */
  jobId?: string;
  token?: string;
  /** the processor's token secret: the job's token is minted from it once its id is known */
  tokenSecret?: Buffer;
  tlsCa?: Buffer;
  /** a client certificate and its key, for processors that require one */
  tlsClient?: { cert: Buffer; key: Buffer };
  deadlineMs: number;
  /** the processor's HTTP base URL, for the job's page link */
  urlBase?: string;
}

/** Job ids travel in URLs and file names at the processor: keep them to a safe alphabet. */
const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** undefined when no `--output-processor` was given (and no flag that needs it). */
export function parseOutputStreamFlags(flags: OutputStreamFlags, env: NodeJS.ProcessEnv = process.env): OutputStreamOptions | undefined {
  if (flags.outputProcessor === undefined) {
    const stray = (['jobId', 'outputToken', 'outputSecretFile', 'tlsCa', 'tlsCert', 'tlsKey', 'outputDeadline', 'outputUrl'] as const).find((k) => flags[k] !== undefined);
    if (stray) throw new UsageError(`--${stray.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} only applies with --output-processor HOST:PORT`);
    return undefined;
  }
  const target = parseTarget(flags.outputProcessor);
  if (flags.jobId !== undefined && !JOB_ID.test(flags.jobId)) {
    throw new UsageError(`--job-id ${JSON.stringify(flags.jobId)} is not a valid job id: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit`);
  }
  const token = flags.outputToken ?? (env.DECKHAND_OUTPUT_TOKEN || undefined);
  if (token !== undefined && !/^[\x21-\x7e]+$/.test(token)) throw new UsageError('--output-token (or DECKHAND_OUTPUT_TOKEN) must be printable ASCII without spaces');
  // a token is minted for one job id (HMAC of the id): with a fresh UUID it could never match
  if (token !== undefined && flags.jobId === undefined) {
    throw new UsageError(`${flags.outputToken !== undefined ? '--output-token' : 'DECKHAND_OUTPUT_TOKEN'} belongs to one job id: also pass --job-id with the id it was minted for`);
  }
  const secretFile = flags.outputSecretFile ?? (env.DECKHAND_OUTPUT_SECRET_FILE || undefined);
  if (token !== undefined && secretFile !== undefined) throw new UsageError('--output-token and --output-secret-file both give the job\'s token: pass one of them');
  // whoever can read the processor's secret (the same machine, or a dispatcher) mints any job's token,
  // so the default fresh-UUID job id works too
  const tokenSecret = secretFile === undefined ? undefined : loadSecret(secretFile, false);
  let deadlineMs = DEFAULT_OUTPUT_DEADLINE_SECONDS * 1000;
  if (flags.outputDeadline !== undefined) {
    const seconds = /^\d+(\.\d+)?$/.test(flags.outputDeadline) ? Number(flags.outputDeadline) : Number.NaN;
    if (!Number.isFinite(seconds) || seconds > 86_400) throw new UsageError(`--output-deadline must be a number of seconds from 0 to 86400, got ${JSON.stringify(flags.outputDeadline)}`);
    deadlineMs = Math.round(seconds * 1000);
  }
  const tlsCa = flags.tlsCa === undefined ? undefined : readPem('--tls-ca', flags.tlsCa, 'CERTIFICATE');
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) throw new UsageError('--tls-cert and --tls-key go together: a client certificate and its private key');
  if (flags.tlsCert !== undefined && tlsCa === undefined) throw new UsageError('--tls-cert needs --tls-ca: a client certificate is only sent over TLS');
  const tlsClient = flags.tlsCert !== undefined && flags.tlsKey !== undefined ? { cert: readPem('--tls-cert', flags.tlsCert, 'CERTIFICATE'), key: readPem('--tls-key', flags.tlsKey, 'PRIVATE KEY') } : undefined;
  let urlBase: string | undefined;
  if (flags.outputUrl !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(flags.outputUrl);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw new UsageError(`--output-url must be the processor's HTTP address, e.g. http://127.0.0.1:8080, got ${JSON.stringify(flags.outputUrl)}`);
    urlBase = url.href.replace(/\/+$/, '');
  }
  return { target, ...(flags.jobId ? { jobId: flags.jobId } : {}), ...(token ? { token } : {}), ...(tokenSecret ? { tokenSecret } : {}), ...(tlsCa ? { tlsCa } : {}), ...(tlsClient ? { tlsClient } : {}), deadlineMs, ...(urlBase ? { urlBase } : {}) };
}

/** The PEM file `file` given to `flag`, which must hold a `-----BEGIN …<label>-----` block. */
function readPem(flag: string, file: string, label: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(file);
  } catch (err) {
    throw new UsageError(`${flag} ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!new RegExp(`-----BEGIN [A-Z ]*${label}-----`).test(pem.toString('latin1'))) throw new UsageError(`${flag} ${file} is not a PEM ${label.toLowerCase()} (no BEGIN ${label} line)`);
  return pem;
}

/** `host:port` or `[v6]:port`, port 1-65535. */
function parseTarget(value: string): string {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : 0;
  if (!m || port < 1 || port > 65_535) throw new UsageError(`--output-processor must be HOST:PORT (e.g. 127.0.0.1:8585), got ${JSON.stringify(value)}`);
  return value;
}
