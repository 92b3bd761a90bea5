/**
 * The static provider's pool file: the existing hosts jobs may use, each with how to log in and
 * the host key it must present. YAML (JSON is YAML too); the format is in docs/machine.md.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import ssh2 from 'ssh2';
import { parse } from 'yaml';
import { UsageError, errorMessage } from '../errors.js';
import { parseHostKey } from './host-key.js';

export interface PoolHost {
  /** how messages and locks name it; unique in the pool */
  name: string;
  address: string;
  port: number;
  user: string;
  privateKeyFile: string;
  privateKey: Buffer;
  /** `ssh-ed25519 AAAA…` */
  hostKey: string;
}

export interface Pool {
  file: string;
  hosts: PoolHost[];
}

const FIELDS = ['name', 'address', 'port', 'user', 'privateKeyFile', 'hostKey'];

/** Reads and checks the whole file (keys included): a UsageError naming the file and host, or the pool. */
export async function readPool(file: string): Promise<Pool> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read the machine pool file ${file}: ${errorMessage(error)}`);
  }
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    throw new UsageError(`machine pool file ${file} is not valid YAML: ${errorMessage(error).split('\n')[0]}`);
  }
  const hostsField = isRecord(document) ? document.hosts : undefined;
  if (!Array.isArray(hostsField) || hostsField.length === 0) {
    throw new UsageError(`machine pool file ${file} lists no hosts; it needs "hosts:" with at least one {name, address, privateKeyFile, hostKey} (docs/machine.md)`);
  }
  const hosts: PoolHost[] = [];
  for (const [index, entry] of hostsField.entries()) {
    const where = `machine pool file ${file}, hosts[${index}]`;
    if (!isRecord(entry)) throw new UsageError(`${where} is not a mapping of name, address, port, user, privateKeyFile, hostKey`);
    const unknown = Object.keys(entry).filter((key) => !FIELDS.includes(key));
    if (unknown.length) throw new UsageError(`${where} has unknown field ${unknown.map((key) => `"${key}"`).join(', ')}; the fields are ${FIELDS.join(', ')}`);
    let at = where;
    const text = (key: string, fallback?: string): string => {
      const value = entry[key] ?? fallback;
      if (typeof value !== 'string' || value.trim() === '') throw new UsageError(`${at} needs ${key} (a non-empty string)`);
      return value.trim();
    };
    const name = text('name');
    at = `${where} (${name})`;
    if (hosts.some((host) => host.name === name)) throw new UsageError(`${at}: the name is used twice; each host needs its own`);
    const port = entry.port ?? 22;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`${at}: port must be a number from 1 to 65535`);
    const hostKey = text('hostKey');
    try {
      parseHostKey(hostKey);
    } catch (error) {
      throw new UsageError(`${at}: hostKey: ${errorMessage(error)}`);
    }
    const privateKeyFile = path.resolve(path.dirname(file), text('privateKeyFile'));
    const privateKey = await readPrivateKey(privateKeyFile, at);
    hosts.push({ name, address: text('address'), port, user: text('user', 'circleci'), privateKeyFile, privateKey, hostKey });
  }
  return { file, hosts };
}

async function readPrivateKey(file: string, at: string): Promise<Buffer> {
  let material: Buffer;
  try {
    material = await readFile(file);
  } catch (error) {
    throw new UsageError(`${at}: cannot read privateKeyFile ${file}: ${errorMessage(error)}`);
  }
  const parsed = ssh2.utils.parseKey(material);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (key instanceof Error || !key || !key.isPrivateKey()) {
    const why = key instanceof Error && /encrypted/i.test(key.message) ? 'is encrypted; the agent needs a key without a passphrase' : 'is not an SSH private key';
    throw new UsageError(`${at}: privateKeyFile ${file} ${why}`);
  }
  return material;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
