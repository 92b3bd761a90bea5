/**
 * `deckhand output-processor` as a library: startOutputProcessor() serves OutputProcessor.Stream
 * over gRPC, stores jobs under a data directory, and (optionally) serves them over HTTP.
 * docs/output-processor.md describes it for users.
 */
import { Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import { createServer, type Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { MAX_MESSAGE_BYTES, outputProcessorService, SERVER_KEEPALIVE, type AgentFrame, type ProcessorFrame } from '../output/wire/protocol.js';
import { hostOf, isLoopback, splitHostPort } from '../net/host-port.js';
import { answerUnparsable } from '../net/request-handler.js';
import { UsageError } from '../errors.js';
import { httpHandler } from './http-api.js';
import { JobStore } from './job-store.js';
import { jsonLogger, type Logger } from '../daemon-log.js';
import { StreamSession } from './stream-session.js';
import { loadSecret } from './tokens.js';

export interface OutputProcessorOptions {
  /** gRPC address, HOST:PORT (port 0: any free port) */
  listen: string;
  /** where jobs are stored */
  dataDir: string;
  /** HTTP address, HOST:PORT; no HTTP server without it */
  http?: string;
  /** `tokens`: every HTTP route but the health checks wants a read token (default `none`) */
  httpAuth?: HttpAuth;
  /** the token secret (default DATA/secret, created on first start) */
  secretFile?: string;
  /** PEM server certificate and key; with clientCa, clients must present a certificate it signed */
  tls?: { cert: Buffer; key: Buffer; clientCa?: Buffer };
  logger?: Logger;
  /** how long a new call may take to send Open (default 10 s) */
  openTimeoutMs?: number;
  /** how long a call may stay silent before the processor ends it (default 10 min) */
  idleTimeoutMs?: number;
  /** how long a running job may go without any call before it is marked incomplete (default 30 min) */
  abandonTimeoutMs?: number;
}

export type HttpAuth = 'none' | 'tokens';

export interface RunningOutputProcessor {
  grpcPort: number;
  httpPort?: number;
  /** Stops accepting, lets calls in progress store what they sent (up to a grace period), closes the store. */
  close(): Promise<void>;
}

/** Seconds a graceful shutdown waits for calls in progress before cancelling them. */
const SHUTDOWN_GRACE_MS = 5_000;

/**
 * A running job no call feeds for this long is marked incomplete. Longer than a step may stay
 * silent (CircleCI's no_output_timeout is 10 min; the idle timeout ends the call meanwhile) plus
 * an agent's reconnect backoff; an agent that comes back later reopens its job.
 */
export const DEFAULT_ABANDON_TIMEOUT_MS = 30 * 60_000;

/** How often idle jobs are looked for and held job records saved (a quarter of the timeout, 0.25-5 s). */
function sweepInterval(abandonTimeoutMs: number): number {
  return Math.min(5_000, Math.max(250, abandonTimeoutMs / 4));
}

export function defaultSecretFile(dataDir: string): string {
  return join(dataDir, 'secret');
}

export async function startOutputProcessor(options: OutputProcessorOptions): Promise<RunningOutputProcessor> {
  const logger = options.logger ?? jsonLogger();
  const store = new JobStore(options.dataDir);
  try {
    await store.init();
  } catch (e) {
    throw new UsageError(`cannot use the data directory ${options.dataDir}: ${(e as Error).message}`);
  }
  const secret = loadSecret(options.secretFile ?? defaultSecretFile(options.dataDir), true);

  // jobs whose agents vanished are marked incomplete; records a full disk refused are saved once it has room
  const abandonTimeoutMs = options.abandonTimeoutMs ?? DEFAULT_ABANDON_TIMEOUT_MS;
  let sweeping = false;
  const sweep = async (): Promise<void> => {
    if (sweeping) return;
    sweeping = true;
    try {
      for (const dir of await store.metas.flush()) logger.log('info', 'job record saved', { dir });
      for (const { jobId, message } of await store.abandonIdle(abandonTimeoutMs)) logger.log('warn', 'job abandoned', { job: jobId, message });
    } catch (e) {
      logger.log('error', 'sweep failed', { error: e instanceof Error ? e.message : String(e) });
    } finally {
      sweeping = false;
    }
  };

  const server = new Server({ ...SERVER_KEEPALIVE, 'grpc.max_receive_message_length': MAX_MESSAGE_BYTES });
  const context = {
    store,
    secret,
    logger,
    openTimeoutMs: options.openTimeoutMs ?? 10_000,
    idleTimeoutMs: options.idleTimeoutMs ?? 600_000,
  };
  const sessions = new Map<StreamSession, Promise<void>>();
  let stopping = false;
  server.addService(outputProcessorService, {
    Stream: (call: ServerDuplexStream<AgentFrame, ProcessorFrame>) => {
      const session = new StreamSession(context, call);
      if (stopping) session.shutdown();
      const run = session
        .run()
        .catch((e: unknown) => logger.log('error', 'stream session crashed', { error: e instanceof Error ? e.message : String(e) }))
        .finally(() => sessions.delete(session));
      sessions.set(session, run);
    },
  });
  const credentials = options.tls
    ? ServerCredentials.createSsl(options.tls.clientCa ?? null, [{ cert_chain: options.tls.cert, private_key: options.tls.key }], options.tls.clientCa !== undefined)
    : ServerCredentials.createInsecure();
  const grpcPort = await new Promise<number>((resolve, reject) => {
    server.bindAsync(options.listen, credentials, (err, port) => (err ? reject(new UsageError(`cannot listen on ${options.listen} (gRPC): ${err.message}`)) : resolve(port)));
  });

  let http: HttpServer | undefined;
  let httpPort: number | undefined;
  const sockets = new Set<Socket>();
  if (options.http) {
    const { host, port } = splitHostPort(options.http, '--http');
    http = createServer(httpHandler(store, logger, options.httpAuth === 'tokens' ? secret : undefined));
    if (options.httpAuth !== 'tokens' && !isLoopback(host)) {
      logger.log('warn', 'the HTTP side serves every job to anyone who can reach it: use --http-auth tokens, or bind it to loopback', { http: options.http });
    }
    http.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    answerUnparsable(http, logger);
    try {
      httpPort = await new Promise<number>((resolve, reject) => {
        http!.once('error', reject);
        http!.listen(port, host, () => {
          const a = http!.address();
          resolve(typeof a === 'object' && a ? a.port : port);
        });
      });
    } catch (e) {
      server.forceShutdown();
      throw new UsageError(`cannot listen on ${options.http} (HTTP): ${(e as Error).message}`);
    }
  }
  const sweeper = setInterval(() => void sweep(), sweepInterval(abandonTimeoutMs));
  sweeper.unref();
  logger.log('info', 'output processor listening', {
    grpc: `${hostOf(options.listen)}:${grpcPort}`,
    grpcPort,
    tls: options.tls ? (options.tls.clientCa ? 'client certificates required' : 'server certificate') : 'none (plaintext)',
    http: http ? `${hostOf(options.http!)}:${httpPort}` : undefined,
    httpPort,
    data: options.dataDir,
  });

  let closing: Promise<void> | undefined;
  return {
    grpcPort,
    httpPort,
    close() {
      closing ??= (async () => {
        // no new calls; calls in progress store what they hold, then are told to reconnect elsewhere/later
        stopping = true;
        clearInterval(sweeper);
        const graceful = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
        for (const s of sessions.keys()) s.shutdown();
        const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), SHUTDOWN_GRACE_MS).unref());
        if ((await Promise.race([Promise.all([graceful, ...sessions.values()]), timer])) === 'timeout') server.forceShutdown();
        if (http) {
          const closed = new Promise<void>((resolve) => http!.close(() => resolve()));
          for (const s of sockets) s.destroy(); // live tails never end by themselves
          await closed;
        }
        await store.close();
        logger.log('info', 'output processor stopped', {});
      })();
      return closing;
    },
  };
}
