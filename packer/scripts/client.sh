#!/bin/sh
# The Nomad client image: Docker engine with user namespaces remapped, Nomad (NOMAD_VERSION; empty
# leaves it out), the firewall for job containers, the units that render the client configuration
# at boot and drain on shutdown. Files come from packer/files/client, uploaded to /tmp/deckhand-files.
set -eu
files=/tmp/deckhand-files
. /tmp/deckhand-enable-unit.sh

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends docker.io iptables curl ca-certificates unzip git >/dev/null
rm -rf /var/lib/apt/lists/*

# Docker: user namespaces remapped (root in a job container is an unprivileged user on the host)
install -D -m 0644 "$files/daemon.json" /etc/docker/daemon.json

if [ -n "${NOMAD_VERSION:-}" ]; then
  arch=$(dpkg --print-architecture)
  base="https://releases.hashicorp.com/nomad/$NOMAD_VERSION"
  zip="nomad_${NOMAD_VERSION}_linux_${arch}.zip"
  cd /tmp
  curl -sfLO "$base/$zip" && curl -sfLO "$base/nomad_${NOMAD_VERSION}_SHA256SUMS"
  grep " $zip\$" "nomad_${NOMAD_VERSION}_SHA256SUMS" | sha256sum -c - >/dev/null
  unzip -o -q "$zip" -d /usr/local/bin
  rm -f "$zip" "nomad_${NOMAD_VERSION}_SHA256SUMS"
  cd /
  echo "client: $(/usr/local/bin/nomad version | head -n 1)"
else
  echo "client: nomad_version is empty: Nomad is not installed"
fi
mkdir -p /etc/nomad.d /opt/nomad/data /etc/deckhand

install -m 0644 "$files/firewall.rules" /etc/deckhand/firewall.rules
install -m 0755 "$files/deckhand-client-config" /usr/local/sbin/deckhand-client-config
install -m 0755 "$files/deckhand-lifecycle" /usr/local/sbin/deckhand-lifecycle
for unit in nomad deckhand-firewall deckhand-client-config deckhand-drain deckhand-lifecycle; do
  install -m 0644 "$files/$unit.service" "/etc/systemd/system/$unit.service"
done
# the lifecycle watcher is AWS's: the AWS user data enables it
for unit in nomad deckhand-firewall deckhand-client-config deckhand-drain; do enable_unit "$unit.service"; done
rm -rf "$files" /tmp/deckhand-enable-unit.sh
