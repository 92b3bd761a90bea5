/**
 * Proving that a VM is ready: an SSH login with the provider's key to a server that presents
 * exactly the host key the provider reports. Never trust on first use: any other key ends the
 * connection during the key exchange, before a byte of the login is sent.
 */
import ssh2, { type Client } from 'ssh2';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatDuration } from '../output/terminal.js';
import { fingerprintOf, hostKeyAlgorithms, parseHostKey } from './host-key.js';

/** Where and as whom to log in, and the host key to insist on (`ssh-ed25519 AAAA…`). */
export interface SshLogin {
  host: string;
  port: number;
  user: string;
  privateKey: Buffer;
  hostKey: string;
}

/**
 * Why a login failed: `host-key` (the server presented another key: never retried),
 * `auth` (the key was refused), `unreachable` (no SSH server answered, or it hung up).
 */
export class SshLoginError extends Error {
  override name = 'SshLoginError';
  constructor(
    message: string,
    readonly reason: 'host-key' | 'auth' | 'unreachable',
  ) {
    super(message);
  }
}

/** One authenticated connection; the caller ends it. */
export function login(target: SshLogin, timeoutMs: number): Promise<Client> {
  const expected = parseHostKey(target.hostKey);
  const where = `${target.user}@${target.host}:${target.port}`;
  let presented: Buffer | undefined;
  const client = new ssh2.Client();
  return new Promise<Client>((resolve, reject) => {
    let settled = false;
    const fail = (error: SshLoginError) => {
      if (settled) return;
      settled = true;
      client.end();
      reject(error);
    };
    client.once('ready', () => {
      settled = true;
      resolve(client);
    });
    client.on('error', (error: Error & { level?: string }) => {
      if (presented && !presented.equals(expected.blob)) {
        fail(new SshLoginError(`${where} presented host key ${fingerprintOf(presented)}, not the expected ${expected.fingerprint}; refused`, 'host-key'));
      } else if (error.level === 'client-authentication') {
        fail(new SshLoginError(`${where} refused the login key`, 'auth'));
      } else {
        fail(new SshLoginError(`${where}: ${error.message.replace(/\s+/g, ' ')}`, 'unreachable'));
      }
    });
    client.once('close', () => fail(new SshLoginError(`${where} closed the connection before the login`, 'unreachable')));
    client.connect({
      host: target.host,
      port: target.port,
      username: target.user,
      privateKey: target.privateKey,
      readyTimeout: timeoutMs,
      // only the reported key's algorithm: a server with several host keys must show that one
      algorithms: { serverHostKey: hostKeyAlgorithms(expected) },
      hostVerifier: (key: Buffer) => {
        presented = key;
        return key.equals(expected.blob);
      },
    });
  });
}

/**
 * Logs in as soon as the server answers: connections refused or hung up on (sshd not started
 * yet behind a published port) are retried every `retryMs` until `timeoutMs`; a wrong host key
 * or a refused login key ends the wait at once.
 */
export async function waitForLogin(target: SshLogin, options: { timeoutMs: number; retryMs?: number; signal?: AbortSignal }): Promise<Client> {
  const deadline = Date.now() + options.timeoutMs;
  const retryMs = options.retryMs ?? 20;
  for (;;) {
    options.signal?.throwIfAborted();
    try {
      return await login(target, Math.max(1000, deadline - Date.now()));
    } catch (error) {
      if (!(error instanceof SshLoginError) || error.reason !== 'unreachable') throw error;
      if (Date.now() + retryMs >= deadline) {
        throw new SshLoginError(`no SSH server answered within ${formatDuration(options.timeoutMs)} (last: ${error.message})`, 'unreachable');
      }
    }
    await sleep(retryMs, undefined, options.signal ? { signal: options.signal } : {});
  }
}

export interface CommandResult {
  code: number | null;
  /** the first 64 KiB of each stream */
  stdout: string;
  stderr: string;
}

/** Runs one command on an open connection and collects its output. */
export function runCommand(client: Client, command: string): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    client.exec(command, (error, channel) => {
      if (error) return reject(error);
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      const keep = (into: Buffer[]) => (chunk: Buffer) => {
        if (into.reduce((n, b) => n + b.length, 0) < 65536) into.push(chunk);
      };
      channel.on('data', keep(out));
      channel.stderr.on('data', keep(err));
      let code: number | null = null;
      channel.on('exit', (exitCode: number | null) => {
        code = exitCode;
      });
      channel.on('close', () => resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
    });
  });
}
