/**
 * `deckhand serve` as a library: the store, the audit log, the metrics, the backend, the scheduler
 * and the HTTP server, put together over one data folder. With no output processor given, one
 * runs in this process (its data in DATA/output, its pages on a loopback port). The front end
 * (cli/serve.ts) hands in everything of the machine: the environment, the logger, the orb access.
 */
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { OutputTarget, RuntimeSettings } from '../assignment/assignment.js';
import type { CompileOptions } from '../config/compile.js';
import type { OrbRegistry } from '../config/orb-registry.js';
import type { Value } from '../config/source.js';
import type { Logger } from '../daemon-log.js';
import { splitHostPort } from '../net/host-port.js';
import { UsageError } from '../errors.js';
import { answerUnparsable, requestHandler } from '../net/request-handler.js';
import { defaultSecretFile, startOutputProcessor, type RunningOutputProcessor } from '../processor/index.js';
import { processorJobReader } from './processor-job.js';
import type { BlobStore } from '../store/blob-store.js';
import { openBlobStore } from '../store/open-store.js';
import { describeCapacity, type Capacity } from '../workflow/capacity.js';
import { AuditLog, SERVICE_ACTOR } from './audit.js';
import { TokenFile } from './auth.js';
import { takePipeline, type IntakeOptions } from './intake.js';
import { LocalBackend } from './local-backend.js';
import type { ServiceSshSettings } from './rerun-ssh.js';
import { ControlMetrics } from './metrics.js';
import { actorOf, controlRoutes } from './routes.js';
import { Scheduler, type BackendFactory } from './scheduler.js';
import { ControlStore } from './store.js';
import { VariableStore } from './variables.js';

export interface ControlApiOptions {
  /** HOST:PORT (port 0: any free port) */
  listen: string;
  dataDir: string;
  /** the tokens file (default DATA/tokens) */
  tokensFile?: string;
  /** an output processor elsewhere, and its secret to mint job tokens; else one runs in-process */
  outputProcessor?: { address: string; secretFile: string; url?: string };
  /** where caches, workspaces and artifacts go (a folder or s3://…) */
  storeUrl: string;
  capacity: Capacity;
  env: Readonly<Record<string, string | undefined>>;
  contextsFile: string;
  sshKeysDir: string;
  runtime: RuntimeSettings;
  log: Logger;
  registry?: OrbRegistry;
  fetchOrbs?: (root: Value, file: string, options: CompileOptions) => Promise<ReadonlyMap<string, string>>;
  /** reruns with SSH: default keys, the address and ports to use */
  ssh: ServiceSshSettings;
  /** a backend other than this machine (Nomad); default: local */
  backend?: BackendFactory;
}

export interface RunningControlApi {
  port: number;
  /** the in-process output processor's HTTP address, when it runs here */
  liveUrl?: string;
  /** Stops taking requests; with `cancelRunning`, cancels what runs (else waits for it). */
  close(options?: { cancelRunning?: boolean }): Promise<void>;
}

export async function startControlApi(opts: ControlApiOptions): Promise<RunningControlApi> {
  const { host, port } = splitHostPort(opts.listen, '--listen');
  for (const d of ['pipelines', 'logs', 'output']) mkdirSync(join(opts.dataDir, d), { recursive: true });
  const store = new ControlStore(join(opts.dataDir, 'deckhand.db'));
  const audit = new AuditLog(join(opts.dataDir, 'audit.jsonl'));
  const tokens = new TokenFile(opts.tokensFile ?? join(opts.dataDir, 'tokens'));
  let processor: RunningOutputProcessor | undefined;
  let liveUrl = opts.outputProcessor?.url;
  let output: (runId: string) => OutputTarget | null;
  if (opts.outputProcessor) {
    const { address, secretFile } = opts.outputProcessor;
    output = (runId) => ({ processor: address, jobId: runId, tokenSecretFile: secretFile, deadlineSeconds: 60, ...(liveUrl ? { url: liveUrl } : {}) });
  } else {
    const dataDir = join(opts.dataDir, 'output');
    processor = await startOutputProcessor({ listen: '127.0.0.1:0', http: '127.0.0.1:0', dataDir, logger: opts.log });
    liveUrl = `http://127.0.0.1:${processor.httpPort!}`;
    const address = `127.0.0.1:${processor.grpcPort}`;
    const url = liveUrl;
    output = (runId) => ({ processor: address, jobId: runId, tokenSecretFile: defaultSecretFile(dataDir), deadlineSeconds: 60, url });
  }
  const logsDir = join(opts.dataDir, 'logs');
  const variables = new VariableStore(opts.dataDir);
  const processorJob = processorJobReader(liveUrl, opts.outputProcessor?.secretFile ?? (processor ? defaultSecretFile(join(opts.dataDir, 'output')) : undefined));
  const backend =
    opts.backend?.(output, { storeUrl: opts.storeUrl, logsDir, contextsFile: opts.contextsFile, sshKeysDir: opts.sshKeysDir, ssh: opts.ssh, processorJob }) ??
    new LocalBackend({ variables, ssh: opts.ssh, capacity: opts.capacity, env: opts.env, storeUrl: opts.storeUrl, contextsFile: opts.contextsFile, sshKeysDir: opts.sshKeysDir, runtime: opts.runtime, logsDir, output, log: opts.log });
  const metrics = new ControlMetrics({ jobCounts: () => store.countJobs(), capacity: () => backend.capacity() });
  const scheduler = new Scheduler(store, backend, audit, metrics);
  const recovered = scheduler.recover(new Date().toISOString());
  if (recovered > 0) opts.log.log('warn', `${recovered} job node${recovered === 1 ? ' was' : 's were'} running when the service stopped: marked infrastructure_fail`);

  const intake: IntakeOptions = { store, pipelinesDir: join(opts.dataDir, 'pipelines'), ...(opts.registry ? { registry: opts.registry } : {}), ...(opts.fetchOrbs ? { fetchOrbs: opts.fetchOrbs } : {}) };
  let blobStore: Promise<BlobStore> | undefined;
  const handler = controlRoutes({
    store,
    scheduler,
    tokens,
    audit,
    metrics,
    logsDir,
    variables,
    ssh: opts.ssh,
    sshKeysDir: join(opts.dataDir, 'ssh-keys'),
    ...(liveUrl ? { liveUrl } : {}),
    async submit(request, caller, requestId) {
      const { pipeline, jobs } = await takePipeline(request, caller.id, intake);
      audit.record({
        action: 'project.pipeline.create',
        actor: actorOf(caller),
        target: { id: pipeline.id, type: 'pipeline' },
        payload: { number: pipeline.number, jobs: jobs.map((j) => ({ id: j.id, name: j.name })), source: request.repository ? 'repository' : 'config', ...(request.repository ? { repository: request.repository, revision: request.revision } : {}) },
        requestId,
      });
      scheduler.advance();
      return pipeline;
    },
    openStore: () => (blobStore ??= openBlobStore(opts.storeUrl, opts.env)),
    draining: () => scheduler.draining,
    drain: () => {
      scheduler.draining = true;
    },
    status: () => ({
      backend: backend.name,
      draining: scheduler.draining,
      jobs: store.countJobs(),
      running_nodes: backend.running,
      capacity: { ...backend.capacity(), description: describeCapacity(opts.capacity) },
    }),
  });
  const server: Server = createServer({ requestTimeout: 60_000, headersTimeout: 30_000 }, requestHandler(opts.log, handler));
  server.keepAliveTimeout = 30_000;
  answerUnparsable(server, opts.log);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
  } catch (err) {
    await processor?.close();
    audit.close();
    store.close();
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot listen on ${opts.listen}: ${code === 'EADDRINUSE' ? 'the address is in use' : code === 'EADDRNOTAVAIL' ? 'this machine has no such address' : code === 'EACCES' ? 'permission denied (ports below 1024 need root)' : (err as Error).message}; choose another --listen`);
  }
  const bound = (server.address() as AddressInfo).port;
  opts.log.log('info', 'control API listening', { address: `${host}:${bound}`, backend: backend.name, capacity: describeCapacity(opts.capacity), live: liveUrl });

  return {
    port: bound,
    ...(liveUrl ? { liveUrl } : {}),
    async close(options = {}) {
      scheduler.draining = true;
      audit.record({ action: 'service.drain', actor: SERVICE_ACTOR, target: SERVICE_ACTOR, payload: { cancel_running: options.cancelRunning === true, running_nodes: backend.running } });
      server.close();
      server.closeAllConnections();
      if (options.cancelRunning) await backend.close();
      // each node's end is recorded before the store closes
      while (backend.running > 0) await new Promise((r) => setTimeout(r, 100));
      await processor?.close();
      audit.close();
      store.close();
    },
  };
}
