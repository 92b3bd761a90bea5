/**
 * Where a job's output is streamed, in its two forms: the `deckhand execute` flags that name an
 * output processor, checked and turned into the assignment's OutputTarget (references only: a
 * token given on the command line travels in the agent's environment, not in the assignment);
 * and an OutputTarget opened at job start, its references read, into the sender's options.
 *
 * `--output-processor HOST:PORT [--job-id ID] [--output-token T | --output-secret-file FILE]
 * [--tls-ca FILE [--tls-cert FILE --tls-key FILE]] [--output-deadline SECONDS] [--output-url BASE]`
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { OutputTarget } from '../../assignment/assignment.js';
import { readSecret, type AgentEnvironment } from '../../assignment/secrets.js';
import { jobToken, loadSecret } from '../../processor/tokens.js';
import { UsageError } from '../../errors.js';

export const DEFAULT_OUTPUT_DEADLINE_SECONDS = 60;

/** The variable a token given with --output-token travels in, from the command line to the core. */
export const OUTPUT_TOKEN_VARIABLE = 'DECKHAND_OUTPUT_TOKEN';

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

/** What the sender needs, every reference read. */
export interface OutputStreamOptions {
  /** HOST:PORT */
  target: string;
  jobId: string;
  token?: string;
  tlsCa?: Buffer;
  /** a client certificate and its key, for processors that require one */
  tlsClient?: { cert: Buffer; key: Buffer };
  deadlineMs: number;
  /** the processor's HTTP base URL, for the job's page link */
  urlBase?: string;
}

/** Job ids travel in URLs and file names at the processor: keep them to a safe alphabet. */
const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * The OutputTarget the flags name (undefined without `--output-processor`), and the variables the
 * agent's environment must carry for it (a token given as a flag value).
 */
export function outputTargetFromFlags(flags: OutputStreamFlags, defaultJobId: string, env: AgentEnvironment): { target: OutputTarget; environment: Record<string, string> } | undefined {
  if (flags.outputProcessor === undefined) {
    const stray = (['jobId', 'outputToken', 'outputSecretFile', 'tlsCa', 'tlsCert', 'tlsKey', 'outputDeadline', 'outputUrl'] as const).find((k) => flags[k] !== undefined);
    if (stray) throw new UsageError(`--${stray.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} only applies with --output-processor HOST:PORT`);
    return undefined;
  }
  const processor = parseTarget(flags.outputProcessor);
  if (flags.jobId !== undefined && !JOB_ID.test(flags.jobId)) {
    throw new UsageError(`--job-id ${JSON.stringify(flags.jobId)} is not a valid job id: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit`);
  }
  const token = flags.outputToken ?? (env[OUTPUT_TOKEN_VARIABLE] || undefined);
  if (token !== undefined && !/^[\x21-\x7e]+$/.test(token)) throw new UsageError(`--output-token (or ${OUTPUT_TOKEN_VARIABLE}) must be printable ASCII without spaces`);
  // a token is minted for one job id (HMAC of the id): with a fresh UUID it could never match
  if (token !== undefined && flags.jobId === undefined) {
    throw new UsageError(`${flags.outputToken !== undefined ? '--output-token' : OUTPUT_TOKEN_VARIABLE} belongs to one job id: also pass --job-id with the id it was minted for`);
  }
  const secretFile = flags.outputSecretFile ?? (env.DECKHAND_OUTPUT_SECRET_FILE || undefined);
  if (token !== undefined && secretFile !== undefined) throw new UsageError('--output-token and --output-secret-file both give the job\'s token: pass one of them');
  // read now, so that a wrong file is an error naming the flag before anything starts
  if (secretFile !== undefined) loadSecret(secretFile, false);
  let deadlineSeconds = DEFAULT_OUTPUT_DEADLINE_SECONDS;
  if (flags.outputDeadline !== undefined) {
    const seconds = /^\d+(\.\d+)?$/.test(flags.outputDeadline) ? Number(flags.outputDeadline) : Number.NaN;
    if (!Number.isFinite(seconds) || seconds > 86_400) throw new UsageError(`--output-deadline must be a number of seconds from 0 to 86400, got ${JSON.stringify(flags.outputDeadline)}`);
    deadlineSeconds = seconds;
  }
  if (flags.tlsCa !== undefined) readPem('--tls-ca', flags.tlsCa, 'CERTIFICATE');
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) throw new UsageError('--tls-cert and --tls-key go together: a client certificate and its private key');
  if (flags.tlsCert !== undefined && flags.tlsCa === undefined) throw new UsageError('--tls-cert needs --tls-ca: a client certificate is only sent over TLS');
  if (flags.tlsCert !== undefined && flags.tlsKey !== undefined) {
    readPem('--tls-cert', flags.tlsCert, 'CERTIFICATE');
    readPem('--tls-key', flags.tlsKey, 'PRIVATE KEY');
  }
  let url: string | undefined;
  if (flags.outputUrl !== undefined) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(flags.outputUrl);
    } catch {
      parsed = undefined;
    }
    if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) throw new UsageError(`--output-url must be the processor's HTTP address, e.g. http://127.0.0.1:8080, got ${JSON.stringify(flags.outputUrl)}`);
    url = parsed.href.replace(/\/+$/, '');
  }
  const target: OutputTarget = {
    processor,
    jobId: flags.jobId ?? defaultJobId,
    ...(token !== undefined ? { token: { env: OUTPUT_TOKEN_VARIABLE } } : {}),
    ...(secretFile !== undefined ? { tokenSecretFile: resolve(secretFile) } : {}),
    ...(flags.tlsCa !== undefined
      ? { tls: { ca: resolve(flags.tlsCa), ...(flags.tlsCert !== undefined && flags.tlsKey !== undefined ? { cert: resolve(flags.tlsCert), key: resolve(flags.tlsKey) } : {}) } }
      : {}),
    deadlineSeconds,
    ...(url !== undefined ? { url } : {}),
  };
  return { target, environment: token !== undefined ? { [OUTPUT_TOKEN_VARIABLE]: token } : {} };
}

/** The sender's options for an assignment's OutputTarget: its token and TLS files read now, at job start. */
export function openOutputTarget(target: OutputTarget, env: AgentEnvironment): OutputStreamOptions {
  let token: string | undefined;
  if (target.token) {
    token = readSecret(target.token, env, 'output processor token').value.trim();
    if (!/^[\x21-\x7e]+$/.test(token)) throw new UsageError(`the output processor token (${'env' in target.token ? `$${target.token.env}` : target.token.file}) must be printable ASCII without spaces`);
  } else if (target.tokenSecretFile !== undefined) {
    // whoever can read the processor's secret (its machine, or a dispatcher) mints any job's token
    token = jobToken(loadSecret(target.tokenSecretFile, false), target.jobId);
  }
  const tls = target.tls;
  return {
    target: target.processor,
    jobId: target.jobId,
    ...(token !== undefined ? { token } : {}),
    ...(tls ? { tlsCa: readPem('output.tls.ca', tls.ca, 'CERTIFICATE') } : {}),
    ...(tls?.cert !== undefined && tls.key !== undefined ? { tlsClient: { cert: readPem('output.tls.cert', tls.cert, 'CERTIFICATE'), key: readPem('output.tls.key', tls.key, 'PRIVATE KEY') } } : {}),
    deadlineMs: Math.round(target.deadlineSeconds * 1000),
    ...(target.url !== undefined ? { urlBase: target.url } : {}),
  };
}

/** The PEM file `file` given as `what`, which must hold a `-----BEGIN …<label>-----` block. */
function readPem(what: string, file: string, label: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(file);
  } catch (err) {
    throw new UsageError(`${what} ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!new RegExp(`-----BEGIN [A-Z ]*${label}-----`).test(pem.toString('latin1'))) throw new UsageError(`${what} ${file} is not a PEM ${label.toLowerCase()} (no BEGIN ${label} line)`);
  return pem;
}

/** `host:port` or `[v6]:port`, port 1-65535. */
function parseTarget(value: string): string {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : 0;
  if (!m || port < 1 || port > 65_535) throw new UsageError(`--output-processor must be HOST:PORT (e.g. 127.0.0.1:8585), got ${JSON.stringify(value)}`);
  return value;
}
