/**
 * Per-job tokens. The processor keeps one secret; a job's token is hex HMAC-SHA256(secret, jobId),
 * so whoever dispatches a job can mint its token (`deckhand output-processor token JOB_ID`) and
 * the processor checks it without storing anything per job. A token is good for its job only.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { UsageError } from '../errors.js';

export const SECRET_BYTES = 32;

/**
 * The secret in `file`, created with 32 random bytes (mode 0600) when it does not exist and
 * `create` is set. Refuses a secret shorter than 16 bytes or a file others can read.
 */
export function loadSecret(file: string, create: boolean): Buffer {
  let secret: Buffer;
  try {
    secret = readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new UsageError(`cannot read the secret file ${file}: ${(e as Error).message}`);
    if (!create) throw new UsageError(`no secret file at ${file}: start the output processor with this data directory once, or pass --secret-file`);
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    secret = randomBytes(SECRET_BYTES);
    try {
      writeFileSync(file, secret, { mode: 0o600, flag: 'wx' });
    } catch (e2) {
      if ((e2 as NodeJS.ErrnoException).code !== 'EEXIST') throw new UsageError(`cannot create the secret file ${file}: ${(e2 as Error).message}`);
      secret = readFileSync(file); // another process created it first
    }
    chmodSync(file, 0o600);
  }
  if (secret.length < 16) throw new UsageError(`the secret file ${file} holds ${secret.length} bytes; it needs at least 16 (delete it to have a new one made)`);
  if ((statSync(file).mode & 0o077) !== 0) throw new UsageError(`the secret file ${file} can be read by other users; chmod 600 ${file}`);
  return secret;
}

/** The token of job `jobId`: hex HMAC-SHA256(secret, jobId). */
export function jobToken(secret: Buffer, jobId: string): string {
  return createHmac('sha256', secret).update(jobId, 'utf8').digest('hex');
}

/** Whether `token` is job `jobId`'s, compared in constant time. */
export function tokenMatches(secret: Buffer, jobId: string, token: string): boolean {
  return sameToken(jobToken(secret, jobId), token);
}

/** What a read token stands for: one job, or (ALL_JOBS) every job and the job list. */
export const ALL_JOBS = '*';

/**
 * The HTTP read token of job `jobId`, or of every job (ALL_JOBS): hex HMAC-SHA256(secret,
 * "read:" + jobId). Not a streaming token, so a link that carries it cannot write to the job.
 */
export function readToken(secret: Buffer, jobId: string): string {
  return createHmac('sha256', secret).update(`read:${jobId}`, 'utf8').digest('hex');
}

/** Whether `token` may read job `jobId` (or, without one, the job list): its own read token or the all-jobs one. */
export function readTokenMatches(secret: Buffer, jobId: string | undefined, token: string): boolean {
  return sameToken(readToken(secret, ALL_JOBS), token) || (jobId !== undefined && sameToken(readToken(secret, jobId), token));
}

function sameToken(want: string, token: string): boolean {
  const a = Buffer.from(want, 'utf8');
  const b = Buffer.from(token, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The token in an `authorization: Bearer <token>` value, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : undefined;
}
