// The one host key a VM may present: the one its provider reported. Never trust on first use.

import { createHash } from 'node:crypto';
import type { ServerHostKeyAlgorithm } from 'ssh2';
import { ExecutorError } from '../executor.js';

export interface ExpectedHostKey {
  /** `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`… */
  type: string;
  /** the public key blob, as the server sends it during key exchange */
  blob: Buffer;
}

/** `ssh-ed25519 AAAA… [comment]` (an authorized_keys or known_hosts line without the host). */
export function parseHostKey(text: string, where: string): ExpectedHostKey {
  const [type, base64] = text.trim().split(/\s+/);
  const blob = base64 && /^[A-Za-z0-9+/]+=*$/.test(base64) ? Buffer.from(base64, 'base64') : undefined;
  // the blob starts with its own type name: a check that the text is a key at all
  if (!type || !blob || blob.length < 4 || blob.subarray(4, 4 + blob.readUInt32BE(0)).toString('latin1') !== type) {
    throw new ExecutorError(`the host key reported for VM ${where} is not an OpenSSH public key ("type AAAA…"): ${JSON.stringify(text.slice(0, 40))}; check the VM provider`);
  }
  return { type, blob };
}

/** As `ssh-keygen -l` prints it: `SHA256:` and the unpadded base64 of the blob's digest. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/**
 * The host key algorithms to offer: only those of the expected key, so that a server with several
 * host keys presents that one rather than whichever it prefers.
 */
export function hostKeyAlgorithms(key: ExpectedHostKey): ServerHostKeyAlgorithm[] {
  if (key.type === 'ssh-rsa') return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  return [key.type as ServerHostKeyAlgorithm];
}
