/**
 * The user data of a Deckhand instance: a shell script that cloud-init runs once as root at first
 * boot. It installs the VM's own SSH host key and the agent's login key for `circleci` (creating the
 * user on an image that lacks it), starts the Docker engine when the VM is a remote engine, and
 * restarts sshd last: once sshd answers with the VM's key, everything before it has been done.
 *
 * The script holds a private host key. Anyone allowed ec2:DescribeInstanceAttribute on the instance,
 * and any process on the VM that can reach its metadata service, can read it; neither can do more
 * with it than pose as a VM that is already theirs (docs/machine.md, "aws").
 */
import type { VmRequest } from '../provider.js';
import type { VmKeys } from '../vm-keys.js';

/** The user the agent logs in as, as on CircleCI's machine images. */
export const VM_USER = 'circleci';

const KEY_LINE = /^[A-Za-z0-9+/=@._ -]+$/;

/** The script (plain text; RunInstances takes it base64-encoded). */
export function userDataScript(keys: Pick<VmKeys, 'hostPrivateKey' | 'hostPublicKey' | 'loginPublicKey'>, purpose: VmRequest['purpose']): string {
  // everything put in the script is key material the agent made itself; checked anyway, so that
  // no quoting question can arise
  for (const line of [keys.hostPublicKey, keys.loginPublicKey, ...keys.hostPrivateKey.trim().split('\n')]) {
    if (!KEY_LINE.test(line)) throw new Error(`unexpected characters in a VM key line: "${line.slice(0, 40)}"`);
  }
  const lines = [
    '#!/bin/sh',
    '# Deckhand VM set-up: its SSH host key, and the key the agent logs in with.',
    'set -eu',
    'umask 022',
    'install -d -m 755 /etc/ssh',
    "cat > /etc/ssh/ssh_host_ed25519_key <<'DECKHAND_HOST_KEY'",
    keys.hostPrivateKey.trim(),
    'DECKHAND_HOST_KEY',
    'chmod 600 /etc/ssh/ssh_host_ed25519_key',
    `printf '%s\\n' '${keys.hostPublicKey}' > /etc/ssh/ssh_host_ed25519_key.pub`,
    `id ${VM_USER} >/dev/null 2>&1 || useradd --create-home --shell /bin/bash ${VM_USER}`,
    `if [ -d /etc/sudoers.d ]; then printf '%s\\n' '${VM_USER} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/90-deckhand; chmod 440 /etc/sudoers.d/90-deckhand; fi`,
    `if getent group docker >/dev/null 2>&1; then usermod -aG docker ${VM_USER}; fi`,
    `home=$(getent passwd ${VM_USER} | cut -d: -f6)`,
    `install -d -m 700 -o ${VM_USER} -g "$(id -gn ${VM_USER})" "$home/.ssh"`,
    `printf '%s\\n' '${keys.loginPublicKey}' > "$home/.ssh/authorized_keys"`,
    `chown ${VM_USER}:"$(id -gn ${VM_USER})" "$home/.ssh/authorized_keys"`,
    'chmod 600 "$home/.ssh/authorized_keys"',
    // systemd on an AMI; the init scripts where there is none (the provider's tests run this script in a container)
    'with_systemd() { [ -d /run/systemd/system ]; }',
  ];
  if (purpose === 'remote-docker') {
    lines.push('if with_systemd; then systemctl enable --now docker; else service docker start; fi');
  }
  lines.push(
    '# last: sshd answering with the key above tells the agent that all of this is done',
    'if with_systemd; then systemctl restart ssh 2>/dev/null || systemctl restart sshd; else service ssh restart 2>/dev/null || service sshd restart; fi',
    '',
  );
  return lines.join('\n');
}
