/**
 * Waiting for a VM's sshd: ready means it answered with exactly the host key its provider reported
 * and let the VM's user in with the provider's private key. A VM that has just booted may first
 * answer with a key of its image (before its own key is installed) or not at all, so every failure
 * is retried until the deadline; only the reported key is ever accepted (never trust on first use).
 */
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConnectConfig } from 'ssh2';
import type { VmAccess } from './provider.js';

export interface SshWaitOptions {
  /** gives up waiting for good */
  timeoutMs: number;
  /** between attempts; default 1 s */
  retryMs?: number;
  signal?: AbortSignal;
}

/** What an unanswered wait ended on, for the one-line error. */
export class SshNotReady extends Error {
  override name = 'SshNotReady';
  /** the last attempt's failure, e.g. `it presented another host key` */
  readonly reason: string;
  /** true when the signal ended the wait */
  readonly aborted: boolean;

  constructor(target: string, reason: string, aborted: boolean, timeoutMs: number) {
    super(aborted ? `waiting for SSH on ${target} was canceled (last: ${reason})` : `SSH on ${target} was not ready within ${Math.round(timeoutMs / 1000)} s: ${reason}`);
    this.reason = reason;
    this.aborted = aborted;
  }
}

const OTHER_KEY = "it presented another host key than the VM's (the VM's own is not installed yet, or this is not the VM)";

type Ssh2 = typeof import('ssh2');
/** loaded at the first wait, not when the agent starts (ssh2 costs ~100 ms to load) */
let ssh2: Ssh2 | undefined;

/** The key blob of an `ssh-ed25519 AAAA… comment` line. */
export function publicKeyBlob(line: string): Buffer {
  const [, base64] = line.trim().split(/\s+/);
  if (base64 === undefined) throw new Error(`not an SSH public key line: "${line.slice(0, 40)}"`);
  return Buffer.from(base64, 'base64');
}

/** Resolves once the VM's sshd passes (see above); rejects with SshNotReady. */
export async function waitForSsh(access: VmAccess, options: SshWaitOptions): Promise<void> {
  const target = `${access.user}@${access.host}:${access.port}`;
  ssh2 ??= createRequire(import.meta.url)('ssh2') as Ssh2;
  // a key that cannot be used is no reason to wait: say so at once
  const login = ssh2.utils.parseKey(access.privateKey);
  if (login instanceof Error) throw new Error(`the private key for ${target} cannot be used: ${login.message}`);
  const deadline = Date.now() + options.timeoutMs;
  let reason = 'no attempt was made';
  for (;;) {
    if (options.signal?.aborted) throw new SshNotReady(target, reason, true, options.timeoutMs);
    const left = deadline - Date.now();
    if (left <= 0) throw new SshNotReady(target, reason, false, options.timeoutMs);
    const outcome = await attempt(ssh2, access, Math.min(left, 20_000), options.signal);
    if (outcome === undefined) return;
    reason = outcome;
    await pause(Math.min(options.retryMs ?? 1_000, Math.max(0, deadline - Date.now())), options.signal);
  }
}

/** One connection: undefined when it passed, else why not. */
function attempt(lib: Ssh2, access: VmAccess, timeoutMs: number, signal: AbortSignal | undefined): Promise<string | undefined> {
  const expected = publicKeyBlob(access.hostKey);
  const expectedType = access.hostKey.trim().split(/\s+/)[0] ?? '';
  const client = new lib.Client();
  let presented: 'none' | 'ours' | 'other' = 'none';
  return new Promise((resolve) => {
    let settled = false;
    const finish = (outcome: string | undefined): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      client.end();
      resolve(outcome);
    };
    const onAbort = (): void => finish('canceled');
    signal?.addEventListener('abort', onAbort, { once: true });
    client.once('ready', () => finish(undefined));
    // `on`, not `once`: ssh2 may report more than one error for a failed connection
    client.on('error', (error: Error & { level?: string }) => {
      if (presented === 'other') finish(OTHER_KEY);
      else if (error.level === 'client-authentication') finish(`the host key matched but user ${access.user} was refused with the VM's key`);
      else if (error.level === 'client-timeout') finish('no SSH handshake in time');
      else finish(error.message.split('\n')[0] ?? 'connection failed');
    });
    client.once('close', () => finish(presented === 'other' ? OTHER_KEY : 'the connection closed during the handshake'));
    const config: ConnectConfig = {
      host: access.host,
      port: access.port,
      username: access.user,
      privateKey: access.privateKey,
      readyTimeout: timeoutMs,
      // only the key type the provider reported, so that the server cannot pick another of its keys
      algorithms: { serverHostKey: [expectedType as 'ssh-ed25519'] },
      hostVerifier: (key: Buffer): boolean => {
        presented = key.equals(expected) ? 'ours' : 'other';
        return presented === 'ours';
      },
    };
    client.connect(config);
  });
}

/** Waits `ms`, or less when `signal` fires. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return sleep(ms, undefined, { signal }).catch(() => undefined);
}
