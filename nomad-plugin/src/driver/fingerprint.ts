/**
 * The driver's fingerprint: healthy only when the Docker engine answers, the agent's executable
 * is there, and the resources kept back for the agent are there (the machine has more cores than
 * are kept back, and the memory kept back is free now); and attributes the scheduler's
 * constraints can use: versions and what is left for jobs. Nomad places a task only on a client
 * whose driver is detected and healthy (scheduler/feasible.go in https://github.com/hashicorp/nomad).
 */
import { accessSync, constants as fsConstants } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';
import type Docker from 'dockerode';
import type { PluginConfig } from '../base/plugin-config.js';
import { engineVersion } from './engine.js';
import { availableMemoryMb } from './proc.js';

export type Health = 'UNDETECTED' | 'UNHEALTHY' | 'HEALTHY';

export type AttributeValue = { string_val: string } | { int_val: number } | { bool_val: boolean };

export interface Fingerprint {
  health: Health;
  health_description: string;
  attributes: Record<string, AttributeValue>;
}

/** The executable a command name or path stands for, or undefined when there is none. */
export function findExecutable(command: string, path = process.env.PATH ?? ''): string | undefined {
  const candidates = command.includes('/') ? [command] : path.split(delimiter).filter(Boolean).map((dir) => join(dir, command));
  for (const candidate of candidates) {
    if (!isAbsolute(candidate) && !command.includes('/')) continue;
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  return undefined;
}

export interface MachineFacts {
  cores: number;
  memoryMb: number;
  availableMemoryMb: number | undefined;
}

export function machineFacts(): MachineFacts {
  return { cores: availableParallelism(), memoryMb: Math.floor(totalmem() / 1048576), availableMemoryMb: availableMemoryMb() };
}

export async function fingerprint(config: PluginConfig | undefined, docker: Docker | undefined, version: string, machine: MachineFacts = machineFacts()): Promise<Fingerprint> {
  const attributes: Record<string, AttributeValue> = { 'driver.deckhand.version': { string_val: version } };
  if (!config || !docker) return { health: 'UNDETECTED', health_description: 'the driver has no configuration yet', attributes };
  const problems: string[] = [];
  const engine = await engineVersion(docker, 5000);
  if ('error' in engine) {
    problems.push(`the Docker engine at ${config.dockerEndpoint} does not answer (${engine.error})`);
  } else {
    attributes['driver.deckhand.docker.version'] = { string_val: engine.version };
    attributes['driver.deckhand.docker.api_version'] = { string_val: engine.apiVersion };
  }
  const agent = findExecutable(config.deckhand);
  if (agent === undefined) problems.push(`the agent's executable ${JSON.stringify(config.deckhand)} is not there or not executable: set deckhand in the plugin config`);
  else attributes['driver.deckhand.agent'] = { string_val: agent };
  attributes['driver.deckhand.reserved.cpu_cores'] = { int_val: config.reservedCpuCores };
  attributes['driver.deckhand.reserved.memory_mb'] = { int_val: config.reservedMemoryMb };
  attributes['driver.deckhand.capacity.cpu_cores'] = { int_val: Math.max(0, machine.cores - config.reservedCpuCores) };
  attributes['driver.deckhand.capacity.memory_mb'] = { int_val: Math.max(0, machine.memoryMb - config.reservedMemoryMb) };
  if (machine.cores <= config.reservedCpuCores) {
    problems.push(`this machine has ${machine.cores} CPU cores and ${config.reservedCpuCores} are kept back for the agent: none are left for jobs (lower reserved_cpu_cores, or use a larger machine)`);
  }
  if (machine.availableMemoryMb !== undefined && machine.availableMemoryMb < config.reservedMemoryMb) {
    problems.push(`${machine.availableMemoryMb} MB of memory is available and ${config.reservedMemoryMb} MB is to be kept back for the agent (reserved_memory_mb)`);
  }
  if (problems.length > 0) return { health: 'UNHEALTHY', health_description: problems.join('; '), attributes };
  return { health: 'HEALTHY', health_description: 'healthy', attributes };
}
