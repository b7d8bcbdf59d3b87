#!/usr/bin/env bash
# The whole lab on Docker Swarm, from deploy/swarm.yaml (generated from compose.yaml).
#
#   scripts/swarm.sh up                  # swarm (single node, if none), secrets, the stack
#   scripts/swarm.sh status              # services, replicas, tasks
#   scripts/swarm.sh scale SERVICE N     # e.g. scale server 3 (waits until it converged)
#   scripts/swarm.sh tlssim ARGS...      # the tlssim CLI on the lab's network, e.g.
#                                        #   scripts/swarm.sh tlssim handshake --json
#   scripts/swarm.sh down                # the stack, its secrets and volume; then leaves
#                                        # the swarm if it is this node alone, with nothing else
#
# Environment:
#   TLSSIM_STACK              stack name (default tlssim)
#   TLSSIM_IMAGE              image (default tlssim/tlssim:latest, from scripts/build-image.sh;
#                             every node needs it: push it to a registry for several nodes)
#   TLSSIM_{OCSP,SERVER,CLIENT}_REPLICAS   replicas at `up` (default 2 each)
#   TLSSIM_ADMIN_TOKEN        the admin token; without it `up` makes one and keeps it in
#                             $XDG_STATE_HOME/tlssim/swarm/admin-token (a secret cannot be
#                             read back from the swarm)
#   TLSSIM_SWARM_WAIT_S       how long `up` and `scale` wait for the services (default 300)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STACK=${TLSSIM_STACK:-tlssim}
IMAGE=${TLSSIM_IMAGE:-tlssim/tlssim:latest}
WAIT_S=${TLSSIM_SWARM_WAIT_S:-300}
STATE=${XDG_STATE_HOME:-$HOME/.local/state}/tlssim/swarm
SECRETS=(admin-token server-enrollment ocsp-enrollment client-enrollment acme-enrollment ticket-key)
export TLSSIM_IMAGE=$IMAGE

say() { printf '[swarm] %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

swarm_state() { docker info --format '{{.Swarm.LocalNodeState}}'; }

# status, scale and tlssim act on a deployed stack: say how to get one rather than pass on
# docker's own error.
need_stack() {
    [ "$(swarm_state)" = active ] || die "no swarm here: start one with $0 up"
    [ -n "$(docker stack ls --format '{{.Name}}' | grep -x "$STACK")" ] ||
        die "no stack $STACK on this swarm: deploy it with $0 up"
}

ensure_swarm() {
    if [ "$(swarm_state)" = active ]; then
        return
    fi
    # One node on loopback; no IPVS here, hence endpoint_mode dnsrr in the stack file.
    say "creating a single-node swarm"
    docker swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377 \
        --default-addr-pool 198.19.0.0/16 --default-addr-pool-mask-length 24 >/dev/null
}

random_hex() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }

admin_token() {
    if [ -n "${TLSSIM_ADMIN_TOKEN:-}" ]; then
        printf '%s' "$TLSSIM_ADMIN_TOKEN"
    elif [ -f "$STATE/admin-token" ]; then
        cat "$STATE/admin-token"
    else
        mkdir -p "$STATE"
        (umask 077 && random_hex >"$STATE/admin-token")
        say "admin token kept in $STATE/admin-token"
        cat "$STATE/admin-token"
    fi
}

ensure_secrets() {
    local name value
    for name in "${SECRETS[@]}"; do
        if docker secret inspect "tlssim-$name" >/dev/null 2>&1; then
            continue
        fi
        if [ "$name" = admin-token ]; then value=$(admin_token); else value=$(random_hex); fi
        printf '%s' "$value" | docker secret create "tlssim-$name" - >/dev/null
    done
}

# Waits until every service of the stack runs as many tasks as it wants, each healthy.
wait_converged() {
    local deadline=$((SECONDS + WAIT_S)) pending
    while :; do
        pending=$(docker stack services "$STACK" --format '{{.Name}} {{.Replicas}}' |
            awk '{ split($2, r, "/"); if (r[1] != r[2]) print $1 " " $2 }')
        if [ -z "$pending" ] && all_healthy; then
            return 0
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            docker stack ps "$STACK" --no-trunc >&2 || true
            die "not converged after ${WAIT_S}s: ${pending:-tasks not healthy}"
        fi
        sleep 2
    done
}

# True when every running container of the stack that has a health check is healthy.
all_healthy() {
    local ids
    ids=$(docker ps -q --filter "label=com.docker.stack.namespace=$STACK")
    [ -z "$ids" ] && return 1
    ! docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{end}}' $ids |
        grep -qvE '^(healthy)?$'
}

cmd_up() {
    docker image inspect "$IMAGE" >/dev/null 2>&1 ||
        die "no image $IMAGE here: build it with scripts/build-image.sh"
    ensure_swarm
    ensure_secrets
    say "deploying stack $STACK ($IMAGE)"
    # No registry: the nodes use the image they have (--resolve-image never).
    docker stack deploy --resolve-image never -c "$ROOT/deploy/swarm.yaml" "$STACK" >/dev/null
    wait_converged
    say "up: $(docker stack services "$STACK" --format '{{.Name}}={{.Replicas}}' | tr '\n' ' ')"
}

cmd_scale() {
    [ $# -eq 2 ] || die "usage: scale SERVICE N"
    docker service scale --detach "${STACK}_$1=$2" >/dev/null
    wait_converged
    say "$1 runs $(docker service ls --filter "name=${STACK}_$1" --format '{{.Replicas}}')"
}

cmd_status() {
    docker stack services "$STACK"
    echo
    docker stack ps "$STACK" --filter desired-state=running \
        --format 'table {{.Name}}\t{{.Node}}\t{{.CurrentState}}\t{{.Error}}'
}

cmd_tlssim() {
    # A one-off container on the stack's overlay network, where every replica is reachable
    # by its service's name (which resolves to all of them).
    docker run --rm --init --label "tlssim.swarm.oneoff=$STACK" --network "${STACK}_lab" \
        -e TLSSIM_CA_ADDR=ca:50051 -e TLSSIM_OCSP_ADDR=ocsp:50052 \
        -e TLSSIM_OCSP_URL=http://ocsp:8080 -e TLSSIM_SERVER_ADDR=server:50053 \
        -e TLSSIM_SERVER_TCP_ADDR=server:8443 -e TLSSIM_CLIENT_ADDR=client:50054 \
        -e TLSSIM_FAULTS_API=faults:8474 -e "TLSSIM_ADMIN_TOKEN=$(admin_token)" \
        "$IMAGE" tlssim "$@"
}

cmd_down() {
    if [ "$(swarm_state)" != active ]; then
        say "no swarm here"
        return 0
    fi
    # One-off `tlssim` containers still running would hold the network.
    local oneoff
    oneoff=$(docker ps -q --filter "label=tlssim.swarm.oneoff=$STACK")
    [ -z "$oneoff" ] || docker rm -f $oneoff >/dev/null
    docker stack rm "$STACK" >/dev/null 2>&1 || true
    # Removal is asynchronous: the volume and secrets are free once the containers are gone.
    local deadline=$((SECONDS + 120))
    while [ -n "$(docker ps -aq --filter "label=com.docker.stack.namespace=$STACK")" ] ||
        docker network inspect "${STACK}_lab" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || die "stack $STACK still has containers"
        sleep 1
    done
    for name in "${SECRETS[@]}"; do docker secret rm "tlssim-$name" >/dev/null 2>&1 || true; done
    docker volume rm "${STACK}_ca-data" >/dev/null 2>&1 || true
    if [ "$(docker info --format '{{.Swarm.Nodes}}')" = 1 ] && [ -z "$(docker service ls -q)" ]; then
        say "leaving the single-node swarm"
        docker swarm leave --force >/dev/null
    fi
    say "down"
}

case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) need_stack; cmd_status ;;
    scale) shift; need_stack; cmd_scale "$@" ;;
    tlssim) shift; need_stack; cmd_tlssim "$@" ;;
    *) die "usage: $0 up|down|status|scale SERVICE N|tlssim ARGS..." ;;
esac
