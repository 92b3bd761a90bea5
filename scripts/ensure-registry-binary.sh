#!/usr/bin/env bash
# The CNCF distribution registry (`registry`), which the pull tests start on
# 127.0.0.1 to pull through a real registry with real credentials. It is
# built from source through the Go module proxy (no prebuilt binaries can be
# fetched here) into $DECKHAND_IMAGE_CACHE/bin, once per machine; quiet when
# the pinned version is already there. The tests look for it at that path,
# or at $DECKHAND_REGISTRY_BIN.
set -euo pipefail

version=v3.1.2
module=github.com/distribution/distribution/v3/cmd/registry
cache=${DECKHAND_IMAGE_CACHE:-/var/cache/deckhand-images}
bin=${DECKHAND_REGISTRY_BIN:-$cache/bin/registry}

if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -qF "$version"; then
  exit 0
fi

command -v go >/dev/null || { echo "ensure-registry-binary: Go is needed to build the test registry ($module@$version); install Go 1.26 or later" >&2; exit 1; }

echo "building the test registry $module@$version (once per machine, a few minutes)..." >&2
mkdir -p "$(dirname "$bin")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# GOTOOLCHAIN=local: build with the Go that is here rather than fetch another.
# (The binary's --version says "$version+unknown", which the check above reads.)
GOBIN=$work GOTOOLCHAIN=local GOFLAGS= go install "$module@$version"
# Moved into place whole, so an interrupted build leaves no half binary.
mv "$work/registry" "$bin"
