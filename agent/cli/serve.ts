/**
 * `deckhand serve` (the control API, docs/control-api.md) and `deckhand serve token`. The front
 * end reads the flags and the environment, reclaims what dead agents left on the engine now and
 * every minute, and turns SIGTERM/SIGINT into a drain: no new work, running jobs finish; a second
 * signal cancels them.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { deckhandHome } from '../config/orb-registry.js';
import { jsonLogger, type Logger } from '../daemon-log.js';
import { UsageError } from '../errors.js';
import { addToken, type Scope } from '../control-api/auth.js';
import type { ServiceSshSettings } from '../control-api/rerun-ssh.js';
import { startControlApi } from '../control-api/service.js';
import { readAuthorizedKeys } from '../debug-ssh/authorized-keys.js';
import { parseDuration } from '../nomad/durations.js';
import { localAddress, parseHost, parsePorts } from './ssh-options.js';
import { splitHostPort } from '../net/host-port.js';
import { machineCapacity, type Capacity } from '../workflow/capacity.js';
import { fetchConfigOrbs, orbAccess, type OrbFlags } from './orb-access.js';
import { reclaimInBackground } from './reclaim.js';
import type { RuntimeSettings } from '../assignment/assignment.js';

export interface ServeFlags extends OrbFlags {
  listen: string;
  data?: string;
  backend: 'local' | 'nomad';
  tokens?: string;
  outputProcessor?: string;
  outputSecretFile?: string;
  outputUrl?: string;
  store?: string;
  maxParallel?: number;
  pull: RuntimeSettings['docker']['pull'];
  nomadAddr?: string;
  debug?: boolean;
  sshAuthorizedKeys?: string[];
  sshHost?: string;
  sshPort?: string;
  sshWait?: string;
  sshMaxHold?: string;
}

/** what dead agents left is looked for this often, as the Nomad driver plugin does */
const RECLAIM_EVERY_MS = 60_000;

export async function serveCommand(flags: ServeFlags): Promise<number> {
  if (!flags.data) throw new UsageError('serve needs --data DIR: where pipelines, jobs, logs and the audit log are kept');
  const listenHost = splitHostPort(flags.listen, '--listen').host;
  if (flags.outputProcessor && !flags.outputSecretFile) throw new UsageError('--output-processor needs --output-secret-file FILE: that processor\'s secret (its DATA/secret), to mint each job\'s token');
  if (flags.maxParallel !== undefined && (!Number.isInteger(flags.maxParallel) || flags.maxParallel < 1)) throw new UsageError(`--max-parallel must be a whole number of at least 1, got ${flags.maxParallel}`);
  if (flags.tokens && !existsSync(flags.tokens)) throw new UsageError(`--tokens ${flags.tokens} does not exist; make tokens with deckhand serve token --data DIR --scope SCOPE`);
  // every flag is checked before anything is created or removed
  const ssh = serviceSsh(flags, listenHost);
  const dataDir = resolve(flags.data);
  mkdirSync(dataDir, { recursive: true });
  const base = jsonLogger(process.stderr, flags.debug ? 'debug' : 'info');
  // pollers read statuses thousands of times a minute: successful reads are logged with --debug
  // only; every change, refusal and failure is logged (and changes are in the audit log too)
  const log: Logger = {
    log(level, msg, fields) {
      if (!flags.debug && msg === 'request' && (fields?.method === 'GET' || fields?.method === 'HEAD') && typeof fields.status === 'number' && fields.status < 400) return;
      base.log(level, msg, fields);
    },
  };
  const env = process.env;
  const home = deckhandHome(env);
  const orbs = orbAccess(flags, env);
  const capacity: Capacity = flags.maxParallel !== undefined ? { ...machineCapacity(), maxJobs: flags.maxParallel } : machineCapacity();
  let backend;
  if (flags.backend === 'nomad') {
    const [{ nomadBackendFactory }, { connectionFromEnv }] = await Promise.all([import('../control-api/nomad-backend.js'), import('../nomad/nomad-api.js')]);
    backend = nomadBackendFactory({ connection: connectionFromEnv(env, flags.nomadAddr ? { address: flags.nomadAddr } : {}), log, capacity });
  }
  // what a dead service's jobs left is removed before any new job starts
  await reclaimInBackground(log);
  const reclaimer = setInterval(() => void reclaimInBackground(log), RECLAIM_EVERY_MS);
  reclaimer.unref();
  const api = await startControlApi({
    listen: flags.listen,
    dataDir,
    ...(flags.tokens ? { tokensFile: resolve(flags.tokens) } : {}),
    ...(flags.outputProcessor ? { outputProcessor: { address: flags.outputProcessor, secretFile: resolve(flags.outputSecretFile!), ...(flags.outputUrl ? { url: flags.outputUrl } : {}) } } : {}),
    storeUrl: flags.store ?? join(dataDir, 'store'),
    capacity,
    env,
    contextsFile: join(home, 'contexts.yml'),
    sshKeysDir: join(home, 'ssh-keys'),
    runtime: { docker: { pull: flags.pull, network: 'bridge' }, machine: { provider: 'docker' } },
    log,
    registry: orbs.registry,
    fetchOrbs: (root, file, options) => fetchConfigOrbs(root, file, options, orbs),
    ssh,
    ...(backend ? { backend } : {}),
  });
  // the address for scripts that started it on port 0
  process.stdout.write(`${JSON.stringify({ listening: `http://${listenHost}:${api.port}`, live: api.liveUrl ?? null })}\n`);
  await new Promise<void>((resolveStop) => {
    let signals = 0;
    const stop = (signal: NodeJS.Signals): void => {
      signals++;
      if (signals === 1) {
        log.log('info', 'draining: no new pipelines or jobs; running jobs finish (signal again to cancel them)', { signal });
        api.close().then(resolveStop, resolveStop);
      } else {
        log.log('warn', 'canceling running jobs', { signal });
        api.close({ cancelRunning: true }).then(resolveStop, resolveStop);
      }
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  clearInterval(reclaimer);
  return 0;
}

/**
 * Reruns with SSH: the keys files given (checked now, read again at each rerun), the address in
 * the ssh line (--ssh-host, else the --listen host unless it is a wildcard, else this machine's).
 */
function serviceSsh(flags: ServeFlags, listenHost: string): ServiceSshSettings {
  const authorizedKeys = (flags.sshAuthorizedKeys ?? []).map((file) => {
    if (!existsSync(file)) throw new UsageError(`--ssh-authorized-keys ${file} does not exist; give a file of public keys (authorized_keys lines or a *.pub file)`);
    return resolve(file);
  });
  if (authorizedKeys.length > 0) readAuthorizedKeys(authorizedKeys);
  const host = flags.sshHost !== undefined ? parseHost(flags.sshHost) : ['0.0.0.0', '::', '[::]', ''].includes(listenHost) ? localAddress() : listenHost;
  return {
    authorizedKeys,
    host,
    ...(flags.sshPort !== undefined ? parsePorts(flags.sshPort) : {}),
    ...(flags.sshWait !== undefined ? { waitSeconds: parseDuration(flags.sshWait, '--ssh-wait') / 1000 } : {}),
    ...(flags.sshMaxHold !== undefined ? { maxHoldSeconds: parseDuration(flags.sshMaxHold, '--ssh-max-hold') / 1000 } : {}),
  };
}

export interface ServeTokenFlags {
  data?: string;
  tokens?: string;
  scope: Scope;
  name?: string;
}

/** Prints a new token of the scope; its digest goes into the tokens file. */
export function serveTokenCommand(flags: ServeTokenFlags): number {
  if (!flags.data && !flags.tokens) throw new UsageError('serve token needs --data DIR (the service\'s data folder) or --tokens FILE');
  const file = flags.tokens ? resolve(flags.tokens) : join(resolve(flags.data!), 'tokens');
  if (!flags.tokens) mkdirSync(resolve(flags.data!), { recursive: true });
  process.stdout.write(`${addToken(file, flags.scope, flags.name)}\n`);
  return 0;
}
