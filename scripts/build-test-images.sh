#!/usr/bin/env bash
# Build the local images the tests use, each only if it is missing. No image
# registry is reachable, so everything is built from Debian packages here.
#   deckhand-test/busybox:latest               busybox only, no bash
#   deckhand-test/debian:bookworm              debootstrap minbase + git, sshd
#   deckhand-test/debian-entrypoint:bookworm   preserve-entrypoint label + ENTRYPOINT
#   deckhand-test/busybox-entrypoint:latest    ENTRYPOINT without that label
#   deckhand-test/vm:bookworm                  Deckhand's VM image: sshd, Docker engine, circleci user
#   deckhand-test/sshd:bookworm                sshd + sudo, users circleci and user (machine executor tests)
# The debootstrap result is cached in $DECKHAND_IMAGE_CACHE so that a re-run on
# the same machine (after `docker system prune`, say) takes seconds.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
images=$root/images
cache=${DECKHAND_IMAGE_CACHE:-/var/cache/deckhand-images}
path_env='PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

have() { docker image inspect "$1" >/dev/null 2>&1; }

if ! have deckhand-test/busybox:latest; then
  dir=$(mktemp -d /var/tmp/deckhand-busybox.XXXXXX)
  trap 'rm -rf "$dir"' EXIT
  "$images/busybox/make-rootfs.sh" "$dir/rootfs"
  tar -C "$dir/rootfs" --numeric-owner -c . |
    docker import --change "ENV $path_env" --change 'CMD ["sh"]' - deckhand-test/busybox:latest >/dev/null
  rm -rf "$dir"
  trap - EXIT
fi

if ! have deckhand-test/debian:bookworm; then
  mkdir -p "$cache"
  tarball=$cache/debian-bookworm-minbase.tar
  if [ ! -s "$tarball" ]; then
    "$images/debian/make-rootfs.sh" "$tarball"
  fi
  docker import --change "ENV $path_env" --change 'CMD ["bash"]' "$tarball" deckhand-test/debian:bookworm >/dev/null
fi

# Dockerfile images FROM the two above. DOCKER_BUILDKIT=0: the engine here
# has no buildx; the legacy builder works. Its deprecation notice goes to
# stderr, so output is shown only on failure.
# An image is rebuilt when its folder changed: the folder's digest is kept in a label.
build() {
  local tag=$1 context=$2 out digest
  digest=$(cd "$context" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
  [ "$(docker image inspect -f '{{ index .Config.Labels "com.deckhand.context" }}' "$tag" 2>/dev/null)" = "$digest" ] && return 0
  if ! out=$(DOCKER_BUILDKIT=0 docker build -q --label "com.deckhand.context=$digest" -t "$tag" "$context" 2>&1); then
    echo "$out" >&2
    exit 1
  fi
}
build deckhand-test/debian-entrypoint:bookworm "$images/debian-entrypoint"
build deckhand-test/busybox-entrypoint:latest "$images/busybox-entrypoint"
build deckhand-test/vm:bookworm "$images/vm"
build deckhand-test/sshd:bookworm "$images/sshd"
