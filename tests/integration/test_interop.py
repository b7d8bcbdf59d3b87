"""`tlssim interop` against the real stack: every installed peer in both roles, compared
cell by cell with the committed matrix (docs/interop.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.integration.conftest import LocalStack
from tlssim.interop import matrix, servers
from tlssim.interop.peers import CLIENT_PEERS, installed

# The whole client matrix is some 1,600 runs of other stacks' programs: minutes, not seconds.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

DOC = Path(__file__).resolve().parents[2] / "docs" / "interop.md"
#: CI installs every peer: there a missing one fails instead of being skipped.
REQUIRE_PEERS = os.environ.get("TLSSIM_REQUIRE_PEERS") == "1"


def _interop(stack: LocalStack, *args: str) -> dict[str, list[dict[str, object]]]:
    done = stack.tlssim("interop", "--json", "--quiet", *args, timeout=600)
    assert done.returncode == 0, done.stderr
    result: dict[str, list[dict[str, object]]] = json.loads(done.stdout)
    return result


def test_every_peer_is_installed() -> None:
    missing = [p.name for p in CLIENT_PEERS if not installed(p)]
    if missing and not REQUIRE_PEERS:
        pytest.skip(
            f"not installed here: {', '.join(missing)} (scripts/bootstrap.sh installs them)"
        )
    assert not missing


def test_client_role_matches_the_committed_matrix(stack: LocalStack) -> None:
    committed = matrix.parse_markdown(DOC.read_text())
    observed = {
        (str(c["peer"]), str(c["host"]), str(c["version"]), str(c["mode"])): str(c["text"])
        for c in _interop(stack, "--role", "client")["client_role"]
    }
    departed = {k for k, text in observed.items() if committed.get(k) != text}
    for peer, host, version, mode in sorted(departed):
        # once more on its own: a loaded machine can time a peer out
        again = _interop(stack, "--role", "client", "--peers", peer, "--hosts", host)
        for cell in again["client_role"]:
            key = (peer, host, str(cell["version"]), str(cell["mode"]))
            if key == (peer, host, version, mode):
                observed[key] = str(cell["text"])
    departures = {
        k: f"committed {committed.get(k)!r}, observed {text!r}"
        for k, text in observed.items()
        if committed.get(k) != text
    }
    assert not departures, "\n".join(f"{k}: {v}" for k, v in sorted(departures.items()))
    missing = set(committed) - set(observed)
    if REQUIRE_PEERS:
        assert not missing, sorted(missing)


def test_server_role_matches_the_committed_matrix(stack: LocalStack) -> None:
    committed = servers.parse_markdown(DOC.read_text())
    cells = _interop(stack, "--role", "server")["server_role"]
    observed = {
        (str(c["peer"]), str(c["feature"]), str(c["version"])): str(c["text"]) for c in cells
    }
    departed = sorted({k[0] for k, text in observed.items() if committed.get(k) != text})
    for peer in departed:
        # once more on its own: a loaded machine can time a peer out
        for cell in _interop(stack, "--role", "server", "--peers", peer)["server_role"]:
            key = (peer, str(cell["feature"]), str(cell["version"]))
            if committed.get(key) != observed.get(key):
                observed[key] = str(cell["text"])
    # every column of the role, signature schemes and session features alike, is in the table
    assert {f.name for f in servers.FEATURES} <= {feature for _, feature, _ in committed}
    departures = {
        k: f"committed {committed.get(k)!r}, observed {text!r}"
        for k, text in observed.items()
        if committed.get(k) != text
    }
    assert not departures, "\n".join(f"{k}: {v}" for k, v in sorted(departures.items()))


def test_every_departure_in_the_committed_matrix_is_explained() -> None:
    text = DOC.read_text()
    assert "UNEXPLAINED" not in text
    clients = {peer for peer, *_ in matrix.parse_markdown(text)}
    servers_ = {peer for peer, *_ in servers.parse_markdown(text)}
    assert len(clients) >= 8 and len(servers_) >= 8, (clients, servers_)


def test_unknown_peer_is_one_line_and_usage_exit(stack: LocalStack) -> None:
    done = stack.tlssim("interop", "--peers", "nosuch")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "tlssim: unknown peer nosuch (known: " + ", ".join(p.name for p in CLIENT_PEERS) + ")"
    ]
