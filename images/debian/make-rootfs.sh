#!/usr/bin/env bash
# Build the root filesystem of deckhand-test/debian:bookworm with debootstrap
# and write it as a tar file: a real Debian with bash, git and sshd, for steps
# and for machine-executor VMs.
# Usage: make-rootfs.sh OUT.tar [MIRROR]
set -euo pipefail
out=${1:?usage: make-rootfs.sh OUT.tar [MIRROR]}
mirror=${2:-http://deb.debian.org/debian}

if ! command -v debootstrap >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

work=$(mktemp -d /var/tmp/deckhand-debian.XXXXXX)
trap 'rm -rf "$work"' EXIT

debootstrap --variant=minbase --include=git,openssh-server,ca-certificates \
  bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  echo "debootstrap failed (mirror $mirror); last lines of its log:" >&2
  tail -n 20 "$work/debootstrap.log" >&2
  exit 1
}

# Smaller image: the package cache and lists are rebuilt by any `apt-get update`.
rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
# sshd needs its privilege-separation directory at start.
mkdir -p "$work/rootfs/run/sshd"
# A plain user for `user:` tests.
chroot "$work/rootfs" useradd --create-home --shell /bin/bash --uid 1000 user

tar -C "$work/rootfs" --numeric-owner -cf "$out.partial" .
mv "$out.partial" "$out"
