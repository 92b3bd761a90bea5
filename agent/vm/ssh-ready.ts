/**
 * Waiting for a VM's sshd: ready means it answered with exactly the host key its provider reported
 * and let the VM's user in with the provider's private key. A VM that has just booted may first
 * answer with a key of its image (before its own key is installed) or not at all, so every failure
 * is retried until the deadline; only the reported key is ever accepted (never trust on first use).
 */
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import type { VmAccess } from './provider.js';
import { login, SshLoginError } from './ssh-login.js';

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

/** Resolves once the VM's sshd passes (see above); rejects with SshNotReady. */
export async function waitForSsh(access: VmAccess, options: SshWaitOptions): Promise<void> {
  const target = `${access.user}@${access.host}:${access.port}`;
  // a key that cannot be used is no reason to wait: say so at once
  const usable = createRequire(import.meta.url)('ssh2') as typeof import('ssh2');
  const parsed = usable.utils.parseKey(access.privateKey);
  if (parsed instanceof Error) throw new Error(`the private key for ${target} cannot be used: ${parsed.message}`);
  const deadline = Date.now() + options.timeoutMs;
  let reason = 'no attempt was made';
  for (;;) {
    if (options.signal?.aborted) throw new SshNotReady(target, reason, true, options.timeoutMs);
    const left = deadline - Date.now();
    if (left <= 0) throw new SshNotReady(target, reason, false, options.timeoutMs);
    try {
      (await login(access, Math.min(left, 20_000))).end();
      return;
    } catch (error) {
      // a booting VM may show its image's key before its own is installed: that too is retried,
      // and only the reported key ever passes
      reason = error instanceof SshLoginError && error.reason === 'host-key' ? OTHER_KEY : error instanceof Error ? error.message : String(error);
    }
    await sleep(Math.min(options.retryMs ?? 1_000, Math.max(0, deadline - Date.now())), undefined, { signal: options.signal }).catch(() => undefined);
  }
}

const OTHER_KEY = "it presented another host key than the VM's (the VM's own is not installed yet, or this is not the VM)";
