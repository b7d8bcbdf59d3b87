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
