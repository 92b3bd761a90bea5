/**
 * The two key pairs each VM of Deckhand's own gets, made in-process when it is acquired and never
 * written to the agent's disk: its SSH host key (so that the agent knows which key to insist on
 * before the VM has even started) and the key its user accepts.
 */
import ssh2 from 'ssh2';

export interface VmKeys {
  /** the VM's host key, OpenSSH private key format, for /etc/ssh/ssh_host_ed25519_key */
  hostPrivateKey: string;
  /** `ssh-ed25519 AAAA… comment`, for the .pub beside it and for VmAccess.hostKey */
  hostPublicKey: string;
  /** what the agent logs in with (OpenSSH private key format) */
  userPrivateKey: Buffer;
  /** the authorized_keys line */
  userPublicKey: string;
}

/** ed25519: fast to make (well under a millisecond) and what every current sshd accepts. */
export function newVmKeys(comment: string): VmKeys {
  const host = ssh2.utils.generateKeyPairSync('ed25519', { comment: `${comment} host key` });
  const user = ssh2.utils.generateKeyPairSync('ed25519', { comment });
  return {
    hostPrivateKey: host.private,
    hostPublicKey: host.public,
    userPrivateKey: Buffer.from(user.private),
    userPublicKey: user.public,
  };
}
