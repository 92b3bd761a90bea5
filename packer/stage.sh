#!/usr/bin/env bash
# Gathers what the Packer templates install from this checkout into one folder (default
# packer/.stage, or $1): Deckhand as `make build` left it with its production packages only, the
# `deckhand` task driver plugin, and the Node.js that runs both (the one on this PATH, which must
# be 20 or later and built for the images' architecture). The templates take it as `stage_dir`.
# Run `make build` first.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
stage=${1:-$root/packer/.stage}

[ -s "$root/dist/bundle/deckhand.cjs" ] && [ -x "$root/nomad-plugin/dist/deckhand" ] \
  || { echo "packer/stage.sh: Deckhand is not built in $root: run 'make build' first" >&2; exit 1; }
node_bin=${NODE_BINARY:-$(command -v node)}
major=$("$node_bin" -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || { echo "packer/stage.sh: $node_bin is Node $major; Deckhand needs 20 or later (set NODE_BINARY)" >&2; exit 1; }

rm -rf "$stage"
mkdir -p "$stage/deckhand/dist" "$stage/deckhand/node_modules"
cd "$root"
# what package.json's "files" publishes, less the compiled tests and benchmarks
cp -a bin package.json "$stage/deckhand/"
cp -a dist/agent "$stage/deckhand/dist/"
mkdir -p "$stage/deckhand/dist/bundle"
cp -a dist/bundle/deckhand.cjs "$stage/deckhand/dist/bundle/"
for f in agent/jobspec/jobspec.schema.json agent/config/schema/config.schema.json agent/job-tools/circleci-agent.sh; do
  cp -a --parents "$f" "$stage/deckhand/"
done
# the production dependency tree: each top-level package with whatever it nests
npm ls --omit=dev --parseable --all 2>/dev/null | sed -n "s|^$root/node_modules/||p" | grep -v '/node_modules/' | sort -u |
  while read -r pkg; do cp -a --parents "node_modules/$pkg" "$stage/deckhand/"; done

install -D -m 0755 nomad-plugin/dist/deckhand "$stage/plugin/deckhand"
install -D -m 0755 "$(readlink -f "$node_bin")" "$stage/node/node"
echo "packer/stage.sh: staged Deckhand $(node -p 'require("./package.json").version'), its plugin and Node $("$node_bin" --version) in $stage"
