/**
 * `HOST:PORT` addresses as the commands take them (--listen, --http): shared by the output
 * processor and the artifact server, and free of their dependencies (no gRPC, no store).
 */
import { UsageError } from '../errors.js';

/** `HOST:PORT` (or `[v6]:PORT`) → parts; throws UsageError naming `flag`. */
export function splitHostPort(address: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new UsageError(`${flag} ${address}: expected HOST:PORT, e.g. 127.0.0.1:8080 (port 0 picks a free one)`);
  return { host: m[1] ?? m[2], port };
}

/** The HOST part of a `HOST:PORT` address (brackets of `[v6]` kept). */
export function hostOf(address: string): string {
  return address.slice(0, address.lastIndexOf(':'));
}

/** Whether `host` (as splitHostPort gives it) can only be reached from this machine. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
