/** `deckhand output-processor` (the server) and `deckhand output-processor token JOB_ID`. */
import { readFileSync } from 'node:fs';
import { splitHostPort } from '../net/host-port.js';
import { defaultSecretFile, startOutputProcessor, type HttpAuth } from '../processor/index.js';
import { ALL_JOBS, jobToken, loadSecret, readToken } from '../processor/tokens.js';
import { JOB_ID_PATTERN } from '../processor/job-files.js';
import { jsonLogger } from '../daemon-log.js';
import { UsageError } from '../errors.js';

export interface OutputProcessorFlags {
  listen: string;
  data?: string;
  http?: string;
  httpAuth?: HttpAuth;
  secretFile?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
  idleTimeout?: number;
  abandonTimeout?: number;
  debug?: boolean;
}

/** Runs until SIGTERM or SIGINT, then shuts down gracefully and resolves with 0. */
export async function outputProcessorCommand(flags: OutputProcessorFlags): Promise<number> {
  if (!flags.data) throw new UsageError('output-processor needs --data DIR: where jobs are stored');
  splitHostPort(flags.listen, '--listen');
  if (flags.http) splitHostPort(flags.http, '--http');
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) throw new UsageError('--tls-cert and --tls-key go together: give both, or neither for plaintext');
  if (flags.tlsClientCa && !flags.tlsCert) throw new UsageError('--tls-client-ca needs --tls-cert and --tls-key (client certificates are checked over TLS only)');
  if (flags.idleTimeout !== undefined && !(flags.idleTimeout > 0)) throw new UsageError('--idle-timeout takes a number of seconds above 0');
  if (flags.abandonTimeout !== undefined && !(flags.abandonTimeout > 0)) throw new UsageError('--abandon-timeout takes a number of seconds above 0');
  const tls = flags.tlsCert && flags.tlsKey ? { cert: readPem(flags.tlsCert, '--tls-cert'), key: readPem(flags.tlsKey, '--tls-key'), clientCa: flags.tlsClientCa ? readPem(flags.tlsClientCa, '--tls-client-ca') : undefined } : undefined;

  const logger = jsonLogger(process.stderr, flags.debug ? 'debug' : 'info');
  const running = await startOutputProcessor({
    listen: flags.listen,
    dataDir: flags.data,
    http: flags.http,
    httpAuth: flags.httpAuth,
    secretFile: flags.secretFile,
    tls,
    logger,
    idleTimeoutMs: flags.idleTimeout !== undefined ? flags.idleTimeout * 1000 : undefined,
    abandonTimeoutMs: flags.abandonTimeout !== undefined ? flags.abandonTimeout * 1000 : undefined,
  });
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      logger.log('info', 'shutting down', { signal });
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  await running.close();
  return 0;
}

export interface TokenFlags {
  data?: string;
  secretFile?: string;
  /** an HTTP read token instead of the streaming one */
  read?: boolean;
  /** with --read and no job id: the token that reads every job and the job list */
  allJobs?: boolean;
}

/**
 * Prints job `jobId`'s streaming token, or with --read its HTTP read token (--all-jobs: every
 * job's), from the secret the processor with this data directory uses.
 */
export function outputProcessorTokenCommand(jobId: string | undefined, flags: TokenFlags): number {
  if (flags.allJobs && (!flags.read || jobId !== undefined)) throw new UsageError('--all-jobs goes with --read and no job id: output-processor token --read --all-jobs');
  if (!flags.allJobs && jobId === undefined) throw new UsageError('output-processor token needs a job id (or --read --all-jobs for a token that reads every job)');
  if (jobId !== undefined && !JOB_ID_PATTERN.test(jobId)) throw new UsageError(`job id ${JSON.stringify(jobId)} is not valid: use 1-128 letters, digits, '.', '_' or '-'`);
  const file = flags.secretFile ?? (flags.data ? defaultSecretFile(flags.data) : undefined);
  if (!file) throw new UsageError('output-processor token needs --data DIR (the processor\'s data directory) or --secret-file FILE');
  const secret = loadSecret(file, false);
  process.stdout.write(`${flags.read ? readToken(secret, jobId ?? ALL_JOBS) : jobToken(secret, jobId!)}\n`);
  return 0;
}

function readPem(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new UsageError(`${flag} ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}
