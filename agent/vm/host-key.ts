/**
 * SSH host public keys as providers report them (`ssh-ed25519 AAAA…`, the known_hosts form):
 * parsed once, compared byte for byte with what a server presents, and named by the SHA-256
 * fingerprint OpenSSH prints, so that a mismatch can be told in one line.
 */
import { createHash } from 'node:crypto';
import type { ServerHostKeyAlgorithm } from 'ssh2';

export interface HostPublicKey {
  /** the key's type, e.g. `ssh-ed25519` */
  type: string;
  /** the public key blob, as the server sends it during the key exchange */
  blob: Buffer;
  /** `SHA256:` and unpadded base64, as `ssh-keygen -l` prints */
  fingerprint: string;
}

const TYPES = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa'];

/** Parses `TYPE BASE64 [comment]`; the message says what is wrong (for the caller to place). */
export function parseHostKey(text: string): HostPublicKey {
  const [type, data] = text.trim().split(/\s+/);
  if (!type || !data) throw new Error(`"${text.trim().slice(0, 40)}" is not a public key; write it as "ssh-ed25519 AAAA…" (the line of the host's /etc/ssh/ssh_host_ed25519_key.pub)`);
  if (!TYPES.includes(type)) throw new Error(`host key type "${type}" is not one of ${TYPES.join(', ')}`);
  const blob = Buffer.from(data, 'base64');
  // the blob starts with its own type name: a truncated or pasted-wrong key shows here
  const inner = blob.length >= 4 ? blob.subarray(4, 4 + blob.readUInt32BE(0)).toString('latin1') : '';
  if (inner !== type) throw new Error(`the ${type} host key's data is damaged (it does not start with its type); copy the whole line again`);
  return { type, blob, fingerprint: fingerprintOf(blob) };
}

export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The host key algorithms to offer, so that a server holding several keys presents this one. */
export function hostKeyAlgorithms(key: HostPublicKey): ServerHostKeyAlgorithm[] {
  return key.type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [key.type as ServerHostKeyAlgorithm];
}
