/**
 * BasePlugin: what the plugin is (a driver named `deckhand`, driver API 0.1.0), the HCL its
 * config block takes, and that config. Nomad calls these first, from three processes in turn:
 * one to fingerprint the plugin, one to validate its config, then the long-lived one.
 */
import { status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import type { PluginLog } from '../go-plugin/log.js';
import { ConfigError, decodePluginConfig, pluginConfigSpec, type PluginConfig } from './plugin-config.js';

/** The name jobs use (`driver = "deckhand"`) and the file name in plugin_dir. */
export const DRIVER_NAME = 'deckhand';
/** The driver API versions Nomad's clients speak (plugins/drivers/versions.go: "v0.1.0"). */
export const DRIVER_API_VERSIONS = ['0.1.0'];

export function baseService(version: string, log: PluginLog, configure: (config: PluginConfig) => void) {
  return {
    PluginInfo(_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) {
      callback(null, { type: 'DRIVER', plugin_api_versions: DRIVER_API_VERSIONS, plugin_version: version, name: DRIVER_NAME });
    },
    ConfigSchema(_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) {
      callback(null, { spec: pluginConfigSpec() });
    },
    SetConfig(call: ServerUnaryCall<{ msgpack_config: Buffer; plugin_api_version: string; nomad_config: unknown }, unknown>, callback: sendUnaryData<unknown>) {
      const { msgpack_config: bytes, plugin_api_version: api } = call.request;
      if (api && !DRIVER_API_VERSIONS.includes(api.replace(/^v/, ''))) {
        callback({ code: status.INVALID_ARGUMENT, details: `the client negotiated driver API ${api}; this plugin speaks ${DRIVER_API_VERSIONS.join(', ')}` });
        return;
      }
      try {
        const config = decodePluginConfig(bytes ?? Buffer.alloc(0));
        configure(config);
        log.log('info', 'plugin configured', { deckhand: config.deckhand, docker_endpoint: config.dockerEndpoint, reserved_cpu_cores: config.reservedCpuCores, reserved_memory_mb: config.reservedMemoryMb });
        callback(null, {});
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        callback({ code: status.INVALID_ARGUMENT, details: err.message });
      }
    },
  };
}
