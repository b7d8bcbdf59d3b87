#!/usr/bin/env bash
# Build a Debian 12 (bookworm) base image with python3 + venv, without a container
# registry: debootstrap (minbase) from the Debian mirror this machine's apt already uses,
# then `docker import`. Needs root and a running Docker engine (scripts/start-dockerd.sh).
#
# Users with a registry don't need this: the Dockerfile defaults to python:3.11-slim.
#
# Usage: scripts/build-base-image.sh [--force]
# Environment:
#   TLSSIM_BASE_IMAGE   image to create (default tlssim/base:bookworm)
#   TLSSIM_DEBIAN_MIRROR  Debian mirror URL (default: read from /etc/apt/sources.list.d/)
set -euo pipefail

IMAGE=${TLSSIM_BASE_IMAGE:-tlssim/base:bookworm}
SUITE=bookworm
INCLUDE=python3,python3-venv,ca-certificates
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1

say() { printf '[build-base-image] %s\n' "$*" >&2; }

if [ "$FORCE" -eq 0 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    say "$IMAGE already exists; skipping (use --force to rebuild)"
    exit 0
fi

# --- the mirror: the first Debian archive URI in the machine's own apt configuration ---
find_mirror() {
    local f uri
    shopt -s nullglob
    # deb822 .sources files: a stanza's "URIs:" line whose suites include $SUITE
    for f in /etc/apt/sources.list.d/*.sources; do
        uri=$(awk -v suite="$SUITE" '
            BEGIN { RS=""; FS="\n" }
            {
                uris=""; suites=""; enabled=1
                for (i = 1; i <= NF; i++) {
                    if ($i ~ /^URIs:/)    { uris = $i;   sub(/^URIs:[ \t]*/, "", uris) }
                    if ($i ~ /^Suites:/)  { suites = " " $i " " }
                    if ($i ~ /^Enabled:[ \t]*no/) { enabled = 0 }
                }
                if (enabled && uris != "" && suites ~ (" " suite " ")) {
                    split(uris, u, /[ \t]+/); print u[1]; exit
                }
            }' "$f")
        [ -n "$uri" ] && { echo "$uri"; return; }
    done
    # one-line .list files (and the classic sources.list)
    for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list; do
        [ -f "$f" ] || continue
        uri=$(awk -v suite="$SUITE" '
            $1 == "deb" {
                i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                if ($(i + 1) == suite) { print $i; exit }
            }' "$f")
        [ -n "$uri" ] && { echo "$uri"; return; }
    done
}

MIRROR=${TLSSIM_DEBIAN_MIRROR:-$(find_mirror)}
if [ -z "$MIRROR" ]; then
    say "no Debian '$SUITE' archive found in /etc/apt/sources.list.d/ or /etc/apt/sources.list;"
    say "set TLSSIM_DEBIAN_MIRROR to a Debian mirror URL"
    exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
    say "debootstrap needs root"
    exit 1
fi

if ! command -v debootstrap >/dev/null 2>&1; then
    say "installing debootstrap with apt"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
keyring_args=()
[ -f "$KEYRING" ] && keyring_args=(--keyring "$KEYRING")

ROOTFS=$(mktemp -d /tmp/tlssim-rootfs.XXXXXX)
cleanup() { rm -rf --one-file-system "$ROOTFS"; }
trap cleanup EXIT

start=$(date +%s)
say "debootstrap $SUITE (minbase + $INCLUDE) into $ROOTFS"
debootstrap --variant=minbase --include="$INCLUDE" "${keyring_args[@]}" \
    "$SUITE" "$ROOTFS" "$MIRROR" 2>&1 |
    grep -E '^I: (Retrieving Release|Validating Packages|Resolving|Installing core|Unpacking the base|Configuring the base|Base system installed)' |
    sed 's/^/[build-base-image]   /' >&2 || true
if [ ! -x "$ROOTFS/usr/bin/python3" ]; then
    say "debootstrap failed (no python3 in the root file system); see $ROOTFS/debootstrap/debootstrap.log"
    trap - EXIT
    exit 1
fi
say "debootstrap done in $(($(date +%s) - start))s"

# Trim what a container never uses; leave the image apt-usable with the same mirror.
say "trimming the root file system"
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/cache/apt/*.bin \
    "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/log/* \
    "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* \
    "$ROOTFS"/usr/share/locale/* "$ROOTFS"/tmp/* "$ROOTFS"/debootstrap
find "$ROOTFS"/usr/lib/python3* -name __pycache__ -prune -exec rm -rf {} + 2>/dev/null || true
printf 'deb %s %s main\n' "$MIRROR" "$SUITE" >"$ROOTFS"/etc/apt/sources.list

say "importing as $IMAGE"
tar -C "$ROOTFS" --numeric-owner -c . |
    docker import \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["python3"]' \
        --message "tlssim base: debian $SUITE minbase + python3" \
        - "$IMAGE" >/dev/null

size=$(docker image inspect "$IMAGE" --format '{{.Size}}')
say "built $IMAGE ($((size / 1024 / 1024)) MiB) in $(($(date +%s) - start))s"
