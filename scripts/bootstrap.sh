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
# Other TLS stacks as peers (tlssim interop, tests/peers.py): GnuTLS, NSS's tools, Botan,
# Go and a JDK (for the Go and Java peers below), curl, wget, socat, faketime (a peer's
# clock ahead, for `tlssim scenarios run stale-staple --peer`); and the ACME clients
# certbot and lego, and Pebble (ACME tests and benchmark). One apt-get for whatever is
# missing, as root; elsewhere the tests that need a missing one skip.
missing=()
for pair in gnutls-serv:gnutls-bin tstclnt:libnss3-tools certutil:libnss3-tools botan:botan \
  selfserv:libnss3-tools pk12util:libnss3-tools go:golang-go javac:openjdk-17-jdk-headless \
  socat:socat curl:curl wget:wget certbot:certbot lego:lego pebble:pebble faketime:faketime; do
  if ! command -v "${pair%%:*}" >/dev/null 2>&1; then
    case " ${missing[*]-} " in *" ${pair#*:} "*) ;; *) missing+=("${pair#*:}") ;; esac
  fi
done
if [ "${#missing[@]}" -gt 0 ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} with apt" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Go's crypto/tls as an interop peer (tlssim interop): built from the repository with the
# machine's Go, when it has one; rebuilt when the source changes.
peer_src=src/tlssim/interop/tlspeer.go
if command -v go >/dev/null 2>&1 && [ ! .venv/bin/tlssim-go-peer -nt "$peer_src" ]; then
  echo "building the Go interop peer" >&2
  GOCACHE="$PWD/.venv/go-cache" go build -o .venv/bin/tlssim-go-peer "$peer_src"
fi
# Java's JSSE as an interop peer, compiled the same way when the machine has a JDK.
java_src=src/tlssim/interop/TlsPeer.java
if command -v javac >/dev/null 2>&1 && [ ! .venv/java/TlsPeer.class -nt "$java_src" ]; then
  echo "building the Java interop peer" >&2
  javac -d .venv/java "$java_src"
fi
