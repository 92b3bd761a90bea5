/**
 * The job's SSH host key: ed25519, made when SSH is enabled and never written to disk, so that
 * no two jobs (and no rerun) share one. People check it by its fingerprint, which the job prints.
 */
import { freshEd25519Pair } from '../vm/vm-keys.js';
import { fingerprintOf } from './authorized-keys.js';

export interface JobHostKey {
  /** OpenSSH private key, for the server */
  privateKey: string;
  /** `ssh-ed25519 AAAA…`, for a known_hosts line */
  publicKey: string;
  /** `SHA256:…`, as ssh shows it when it asks whether to trust the host */
  fingerprint: string;
}

export async function freshHostKey(): Promise<JobHostKey> {
  const pair = await freshEd25519Pair('deckhand-job');
  const [type, data] = pair.public.trim().split(/\s+/);
  return { privateKey: pair.private, publicKey: `${type} ${data}`, fingerprint: fingerprintOf(Buffer.from(data ?? '', 'base64')) };
}
