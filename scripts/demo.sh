#!/usr/bin/env bash
# The main job: starts the whole stack as local processes (tlssim up), runs a TLS 1.3
# handshake through the client service to the server service and prints its story.
# Extra arguments go to `tlssim handshake` (e.g. --server-name rsa2048.tlssim.test --json).
# Standard output is the story (or the JSON) alone: set-up and the services' logs go to a
# log file in the data directory, named in one line on standard error.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh >&2
export PATH="$PWD/.venv/bin:$PATH"
export TLSSIM_DATA_DIR=${TLSSIM_DATA_DIR:-$PWD/.tlssim-data}
mkdir -p "$TLSSIM_DATA_DIR"
log="$TLSSIM_DATA_DIR/up.log"
echo "tlssim: the services' output goes to $log" >&2
tlssim up >"$log" 2>&1 &
up_pid=$!
trap 'kill -INT $up_pid 2>/dev/null; wait $up_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  if grep -q "tlssim is up" "$log"; then break; fi
  if ! kill -0 $up_pid 2>/dev/null; then tail -n 20 "$log" >&2; echo "tlssim up failed" >&2; exit 1; fi
  sleep 0.1
done
grep -q "tlssim is up" "$log" || { tail -n 20 "$log" >&2; echo "tlssim up timed out" >&2; exit 1; }
tlssim handshake "$@"
