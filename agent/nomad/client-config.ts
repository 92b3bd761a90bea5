/**
 * `deckhand nomad client-config`: the agent configuration of a Nomad client that runs Deckhand
 * jobs (https://developer.hashicorp.com/nomad/docs/configuration/client), for the machine the
 * command runs on:
 *
 * - `reserved`: 2 CPU cores and 4096 MB kept back from scheduling, for the system, the Docker
 *   engine, Nomad and the agents. Nomad counts CPU in MHz, so the cores become cores × this
 *   machine's MHz per core (what Nomad's own fingerprint finds: the CPU's speed);
 * - dynamic ports 64535–65535 (the `ssh` port of each job comes from there), `node_class` for
 *   the jobs' constraint, `max_kill_timeout` for their graceful cancel;
 * - `drain_on_shutdown`, with `leave_on_interrupt`/`leave_on_terminate`, without which it does
 *   nothing: a client that is shut down stops taking jobs and lets running ones finish;
 * - `plugin_dir` and the `plugin "deckhand"` block (mandatory since Nomad 1.10, or the plugin is
 *   not loaded: https://developer.hashicorp.com/nomad/docs/configuration/plugin);
 * - `servers` on port 4647 (Nomad's RPC port) and, when certificates are given, `tls`.
 *
 * HCL, or the JSON form of the same configuration (Nomad reads `.json` agent config files too).
 */
import { UsageError } from '../errors.js';
import { formatDuration } from './durations.js';
import { renderHcl, type HclBlock, type HclValue } from './hcl.js';

export interface ClientConfigOptions {
  servers: string[];
  nodeClass: string;
  datacenter: string;
  dataDir: string;
  pluginDir: string;
  deckhand: string;
  dockerEndpoint: string;
  store?: string;
  outputProcessor?: string;
  outputSecretFile?: string;
  reservedCores: number;
  reservedMemoryMb: number;
  /** this machine's MHz per core (default: what the machine reports) */
  mhzPerCore: number;
  maxKillTimeoutMs: number;
  drainDeadlineMs: number;
  minDynamicPort: number;
  maxDynamicPort: number;
  tls?: { ca: string; cert: string; key: string };
}

export const CLIENT_DEFAULTS = {
  nodeClass: 'deckhand',
  datacenter: 'dc1',
  dataDir: '/opt/nomad/data',
  pluginDir: '/opt/nomad/plugins',
  deckhand: '/usr/local/bin/deckhand',
  dockerEndpoint: 'unix:///var/run/docker.sock',
  reservedCores: 2,
  reservedMemoryMb: 4096,
  maxKillTimeoutMs: 30_000,
  drainDeadlineMs: 3_600_000,
  minDynamicPort: 64535,
  maxDynamicPort: 65535,
};

/** Nomad's server RPC port. */
export const SERVER_RPC_PORT = 4647;

/** `10.0.0.5` → `10.0.0.5:4647`; `host:4747` stays; `[::1]` → `[::1]:4647`. */
export function serverAddress(server: string): string {
  const s = server.trim();
  if (s === '') throw new UsageError('--servers has an empty address: give HOST[:PORT],HOST[:PORT],…');
  if (/^\[.*\]:\d+$/.test(s) || /^[^:[\]]+:\d+$/.test(s)) return s;
  if (/^\[.*\]$/.test(s)) return `${s}:${SERVER_RPC_PORT}`;
  if (s.includes(':')) return `[${s}]:${SERVER_RPC_PORT}`;
  return `${s}:${SERVER_RPC_PORT}`;
}

function check(o: ClientConfigOptions): void {
  if (o.servers.length === 0) throw new UsageError('--servers is required: the Nomad servers this client joins, HOST[:PORT],…');
  if (!(o.mhzPerCore > 0)) throw new UsageError('this machine does not report its CPU speed: give --mhz-per-core (the MHz of one core, as `nomad node status -self -verbose` shows cpu.frequency)');
  if (o.minDynamicPort > o.maxDynamicPort) throw new UsageError(`--min-dynamic-port ${o.minDynamicPort} is above --max-dynamic-port ${o.maxDynamicPort}`);
}

function pluginConfig(o: ClientConfigOptions): [string, HclValue | undefined][] {
  return [
    ['deckhand', o.deckhand],
    ['docker_endpoint', o.dockerEndpoint],
    ['store', o.store],
    ['output_processor', o.outputProcessor],
    ['output_secret_file', o.outputSecretFile],
    ['reserved_cpu_cores', o.reservedCores],
    ['reserved_memory_mb', o.reservedMemoryMb],
  ];
}

function clientAttributes(o: ClientConfigOptions): [string, HclValue | undefined][] {
  return [
    ['enabled', true],
    ['servers', o.servers.map(serverAddress)],
    ['node_class', o.nodeClass],
    ['max_kill_timeout', formatDuration(o.maxKillTimeoutMs)],
    ['min_dynamic_port', o.minDynamicPort],
    ['max_dynamic_port', o.maxDynamicPort],
  ];
}

function reservedCpuMhz(o: ClientConfigOptions): number {
  return o.reservedCores * o.mhzPerCore;
}

export function clientConfigHcl(o: ClientConfigOptions): string {
  check(o);
  const blocks: HclBlock[] = [
    {
      type: 'client',
      attributes: clientAttributes(o),
      blocks: [
        {
          type: 'reserved',
          comment: `${o.reservedCores} CPU cores (× ${o.mhzPerCore} MHz per core on this machine) and ${o.reservedMemoryMb} MB kept back for the system, Docker, Nomad and the agents`,
          attributes: [
            ['cpu', reservedCpuMhz(o)],
            ['memory', o.reservedMemoryMb],
          ],
        },
        {
          type: 'drain_on_shutdown',
          comment: 'on shutdown: no new jobs, running ones finish (up to the deadline)',
          attributes: [
            ['deadline', formatDuration(o.drainDeadlineMs)],
            ['force', false],
            ['ignore_system_jobs', false],
          ],
        },
      ],
    },
    { type: 'plugin', labels: ['deckhand'], comment: 'the task driver (mandatory since Nomad 1.10: a plugin without a block is not loaded)', blocks: [{ type: 'config', attributes: pluginConfig(o) }] },
  ];
  if (o.tls) {
    blocks.push({
      type: 'tls',
      attributes: [
        ['http', true],
        ['rpc', true],
        ['ca_file', o.tls.ca],
        ['cert_file', o.tls.cert],
        ['key_file', o.tls.key],
        ['verify_server_hostname', true],
        ['verify_https_client', false],
      ],
    });
  }
  const text = renderHcl(blocks, [
    ['datacenter', o.datacenter],
    ['data_dir', o.dataDir],
    ['plugin_dir', o.pluginDir],
    // drain_on_shutdown acts only when the agent leaves on these signals
    ['leave_on_interrupt', true],
    ['leave_on_terminate', true],
  ]);
  return `# Nomad client for Deckhand jobs, rendered by deckhand nomad client-config (docs/nomad.md).\n${text}\n`;
}

/** The same configuration as Nomad's JSON agent config: blocks are objects, a labelled block an object under its label. */
export function clientConfigJson(o: ClientConfigOptions): Record<string, unknown> {
  check(o);
  const attrs = (list: [string, HclValue | undefined][]) => Object.fromEntries(list.filter(([, v]) => v !== undefined)) as Record<string, unknown>;
  const out: Record<string, unknown> = {
    datacenter: o.datacenter,
    data_dir: o.dataDir,
    plugin_dir: o.pluginDir,
    leave_on_interrupt: true,
    leave_on_terminate: true,
    client: {
      ...attrs(clientAttributes(o)),
      reserved: { cpu: reservedCpuMhz(o), memory: o.reservedMemoryMb },
      drain_on_shutdown: { deadline: formatDuration(o.drainDeadlineMs), force: false, ignore_system_jobs: false },
    },
    plugin: { deckhand: { config: attrs(pluginConfig(o)) } },
  };
  if (o.tls) out.tls = { http: true, rpc: true, ca_file: o.tls.ca, cert_file: o.tls.cert, key_file: o.tls.key, verify_server_hostname: true, verify_https_client: false };
  return out;
}
