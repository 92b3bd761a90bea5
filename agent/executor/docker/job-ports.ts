// TCP connections into a Docker job, for `ssh -L`: the primary and its services share one network
// namespace, so every port of the job is a port of the primary's address on its network, which
// the agent reaches from the engine's host. Only the job's own names lead there: `localhost` and
// the service names (which the primary resolves to 127.0.0.1); anything else the job could reach
// is not the agent's to open from its own network.

import { connect as tcpConnect, isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import { ExecutorError } from '../executor.js';

const LOOPBACK = ['localhost', 'localhost.localdomain', 'ip6-localhost', '127.0.0.1', '::1'];

/** The primary's address on its network (the job's own, or the default bridge). */
export async function primaryAddress(primary: Docker.Container): Promise<string> {
  const info = await primary.inspect();
  const settings = info.NetworkSettings as typeof info.NetworkSettings & { IPAddress?: string };
  const address = Object.values(settings.Networks ?? {}).map((n) => n.IPAddress).find((ip) => ip) || settings.IPAddress;
  if (!address) throw new ExecutorError('cannot reach the ports of the job: its primary container has no IP address (network mode none or host?)');
  return address;
}

/** Whether `host` means the job's own namespace: loopback, a service's name, or the primary's address. */
export function isJobHost(host: string, serviceNames: string[], address: string): boolean {
  const name = host.toLowerCase().replace(/^\[|\]$/g, '');
  return LOOPBACK.includes(name) || serviceNames.includes(host) || name === address;
}

export function connectTcp(address: string, port: number, what: string, signal?: AbortSignal): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    if (!Number.isInteger(port) || port < 1 || port > 65535) return reject(new ExecutorError(`cannot connect to ${what}: ${port} is not a TCP port`));
    if (signal?.aborted) return reject(new ExecutorError(`cannot connect to ${what}: cancelled`));
    const socket = tcpConnect({ host: address, port, family: isIP(address) || undefined });
    const onAbort = (): void => {
      socket.destroy();
      reject(new ExecutorError(`cannot connect to ${what}: cancelled`));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.setNoDelay(true);
    socket.once('connect', () => {
      signal?.removeEventListener('abort', onAbort);
      socket.removeAllListeners('error');
      socket.on('error', () => undefined);
      resolve(socket);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      signal?.removeEventListener('abort', onAbort);
      reject(new ExecutorError(`cannot connect to ${what}: ${error.code === 'ECONNREFUSED' ? 'nothing listens there' : error.message}`));
    });
  });
}
