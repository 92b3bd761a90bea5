/**
 * `deckhand nomad job|client-config|dispatch|drain`: what an operator needs to run Deckhand on a
 * Nomad fleet (docs/nomad.md). The files go to stdout; progress of dispatch and drain to stderr.
 */
import { readFileSync } from 'node:fs';
import { parseAssignment } from '../assignment/validate.js';
import { UsageError } from '../errors.js';
import { CLIENT_DEFAULTS, clientConfigHcl, clientConfigJson, type ClientConfigOptions } from '../nomad/client-config.js';
import { machineMhzPerCore } from '../nomad/cpu-speed.js';
import { parseDuration } from '../nomad/durations.js';
import { JOB_DEFAULTS, jobHcl, jobJson, type JobFileOptions } from '../nomad/job-file.js';
import { connectionFromEnv, NomadApi, type NomadConnection } from '../nomad/nomad-api.js';
import { parseAssignmentReference } from '../nomad/payload.js';

/** The flags the job file takes as they are, plus the ones given as text. */
export interface NomadJobFlags extends Pick<JobFileOptions, 'resourceClass' | 'driver' | 'jobId' | 'nodeClass'> {
  format: 'hcl' | 'json';
  datacenters: string;
  killTimeout: string;
  maxKillTimeout: string;
  mhzPerCpu: string;
  deckhand: string;
}

export function nomadJobCommand(flags: NomadJobFlags): number {
  const options = {
    ...JOB_DEFAULTS,
    resourceClass: flags.resourceClass,
    driver: flags.driver,
    ...(flags.jobId ? { jobId: flags.jobId } : {}),
    nodeClass: flags.nodeClass,
    datacenters: flags.datacenters.split(',').map((d) => d.trim()).filter(Boolean),
    killTimeoutMs: parseDuration(flags.killTimeout, '--kill-timeout'),
    maxKillTimeoutMs: parseDuration(flags.maxKillTimeout, '--max-kill-timeout'),
    mhzPerCpu: whole(flags.mhzPerCpu, '--mhz-per-cpu'),
    deckhandCommand: flags.deckhand,
  };
  process.stdout.write(flags.format === 'json' ? `${JSON.stringify(jobJson(options), null, 2)}\n` : jobHcl(options));
  return 0;
}

/** The flags the configuration takes as they are, plus the ones given as text. */
export interface NomadClientConfigFlags
  extends Pick<ClientConfigOptions, 'nodeClass' | 'datacenter' | 'dataDir' | 'pluginDir' | 'deckhand' | 'dockerEndpoint' | 'store' | 'outputProcessor' | 'outputSecretFile'> {
  servers: string;
  format: 'hcl' | 'json';
  reservedCores: string;
  reservedMemory: string;
  mhzPerCore?: string;
  maxKillTimeout: string;
  drainDeadline: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

export function nomadClientConfigCommand(flags: NomadClientConfigFlags): number {
  const tlsGiven = [flags.tlsCa, flags.tlsCert, flags.tlsKey].filter((v) => v !== undefined).length;
  if (tlsGiven !== 0 && tlsGiven !== 3) throw new UsageError('TLS needs all three of --tls-ca, --tls-cert and --tls-key (the files on the client)');
  const options = {
    ...CLIENT_DEFAULTS,
    servers: flags.servers.split(',').map((s) => s.trim()).filter(Boolean),
    nodeClass: flags.nodeClass,
    datacenter: flags.datacenter,
    dataDir: flags.dataDir,
    pluginDir: flags.pluginDir,
    deckhand: flags.deckhand,
    dockerEndpoint: flags.dockerEndpoint,
    ...(flags.store ? { store: flags.store } : {}),
    ...(flags.outputProcessor ? { outputProcessor: flags.outputProcessor } : {}),
    ...(flags.outputSecretFile ? { outputSecretFile: flags.outputSecretFile } : {}),
    reservedCores: whole(flags.reservedCores, '--reserved-cores'),
    reservedMemoryMb: whole(flags.reservedMemory, '--reserved-memory'),
    mhzPerCore: flags.mhzPerCore !== undefined ? whole(flags.mhzPerCore, '--mhz-per-core') : machineMhzPerCore(),
    maxKillTimeoutMs: parseDuration(flags.maxKillTimeout, '--max-kill-timeout'),
    drainDeadlineMs: parseDuration(flags.drainDeadline, '--drain-deadline'),
    ...(tlsGiven === 3 ? { tls: { ca: flags.tlsCa!, cert: flags.tlsCert!, key: flags.tlsKey! } } : {}),
  };
  process.stdout.write(flags.format === 'json' ? `${JSON.stringify(clientConfigJson(options), null, 2)}\n` : clientConfigHcl(options));
  return 0;
}

export type NomadConnectionFlags = Partial<NomadConnection>;

export interface NomadDispatchFlags extends NomadConnectionFlags {
  assignment: string;
  job?: string;
  runId?: string;
  idempotencyToken?: string;
  wait?: boolean;
}

function say(line: string): void {
  process.stderr.write(`deckhand: ${line}\n`);
}

/** Ctrl-C or SIGTERM stops following (the dispatched job goes on). */
function interruptible(): { signal: AbortSignal; done: () => void } {
  const controller = new AbortController();
  const stop = () => controller.abort(new UsageError('stopped following; the dispatched job goes on in Nomad'));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return { signal: controller.signal, done: () => (process.off('SIGINT', stop), process.off('SIGTERM', stop)) };
}

export async function nomadDispatchCommand(flags: NomadDispatchFlags): Promise<number> {
  const { dispatchAssignment } = await import('../nomad/dispatch.js');
  let text: string;
  try {
    text = readFileSync(flags.assignment === '-' ? 0 : flags.assignment, 'utf8');
  } catch (err) {
    throw new UsageError(`--assignment ${flags.assignment} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); give a file written by deckhand execute --print-assignment`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UsageError(`--assignment ${flags.assignment} is not JSON: give a file written by deckhand execute --print-assignment`);
  }
  const reference = parseAssignmentReference(value, `--assignment ${flags.assignment}`);
  const assignment = reference ?? parseAssignment(value, flags.assignment);
  const api = new NomadApi(connectionFromEnv(process.env, flags));
  const { signal, done } = interruptible();
  try {
    const result = await dispatchAssignment(api, {
      assignment,
      ...(flags.job ? { jobId: flags.job } : {}),
      ...(flags.runId ? { runId: flags.runId } : {}),
      ...(flags.idempotencyToken ? { idempotencyToken: flags.idempotencyToken } : {}),
      wait: flags.wait === true,
      say,
      signal,
    });
    process.stdout.write(`${result.dispatchedJobId}\n`);
    if (!result.end) return 0;
    say(`allocation ${result.end.allocId.slice(0, 8)} ${result.end.clientStatus}${result.end.description ? `: ${result.end.description}` : ''}; exit code ${result.end.exitCode}`);
    return result.end.exitCode;
  } finally {
    done();
    await api.close();
  }
}

export interface NomadDrainFlags extends NomadConnectionFlags {
  self?: boolean;
  node?: string;
  deadline: string;
  detach?: boolean;
}

export async function nomadDrainCommand(flags: NomadDrainFlags): Promise<number> {
  if (!flags.self === !flags.node) throw new UsageError('say which client to drain: --self (the client whose agent NOMAD_ADDR names) or --node ID');
  const { drainNode } = await import('../nomad/drain.js');
  const deadlineMs = flags.deadline === 'none' ? 0 : parseDuration(flags.deadline, '--deadline');
  const api = new NomadApi(connectionFromEnv(process.env, flags));
  const { signal, done } = interruptible();
  try {
    const result = await drainNode(api, { ...(flags.node ? { nodeId: flags.node } : {}), deadlineMs, wait: flags.detach !== true, say, signal });
    process.stdout.write(`${result.nodeId}\n`);
    return 0;
  } finally {
    done();
    await api.close();
  }
}

function whole(text: string, name: string): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`${name} ${JSON.stringify(text)} is not a whole number`);
  return Number(text);
}
