#!/usr/bin/env bash
# The real peers the test suite talks to besides Docker, installed when missing (idempotent, quiet):
#   chromium                        headless browser for the output processor's web page
#   python3-grpcio, python3-grpc-tools  a second gRPC implementation (C core) for interoperability
#   moto[server,ec2] (PyPI)         an S3-, ECR- and EC2-protocol server on loopback (docs/storage.md,
#                                   docs/machine.md say why)
#   pytest (PyPI)                   writes real JUnit XML for the test-results parser tests
#   gotestsum (Go module proxy)     go test's JUnit XML, as CircleCI's docs have Go projects write it
#   openssh-client                  OpenSSH's ssh, scp, sftp and ssh-keygen: VM host keys checked, and SSH
#                                   into builds driven, as users' tools would
#   tmux                            a terminal to drive interactive SSH sessions in (type, read, resize)
#   openssh-server                  sshd: the floor bench/debug-ssh.ts compares the job's SSH server with
set -euo pipefail

need_apt=()
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
/usr/bin/python3 -c 'import grpc' 2>/dev/null || need_apt+=(python3-grpcio)
/usr/bin/python3 -c 'import grpc_tools.protoc' 2>/dev/null || need_apt+=(python3-grpc-tools)
{ command -v ssh && command -v ssh-keygen && command -v scp && command -v sftp; } >/dev/null 2>&1 || need_apt+=(openssh-client)
command -v tmux >/dev/null 2>&1 || need_apt+=(tmux)
[ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-test-tools: missing ${need_apt[*]}; install them with 'sudo apt-get install ${need_apt[*]}'" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null 2>&1 || {
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  }
fi

# the aws VM provider's tests need moto's EC2 backend as well (an older install may lack it)
if ! command -v moto_server >/dev/null 2>&1 || ! python3 -c 'import moto.ec2.models' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check 'moto[server,ec2]>=5,<6' >/dev/null
  # pyenv puts new console scripts behind a shim that exists only after a rehash
  command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
fi
command -v moto_server >/dev/null 2>&1 || { echo "ensure-test-tools: moto_server is not on PATH after installing moto[server]" >&2; exit 1; }

if ! command -v pytest >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check 'pytest>=7' >/dev/null
  command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
fi
command -v pytest >/dev/null 2>&1 || { echo "ensure-test-tools: pytest is not on PATH after installing it" >&2; exit 1; }

# built from the Go module proxy with the machine's Go (about 10 s), into /usr/local/bin when root
if ! command -v gotestsum >/dev/null 2>&1; then
  command -v go >/dev/null 2>&1 || { echo "ensure-test-tools: gotestsum needs Go to build it (the go command is missing)" >&2; exit 1; }
  gobin=/usr/local/bin
  [ "$(id -u)" -eq 0 ] || gobin="$(go env GOPATH)/bin"
  GOBIN="$gobin" GOFLAGS=-mod=mod go install gotest.tools/gotestsum@v1.13.0 >/dev/null 2>&1 \
    || { echo "ensure-test-tools: cannot build gotestsum (go install gotest.tools/gotestsum@v1.13.0)" >&2; exit 1; }
fi
command -v gotestsum >/dev/null 2>&1 || { echo "ensure-test-tools: gotestsum is not on PATH after building it" >&2; exit 1; }
