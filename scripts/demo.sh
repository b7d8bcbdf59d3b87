#!/usr/bin/env bash
# The main job: starts the whole stack as local processes (tlssim up), runs a TLS 1.3
# handshake through the client service to the server service and prints its story.
# Extra arguments go to `tlssim handshake` (e.g. --server-name rsa2048.tlssim.test --json).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
export TLSSIM_DATA_DIR=${TLSSIM_DATA_DIR:-$PWD/.tlssim-data}
log=$(mktemp -t tlssim-up.XXXXXX.log)
tlssim up >"$log" 2>&1 &
up_pid=$!
trap 'kill -INT $up_pid 2>/dev/null; wait $up_pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 600); do
  if grep -q "tlssim is up" "$log"; then break; fi
  if ! kill -0 $up_pid 2>/dev/null; then cat "$log" >&2; echo "tlssim up failed" >&2; exit 1; fi
  sleep 0.1
done
grep -q "tlssim is up" "$log" || { cat "$log" >&2; echo "tlssim up timed out" >&2; exit 1; }
sed -n '/tlssim is up/,/^$/p' "$log"
tlssim handshake "$@"
