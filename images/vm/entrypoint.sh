#!/bin/sh
# Starts a Deckhand VM: dockerd when DECKHAND_VM_DOCKERD=1, then sshd in the foreground.
# The SSH host key is normally put in place by the provider before the start; a container started
# by hand gets a fresh one here, printed so that a client can check it.
set -eu

key=/etc/ssh/ssh_host_ed25519_key
if [ ! -s "$key" ]; then
  ssh-keygen -q -t ed25519 -N '' -f "$key"
  echo "deckhand-vm: new host key: $(cat "$key.pub")"
fi

# The engine inside makes cgroups for its containers, but Docker mounts a container's cgroups
# read-only unless it is privileged (which this host refuses): make them writable.
cgroups_writable() {
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    # cgroup v2: a cgroup with processes cannot hand controllers down, so move ours into a leaf
    # first, then delegate every controller to the engine's cgroups (not exercised here: this
    # project's test machines run cgroup v1)
    mount -o remount,rw /sys/fs/cgroup
    mkdir -p /sys/fs/cgroup/vm
    while read -r pid; do echo "$pid" >/sys/fs/cgroup/vm/cgroup.procs 2>/dev/null || :; done </sys/fs/cgroup/cgroup.procs
    for controller in $(cat /sys/fs/cgroup/cgroup.controllers); do
      echo "+$controller" >/sys/fs/cgroup/cgroup.subtree_control
    done
  else
    # cgroup v1: one mount per hierarchy, each showing this container's own cgroup
    while read -r _ dir type options _; do
      case "$type:$options" in cgroup:ro,* | cgroup:*,ro,* | cgroup:*,ro) mount -o remount,rw,bind "$dir" ;; esac
    done </proc/self/mounts
  fi
}

if [ "${DECKHAND_VM_DOCKERD:-0}" = 1 ]; then
  cgroups_writable
  # unix socket only: the remote-Docker step restarts it with TLS on 2376 (deckhand-dockerd --tls)
  (/usr/local/bin/deckhand-dockerd || echo "deckhand-vm: the Docker engine did not start" >&2) &
fi

exec /usr/sbin/sshd -D -e
