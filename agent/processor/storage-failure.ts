/**
 * Errors of the data directory, told apart from bugs: a full disk or quota (RESOURCE_EXHAUSTED)
 * and a folder the processor may not write (UNAVAILABLE) are the operator's to fix, and the
 * agent keeps the output and retries; the call's status says which, with the errno in the
 * `deckhand-store-error` trailer. The gRPC message names no path: the agent is not told where
 * the processor keeps its data (the processor's own log says).
 */
import { status } from '@grpc/grpc-js';
import { STORE_ERROR_TRAILER } from '../output/wire/protocol.js';
import { ProtocolError } from './protocol-error.js';

const FULL = new Set(['ENOSPC', 'EDQUOT']);
const NOT_WRITABLE = new Set(['EACCES', 'EPERM', 'EROFS']);

/** The errno of a storage failure the operator must fix, or undefined for any other error. */
export function storageErrno(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && (FULL.has(code) || NOT_WRITABLE.has(code)) ? code : undefined;
}

const MEANING: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
};

/** What the operator reads: the errno and where, e.g. "ENOSPC (no space left on device) at /data/jobs/x/journal". */
export function describeStorageError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const meaning = e.code !== undefined ? MEANING[e.code] : undefined;
  if (!meaning) return e.message;
  return `${e.code} (${meaning})${e.path ? ` at ${e.path}` : ''}`;
}

/** The call's answer to a storage failure `err` (storageErrno(err) is set) while storing job `jobId`. */
export function storageRefusal(err: unknown, jobId: string | undefined): ProtocolError {
  const errno = storageErrno(err) as string;
  const job = jobId ? `job ${jobId}` : 'the job';
  if (FULL.has(errno)) {
    return new ProtocolError(status.RESOURCE_EXHAUSTED, `the output processor cannot store ${job}: its data directory is full (${errno}); keep the output and retry later`, {
      [STORE_ERROR_TRAILER]: errno,
    });
  }
  return new ProtocolError(status.UNAVAILABLE, `the output processor cannot store ${job}: it may not write its data directory (${errno}); keep the output and retry later`, {
    [STORE_ERROR_TRAILER]: errno,
  });
}
