#!/usr/bin/env bash
# Runs the test suite (unit, OpenSSL interop, integration with the real services).
# Compose tests run when a Docker engine answers (TLSSIM_REQUIRE_DOCKER=1 makes it mandatory).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/python -m pytest "$@"
