#!/usr/bin/env bash
# Make sure a Docker engine answers `docker info`: install docker.io and start
# dockerd in the background when needed. Idempotent and quiet on success.
# Why by hand: the machines that run `make test` are fresh Debian 12 boxes
# without systemd, so nothing else will start the engine.
set -euo pipefail

LOG=${DECKHAND_DOCKERD_LOG:-/var/log/deckhand-dockerd.log}
WAIT_SECONDS=${DECKHAND_DOCKERD_WAIT:-60}

engine_up() { docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && engine_up; then
  exit 0
fi

# A remote engine named by DOCKER_HOST is not ours to start.
if [ -n "${DOCKER_HOST:-}" ] && [ "${DOCKER_HOST#unix://}" = "$DOCKER_HOST" ]; then
  echo "ensure-docker: DOCKER_HOST=$DOCKER_HOST does not answer 'docker info'; start that engine or unset DOCKER_HOST" >&2
  exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-docker: the Docker engine is not running and starting it needs root; run 'sudo scripts/ensure-docker.sh'" >&2
  exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  # Refresh the package lists only when apt knows nothing about docker.io yet.
  if ! apt-cache show docker.io >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
  fi
  apt-get install -y -qq docker.io >/dev/null 2>&1 || {
    apt-get update -qq >/dev/null
    apt-get install -y -qq docker.io >/dev/null
  }
fi

# Start dockerd unless one is already running (it may just be slow to answer).
if ! pgrep -x dockerd >/dev/null 2>&1; then
  # setsid: keep the engine alive after the calling shell (make, CI) exits.
  setsid dockerd >>"$LOG" 2>&1 </dev/null &
fi

for _ in $(seq 1 "$WAIT_SECONDS"); do
  if engine_up; then
    exit 0
  fi
  sleep 1
done

echo "ensure-docker: dockerd did not answer within ${WAIT_SECONDS}s; last lines of $LOG:" >&2
tail -n 30 "$LOG" >&2 || true
exit 1
