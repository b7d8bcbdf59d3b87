"""The server names the client stack from its ClientHello fingerprint and the table
`tlssim interop` records: the state directory's table first, else the committed one."""

from __future__ import annotations

import contextlib
import json
import os
import ssl
from pathlib import Path
from typing import Any

import pytest

from tlssim.interop import fingerprints
from tlssim.interop.peers import CLIENT_PEERS
from tlssim.services import server_clients
from tlssim.services.server_clients import (
    DEFAULT_TABLE,
    FILE_NAME,
    ClientNames,
    names_by_fingerprint,
)
from tlssim.tls.fingerprint import client_hello_in, fingerprint
from tlssim.tls.messages import ClientHello


def hello(alpn: tuple[str, ...] = ()) -> ClientHello:
    """A real ClientHello: Python's ssl (OpenSSL) through memory BIOs."""
    ctx = ssl.create_default_context()
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    conn = ctx.wrap_bio(incoming, outgoing, server_hostname="valid.tlssim.test")
    with contextlib.suppress(ssl.SSLWantReadError):  # it waits for the ServerHello
        conn.do_handshake()
    found = client_hello_in(outgoing.read())
    assert found is not None
    return found


def table(**peers: tuple[str, list[str]]) -> dict[str, Any]:
    return {
        "peers": {
            name: {"version": name, "name": shown, "fingerprints": {d: {} for d in digests}}
            for name, (shown, digests) in peers.items()
        }
    }


def write(path: Path, content: dict[str, Any], mtime: float) -> None:
    path.write_text(json.dumps(content))
    os.utime(path, (mtime, mtime))


def test_a_known_fingerprint_is_named_and_an_unknown_one_shown(tmp_path: Path) -> None:
    known = fingerprint(hello()).digest
    write(tmp_path / FILE_NAME, table(gnutls=("GnuTLS 3.7.9", [known])), 1000)
    names = ClientNames.for_data_dir(tmp_path)
    named = names.name(hello())
    assert (named.name, named.fingerprint, named.known) == ("GnuTLS 3.7.9", known, True)
    other = fingerprint(hello(("h2",))).digest
    unknown = names.name(hello(("h2",)))
    assert unknown.name == f"unknown client (fingerprint {other})" and not unknown.known
    assert names.name(None).name == "no ClientHello"


def test_a_fingerprint_two_stacks_share_names_both() -> None:
    shared = table(openssl=("OpenSSL 3.0 (s_client)", ["aa"]), py=("Python ssl", ["aa", "bb"]))
    assert names_by_fingerprint(shared) == {
        "aa": "OpenSSL 3.0 (s_client) or Python ssl",
        "bb": "Python ssl",
    }


def test_the_table_is_read_again_when_it_changes(tmp_path: Path) -> None:
    digest = fingerprint(hello()).digest
    path = tmp_path / FILE_NAME
    write(path, table(), 1000)
    names = ClientNames((path,))
    assert not names.name(hello()).known
    write(path, table(nss=("NSS 3.87", [digest])), 2000)
    assert names.name(hello()).name == "NSS 3.87"


def test_the_state_directory_comes_before_the_default(tmp_path: Path) -> None:
    digest = fingerprint(hello()).digest
    default = tmp_path / "default.json"
    write(default, table(go=("Go 1.19", [digest])), 1000)
    state = tmp_path / "state"
    names = ClientNames((state / FILE_NAME, default))
    assert names.name(hello()).name == "Go 1.19"  # no table in the state directory yet
    state.mkdir()
    write(state / FILE_NAME, table(java=("Java 17", [digest])), 1000)
    assert names.name(hello()).name == "Java 17"


def test_a_broken_table_names_nothing(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    path.write_text("{not json")
    assert not ClientNames((path,)).name(hello()).known


def test_the_committed_table_is_the_one_interop_writes() -> None:
    assert DEFAULT_TABLE == fingerprints.DEFAULT_TABLE
    committed = json.loads(DEFAULT_TABLE.read_text())
    assert set(committed["peers"]) <= {p.name for p in CLIENT_PEERS}
    for name, entry in committed["peers"].items():
        assert entry["name"] == fingerprints.display_name(name, entry["version"])
        assert entry["fingerprints"], name
        for digest, seen in entry["fingerprints"].items():
            assert len(digest) == 16 and seen["cases"], (name, digest)


def test_names_of_the_stacks() -> None:
    assert fingerprints.display_name("gnutls", "gnutls-cli 3.7.9") == "GnuTLS 3.7.9"
    assert fingerprints.display_name("go", "go1.19.8") == "Go 1.19.8 crypto/tls"
    assert fingerprints.display_name("nss", "NSS") == "NSS"
    merged = fingerprints.merged(table(a=("A", ["1"]), b=("B", ["2"])), table(b=("B2", ["3"])))
    assert {n: e["name"] for n, e in merged["peers"].items()} == {"a": "A", "b": "B2"}


def test_the_digests_kept_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_clients, "DIGESTS_KEPT", 3)
    names = ClientNames(())
    for i in range(5):
        names.name(hello((f"p{i}",)))
    assert len(names._digests) == 3
    digest = fingerprint(hello(("p0",))).digest  # evicted, worked out again
    assert names.name(hello(("p0",))).fingerprint == digest
