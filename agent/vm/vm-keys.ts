/**
 * The two key pairs of one VM, made fresh in the agent for every VM and never written to the
 * agent's disk: the VM's SSH host key (its private half goes to the VM, its public half is the only
 * one the agent will accept, known before the VM has even started) and the key the agent logs in
 * with (its public half goes to the VM, its private half stays in the agent). ed25519: fast to make
 * and what every current sshd accepts.
 */
import { createRequire } from 'node:module';

export interface VmKeys {
  /** OpenSSH private key, written to the VM as its ed25519 host key */
  hostPrivateKey: string;
  /** `ssh-ed25519 AAAA… comment`: the only host key the agent accepts */
  hostPublicKey: string;
  /** OpenSSH private key the agent logs in with */
  loginPrivateKey: Buffer;
  /** `ssh-ed25519 AAAA… comment`: installed in the VM user's authorized_keys */
  loginPublicKey: string;
}

type Ssh2 = typeof import('ssh2');
let ssh2: Ssh2 | undefined;

export async function freshVmKeys(label: string): Promise<VmKeys> {
  // comments end up in a shell script and in logs: keep them to safe characters
  const safe = label.replace(/[^A-Za-z0-9._-]/g, '-');
  const [host, login] = await Promise.all([freshEd25519Pair(`deckhand-host-${safe}`), freshEd25519Pair(`deckhand-agent-${safe}`)]);
  return { hostPrivateKey: host.private, hostPublicKey: host.public.trim(), loginPrivateKey: Buffer.from(login.private), loginPublicKey: login.public.trim() };
}

/** A fresh ed25519 key pair in OpenSSH format (`public` is `ssh-ed25519 AAAA… comment`). */
export async function freshEd25519Pair(comment: string): Promise<{ private: string; public: string }> {
  ssh2 ??= createRequire(import.meta.url)('ssh2') as Ssh2;
  const utils = ssh2.utils;
  const generate = (): Promise<{ private: string; public: string }> =>
    new Promise((resolve, reject) => utils.generateKeyPair('ed25519', { comment }, (err, keys) => (err ? reject(err) : resolve(keys))));
  // ssh2 1.17 drops a public key's leading zero byte, so one ed25519 pair in 256 is malformed
  // (https://github.com/mscdex/ssh2/issues/1390): such a pair is made again
  for (let attempt = 0; ; attempt++) {
    const keys = await generate();
    if (wellFormed(utils, keys) || attempt >= 16) return keys;
  }
}

/** Both halves parse, and the public key is the 32 bytes ed25519 keys are. */
function wellFormed(utils: Ssh2['utils'], keys: { private: string; public: string }): boolean {
  const priv = utils.parseKey(keys.private);
  const pub = utils.parseKey(keys.public);
  if (priv instanceof Error || pub instanceof Error || Array.isArray(priv) || Array.isArray(pub)) return false;
  const blob = pub.getPublicSSH();
  // string "ssh-ed25519" (4 + 11 bytes), then string key (4 + 32)
  return blob.length === 51 && priv.getPublicSSH().equals(blob);
}
