"""The server names the client stack behind each connection: `tlssim interop` records the
peers' ClientHello fingerprints in the state directory, the server reads them, and the
console's rows (its /api/state) say "GnuTLS 3.7.9", "NSS 3.87.1", "Go ...", "tlssim" for
our own client, and "unknown client (fingerprint ...)" for a stack it has not seen."""

from __future__ import annotations

import json
import socket
import ssl
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import LocalStack
from tlssim.interop.fingerprints import FILE_NAME
from tlssim.interop.peers import Target, by_name, installed

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

PEERS = ("gnutls", "nss", "go")


def _state(stack: LocalStack) -> dict[str, Any]:
    with urllib.request.urlopen(stack.console_url + "/api/state", timeout=5) as reply:
        return dict(json.loads(reply.read()))


def _clients_seen(stack: LocalStack, wanted: set[str], timeout_s: float = 30) -> set[str]:
    deadline = time.monotonic() + timeout_s
    while True:
        seen = {str(h["client"]) for h in _state(stack)["handshakes"]}
        if wanted <= seen or time.monotonic() > deadline:
            return seen
        time.sleep(0.5)


def _unknown_stack(stack: LocalStack, bundle: Path) -> None:
    """A client no peer resembles: Python's ssl offering ALPN h2 and TLS 1.2 only."""
    ctx = ssl.create_default_context(cafile=str(bundle))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["h2", "tlssim-test"])
    host, port = stack.server_tcp
    with (
        socket.create_connection((host, port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname="valid.tlssim.test"),
    ):
        pass


def test_the_console_names_each_peer_and_our_client(stack: LocalStack, bundle: Path) -> None:
    peers = [p for p in by_name(list(PEERS)) if installed(p)]
    if len(peers) < 2:
        pytest.skip("fewer than two of gnutls-cli, tstclnt and the Go peer are installed")
    names = ",".join(p.name for p in peers)
    done = stack.tlssim(
        "interop", "--role", "client", "--peers", names, "--hosts", "valid", "--quiet",
        timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    table = json.loads((stack.data_dir / FILE_NAME).read_text())["peers"]
    expected = {table[p.name]["name"] for p in peers}
    assert any(n.startswith("GnuTLS 3.") for n in expected) or "gnutls" not in names

    address = stack.env["TLSSIM_SERVER_TCP_ADDR"]
    for peer in peers:
        outcome = peer.run(Target(address, "valid.tlssim.test", bundle, "1.3"))
        assert outcome.connected, (peer.name, outcome)
    stack.handshake("--tcp", address, ok=True)
    _unknown_stack(stack, bundle)

    seen = _clients_seen(stack, expected | {"tlssim"})
    assert expected <= seen, (expected, seen)
    assert "tlssim" in seen
    rows = _state(stack)["handshakes"]
    unknown = [h for h in rows if str(h["client"]).startswith("unknown client (fingerprint ")]
    assert unknown and all(len(h["fingerprint"]) == 16 for h in unknown), rows[:5]
    named = [h for h in rows if h["client"] in expected]
    assert all(h["source"].startswith("TCP ") and h["fingerprint"] for h in named)
