/**
 * The plugin's own configuration: the `config` block of the client's `plugin "deckhand" {}`,
 * which Nomad decodes with ConfigSchema's spec and sends to SetConfig as msgpack (encoded by
 * go-cty's msgpack package: an object is a map of every attribute, sorted, an absent one nil).
 *
 *   plugin "deckhand" {
 *     config {
 *       deckhand           = "/usr/local/bin/deckhand"      # the agent's executable
 *       docker_endpoint    = "unix:///var/run/docker.sock"  # the engine jobs run in
 *       store              = "s3://ci-store/deckhand"       # caches, workspaces, artifacts
 *       output_processor   = "processor.internal:8585"      # where job output is streamed
 *       output_secret_file = "/etc/deckhand/processor-secret"
 *       output_url         = "https://ci-output.internal"
 *       reserved_cpu_cores = 2                              # kept back for the agent itself
 *       reserved_memory_mb = 4096
 *     }
 *   }
 */
import { decode } from '@msgpack/msgpack';
import { attr, object, withDefault, type Spec } from './hclspec.js';

export interface PluginConfig {
  deckhand: string;
  dockerEndpoint: string;
  store?: string;
  outputProcessor?: string;
  outputSecretFile?: string;
  outputUrl?: string;
  reservedCpuCores: number;
  reservedMemoryMb: number;
}

export const DEFAULT_PLUGIN_CONFIG: PluginConfig = {
  deckhand: 'deckhand',
  dockerEndpoint: 'unix:///var/run/docker.sock',
  reservedCpuCores: 2,
  reservedMemoryMb: 4096,
};

export function pluginConfigSpec(): Spec {
  const d = DEFAULT_PLUGIN_CONFIG;
  return object({
    deckhand: withDefault(attr('deckhand', 'string'), JSON.stringify(d.deckhand)),
    docker_endpoint: withDefault(attr('docker_endpoint', 'string'), JSON.stringify(d.dockerEndpoint)),
    store: attr('store', 'string'),
    output_processor: attr('output_processor', 'string'),
    output_secret_file: attr('output_secret_file', 'string'),
    output_url: attr('output_url', 'string'),
    reserved_cpu_cores: withDefault(attr('reserved_cpu_cores', 'number'), String(d.reservedCpuCores)),
    reserved_memory_mb: withDefault(attr('reserved_memory_mb', 'number'), String(d.reservedMemoryMb)),
  });
}

/** A config Nomad should have refused: said in one line naming the attribute. */
export class ConfigError extends Error {}

/** The plugin config from SetConfig's msgpack bytes; empty bytes (no config block at all) give the defaults. */
export function decodePluginConfig(bytes: Uint8Array): PluginConfig {
  if (bytes.length === 0) return { ...DEFAULT_PLUGIN_CONFIG };
  const value = decodeMap(bytes, 'the plugin config');
  const text = (key: string): string | undefined => optionalString(value, key, 'plugin "deckhand" config');
  const whole = (key: string, fallback: number): number => {
    const v = value[key];
    if (v === null || v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new ConfigError(`plugin "deckhand" config: ${key} is ${JSON.stringify(v)}: give a whole number, 0 or more`);
    return v;
  };
  const config: PluginConfig = {
    deckhand: text('deckhand') ?? DEFAULT_PLUGIN_CONFIG.deckhand,
    dockerEndpoint: text('docker_endpoint') ?? DEFAULT_PLUGIN_CONFIG.dockerEndpoint,
    reservedCpuCores: whole('reserved_cpu_cores', DEFAULT_PLUGIN_CONFIG.reservedCpuCores),
    reservedMemoryMb: whole('reserved_memory_mb', DEFAULT_PLUGIN_CONFIG.reservedMemoryMb),
  };
  const store = text('store');
  if (store !== undefined) config.store = store;
  const processor = text('output_processor');
  if (processor !== undefined) config.outputProcessor = processor;
  const secret = text('output_secret_file');
  if (secret !== undefined) config.outputSecretFile = secret;
  const url = text('output_url');
  if (url !== undefined) config.outputUrl = url;
  if (!/^(unix|tcp|http|https):\/\//.test(config.dockerEndpoint)) {
    throw new ConfigError(`plugin "deckhand" config: docker_endpoint ${JSON.stringify(config.dockerEndpoint)} is not an engine address: give unix:///var/run/docker.sock or tcp://HOST:2376`);
  }
  if ((config.outputSecretFile !== undefined || config.outputUrl !== undefined) && config.outputProcessor === undefined) {
    throw new ConfigError('plugin "deckhand" config: output_secret_file and output_url need output_processor (HOST:PORT) too');
  }
  return config;
}

export function decodeMap(bytes: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = decode(bytes);
  } catch (err) {
    throw new ConfigError(`${what} is not the msgpack Nomad sends (${(err as Error).message}); this is a bug in Nomad or in the plugin`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw new ConfigError(`${what} is not a map of attributes; this is a bug in Nomad or in the plugin`);
  }
  return value as Record<string, unknown>;
}

export function optionalString(value: Record<string, unknown>, key: string, where: string): string | undefined {
  const v = value[key];
  if (v === null || v === undefined) return undefined;
  if (typeof v !== 'string') throw new ConfigError(`${where}: ${key} is ${JSON.stringify(v)}: give a string`);
  return v === '' ? undefined : v;
}
