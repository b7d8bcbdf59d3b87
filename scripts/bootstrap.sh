#!/usr/bin/env bash
# Creates .venv (once) and installs tlssim into it, generating the gRPC code from protos/.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv with $($PYTHON --version)" >&2
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.tlssim-installed
if [ ! -f "$stamp" ] || [ -n "$(find pyproject.toml setup.py protos -newer "$stamp" -print -quit)" ]; then
  echo "installing tlssim and its test tools into .venv" >&2
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[test]'
  touch "$stamp"
fi
# Headless Chromium and its WebDriver: the diagram and console tests render pages in it.
# Installed with apt where we are root and it is missing; elsewhere those tests skip.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium and chromium-driver with apt" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null
  fi
fi
# ACME clients and Pebble: the ACME tests run certbot and lego against the lab (and the
# benchmark against Pebble). Installed with apt where we are root and one is missing.
if ! command -v certbot >/dev/null 2>&1 || ! command -v lego >/dev/null 2>&1 \
  || ! command -v pebble >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing certbot, lego and pebble with apt" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends certbot lego pebble >/dev/null
  fi
fi
