#!/usr/bin/env bash
# Build the tlssim image (one image for every service) without network inside the build.
#
#   1. the project's wheel is built on the host (`pip wheel`), which generates the gRPC
#      code from protos/ with grpcio-tools; the wheels of its dependencies for the image's
#      Python (3.11, manylinux, this machine's architecture) are fetched with `pip download`;
#      all of it lands in build/wheels/;
#   2. `docker build` installs them with `pip install --no-index` (services/Dockerfile).
#
# Base image: TLSSIM_BASE_IMAGE, default tlssim/base:bookworm, made here by
# scripts/build-base-image.sh when missing (no registry needed). With a registry, run
# `TLSSIM_BASE_IMAGE=python:3.11-slim scripts/build-image.sh`.
#
# Environment:
#   TLSSIM_IMAGE        tag to build (default tlssim/tlssim:latest; compose.yaml uses it)
#   TLSSIM_BASE_IMAGE   base image (default tlssim/base:bookworm)
#   PYTHON              host Python used for pip (default python3)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
IMAGE=${TLSSIM_IMAGE:-tlssim/tlssim:latest}
BASE=${TLSSIM_BASE_IMAGE:-tlssim/base:bookworm}
PYTHON=${PYTHON:-python3}
WHEELS=$ROOT/build/wheels
TARGET_PY=3.11

say() { printf '[build-image] %s\n' "$*" >&2; }
elapsed() { echo "$(($(date +%s) - $1))s"; }

t0=$(date +%s)
if ! docker info >/dev/null 2>&1; then
    say "no Docker engine answers (start one with scripts/start-dockerd.sh)"
    exit 1
fi

if [ "$BASE" = "tlssim/base:bookworm" ]; then
    TLSSIM_BASE_IMAGE=$BASE "$ROOT/scripts/build-base-image.sh"
elif ! docker image inspect "$BASE" >/dev/null 2>&1; then
    say "base image $BASE is not here; docker build will try to pull it"
fi

# --- 1. wheels on the host ---
t1=$(date +%s)
mkdir -p "$WHEELS"
rm -f "$WHEELS"/tlssim-*.whl
say "building the project wheel (generates the gRPC code from protos/)"
"$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$WHEELS" "$ROOT"
project_wheel=$(ls "$WHEELS"/tlssim-*.whl)

arch=$(uname -m)
say "fetching dependency wheels for CPython $TARGET_PY on manylinux $arch"
# The image's Python is 3.11 whatever the host's is: ask pip for wheels that fit it.
set +e
"$PYTHON" -m pip download --quiet --dest "$WHEELS" --only-binary=:all: \
    --python-version "$TARGET_PY" --implementation cp \
    --platform "manylinux_2_36_$arch" --platform "manylinux2014_$arch" \
    --platform any \
    "$project_wheel" 2>&1 | grep -v 'is neither a file nor a directory' >&2
rc=${PIPESTATUS[0]}
set -e
[ "$rc" -eq 0 ] || { say "pip download failed (exit $rc)"; exit 1; }
say "wheels ready in $(elapsed "$t1"): $(ls "$WHEELS" | wc -l) files, $(du -sh "$WHEELS" | cut -f1)"

# --- 2. the image ---
t2=$(date +%s)
say "docker build $IMAGE (FROM $BASE)"
set +e
DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0} docker build \
    --file "$ROOT/services/Dockerfile" \
    --build-arg "BASE_IMAGE=$BASE" \
    --tag "$IMAGE" \
    "$ROOT" 2>&1 | grep -vE '^ ---> |^Removing intermediate|^DEPRECATED|BuildKit|buildx|environment-variable|^ *$' >&2
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then
    say "docker build failed (exit $rc)"
    exit 1
fi
created=$(docker image inspect "$IMAGE" --format '{{.Created}}')
size=$(docker image inspect "$IMAGE" --format '{{.Size}}')
say "image built in $(elapsed "$t2") ($created, $((size / 1024 / 1024)) MiB)"

say "checking the image: generated gRPC code and the CLI"
docker run --rm "$IMAGE" python3 -c 'import tlssim.rpc.v1.ca_pb2_grpc' >/dev/null
docker run --rm "$IMAGE" tlssim --help >/dev/null
say "done in $(elapsed "$t0"): $IMAGE"
