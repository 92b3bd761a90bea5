#!/bin/sh
# The VM image for machine jobs and remote Docker, as images/vm/ builds it for containers: sshd
# with public keys only, the Docker engine (started by deckhand-dockerd, on 2376 with TLS for
# setup_remote_docker), git, and a `circleci` user with passwordless sudo in the docker group.
# Files come from images/vm, uploaded to /tmp/deckhand-files.
set -eu
files=/tmp/deckhand-files

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends docker.io sudo curl ca-certificates git openssh-server iproute2 procps >/dev/null
rm -rf /var/lib/apt/lists/*
# no host key baked in: each VM is given its own (the VM providers install it before sshd starts)
rm -f /etc/ssh/ssh_host_*
if ! id circleci >/dev/null 2>&1; then
  # uid 1000 as on CircleCI's images, when the base image has not given it away
  uid=1000
  getent passwd 1000 >/dev/null && uid=
  useradd --create-home --shell /bin/bash ${uid:+--uid $uid} --user-group --groups docker circleci
  # '*' rather than locked: without PAM, sshd refuses a locked account even for keys
  usermod --password '*' circleci
fi
echo 'circleci ALL=(ALL) NOPASSWD:ALL' >/etc/sudoers.d/circleci
chmod 0440 /etc/sudoers.d/circleci
install -d -m 0700 -o circleci -g circleci /home/circleci/.ssh
mkdir -p /run/sshd /etc/ssh/sshd_config.d
install -m 0644 "$files/sshd.conf" /etc/ssh/sshd_config.d/deckhand.conf
install -m 0755 "$files/deckhand-dockerd" /usr/local/bin/deckhand-dockerd
install -m 0755 "$files/entrypoint.sh" /usr/local/bin/deckhand-vm-entrypoint
# deckhand-dockerd stops and restarts the engine itself (with TLS for remote Docker): systemd must
# not start another behind it
mkdir -p /etc/systemd/system/docker.service.d
printf '[Service]\nRestart=no\n' >/etc/systemd/system/docker.service.d/deckhand.conf
rm -rf "$files"
echo "vm: openssh-server $(dpkg-query -W -f '${Version}' openssh-server), $(docker --version), $(git --version)"
