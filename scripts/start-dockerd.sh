#!/usr/bin/env bash
# Start a local Docker engine for the compose stack and its tests (needs root).
#
# - installs Debian's docker.io and docker-compose (Compose 1.29) with apt when missing;
# - starts dockerd with address pools inside 198.18.0.0/15 (the benchmarking range,
#   RFC 2544) and no outbound masquerading: containers talk to each other and to the
#   host's published loopback ports, never to the outside;
# - waits until `docker info` answers. Idempotent: does nothing when an engine answers.
#
# Environment:
#   TLSSIM_DOCKERD_LOG   dockerd's log file (default /var/log/tlssim-dockerd.log)
#   TLSSIM_DOCKERD_WAIT  seconds to wait for the engine (default 60)
set -euo pipefail

LOG=${TLSSIM_DOCKERD_LOG:-/var/log/tlssim-dockerd.log}
WAIT=${TLSSIM_DOCKERD_WAIT:-60}

say() { printf '[start-dockerd] %s\n' "$*" >&2; }

engine_answers() { docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && engine_answers; then
    say "a Docker engine already answers; nothing to do"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    say "dockerd must be started as root (and no engine answers yet)"
    exit 1
fi

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]} with apt"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's packaging may leave a dockerd behind a dead socket (e.g. after a crash):
# only start ours when no dockerd process runs.
if ! pgrep -x dockerd >/dev/null 2>&1; then
    say "starting dockerd (log: $LOG)"
    mkdir -p "$(dirname "$LOG")"
    # containerd is started by dockerd itself when no system containerd runs.
    nohup dockerd \
        --bip 198.18.0.1/24 \
        --default-address-pool base=198.18.0.0/15,size=24 \
        --ip-masq=false \
        >>"$LOG" 2>&1 </dev/null &
    disown || true
else
    say "dockerd is already running; waiting for it to answer"
fi

for ((i = 0; i < WAIT * 2; i++)); do
    if engine_answers; then
        say "engine ready: $(docker version --format 'server {{.Server.Version}}' 2>/dev/null)"
        exit 0
    fi
    sleep 0.5
done

say "dockerd did not answer within ${WAIT}s; last log lines:"
tail -n 20 "$LOG" >&2 || true
exit 1
