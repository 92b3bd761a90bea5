#!/usr/bin/env bash
# What the Go test harness of the Nomad plugin (nomad-plugin/harness) needs besides Go, installed
# when missing (idempotent, quiet), then its Go stubs generated from nomad-plugin/proto when a
# .proto is newer than them:
#   protoc (Debian's protobuf-compiler)
#   ssh, ssh-keygen, ssh-keyscan (Debian's openssh-client)
#   protoc-gen-go, protoc-gen-go-grpc (Go module proxy), built into nomad-plugin/harness/.tools
set -euo pipefail
cd "$(dirname "$0")/.."
harness=nomad-plugin/harness
tools="$PWD/$harness/.tools"

if ! command -v protoc >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-nomad-harness-tools: protoc is missing; install it with 'sudo apt-get install protobuf-compiler'" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends protobuf-compiler >/dev/null 2>&1 || {
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends protobuf-compiler >/dev/null
  }
fi
# the rerun-with-SSH test logs into a job with OpenSSH's ssh, ssh-keygen and ssh-keyscan
if ! command -v ssh >/dev/null 2>&1 || ! command -v ssh-keyscan >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-nomad-harness-tools: the OpenSSH client is missing; install it with 'sudo apt-get install openssh-client'" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends openssh-client >/dev/null 2>&1 || {
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends openssh-client >/dev/null
  }
fi
command -v go >/dev/null 2>&1 || { echo "ensure-nomad-harness-tools: the harness needs Go (the go command is missing)" >&2; exit 1; }

# the versions go.mod's protobuf and grpc match
[ -x "$tools/protoc-gen-go" ] || GOBIN="$tools" GOFLAGS=-mod=mod go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12 >/dev/null 2>&1 \
  || { echo "ensure-nomad-harness-tools: cannot build protoc-gen-go (go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12)" >&2; exit 1; }
[ -x "$tools/protoc-gen-go-grpc" ] || GOBIN="$tools" GOFLAGS=-mod=mod go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2 >/dev/null 2>&1 \
  || { echo "ensure-nomad-harness-tools: cannot build protoc-gen-go-grpc (go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2)" >&2; exit 1; }

# Nomad's services only: go-plugin's own (controller, stdio, broker, health) are driven through
# go-plugin's client, whose generated types already own those protobuf names.
stamp="$harness/internal/pb/.generated"
protos=(hclspec structs base driver)
if [ -f "$stamp" ] && [ -z "$(find nomad-plugin/proto "$0" -newer "$stamp" -name '*.proto' -o -newer "$stamp" -name '*.sh' | head -1)" ]; then
  exit 0
fi
module=deckhand.dev/nomad-plugin/harness
maps=()
for p in "${protos[@]}"; do
  pkg=$p; [ "$p" = driver ] && pkg=drivers
  maps+=("M$p.proto=$module/internal/pb/$pkg")
done
opts=$(IFS=,; echo "${maps[*]}")
rm -rf "$harness/internal/pb"/{hclspec,structs,base,drivers}
protoc -I nomad-plugin/proto \
  --plugin=protoc-gen-go="$tools/protoc-gen-go" --plugin=protoc-gen-go-grpc="$tools/protoc-gen-go-grpc" \
  --go_out="$harness" --go_opt="module=$module,$opts" \
  --go-grpc_out="$harness" --go-grpc_opt="module=$module,$opts" \
  "${protos[@]/%/.proto}"
touch "$stamp"
