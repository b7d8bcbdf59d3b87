"""The server resolves a connection's virtual host once, from its SNI (any case, a trailing
dot, the default host without SNI), for the groups, client authentication and the
certificate; renewing a host names it the same way."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509

from tlssim.clock import FixedClock
from tlssim.pki import keys
from tlssim.pki.authority import self_signed_certificate
from tlssim.services import server
from tlssim.services.client_auth import client_auth_for
from tlssim.telemetry.traces import TraceLog
from tlssim.tls import NamedGroup, SignatureScheme, UnrecognizedName
from tlssim.topology import vhosts

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
KEY = keys.generate_private_key("ecdsa-p256")
ECDSA = (SignatureScheme.ecdsa_secp256r1_sha256,)


def _store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> server.HostCertificates:
    """A store whose enrollment signs each host's certificate itself (no ca, no staple)."""
    store = server.HostCertificates(
        None, None, FixedClock(NOW), credential=tmp_path / "token", traces=TraceLog("server")
    )

    async def enroll(host: vhosts.VirtualHost, key_type: str) -> server.HostCertificate:
        cert = self_signed_certificate(KEY, host.name, NOW)
        return server.HostCertificate(
            host.name, key_type, KEY, (cert.public_bytes(keys.Encoding.DER),)
        )

    monkeypatch.setattr(store, "_enroll", enroll)
    asyncio.run(store.enroll_all())
    return store


def _subject_name(chain: tuple[bytes, ...]) -> str:
    leaf = x509.load_der_x509_certificate(chain[0])
    return str(leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value)


@pytest.mark.parametrize("name", ["VALID.tlssim.test", "valid.tlssim.test.", ""])
def test_renew_names_a_host_as_a_connection_does(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str
) -> None:
    store = _store(monkeypatch, tmp_path)
    before = store.held("valid.tlssim.test", "")
    serials = asyncio.run(store.renew(name))
    after = store.held("valid.tlssim.test", "")
    assert after is not None and after is not before
    default = vhosts.find(None)
    assert default is not None and len(serials) == len(default.key_types)
    assert serials[0] == after.serial_hex


def test_renew_refuses_a_name_that_is_no_lab_host(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    store = _store(monkeypatch, tmp_path)
    with pytest.raises(LookupError, match=r"no lab host 'nowhere\.test'"):
        asyncio.run(store.renew("nowhere.test"))


def _counting_find(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    asked: list[str | None] = []
    find: Callable[[str | None], vhosts.VirtualHost | None] = vhosts.find

    def counting(name: str | None) -> vhosts.VirtualHost | None:
        asked.append(name)
        return find(name)

    monkeypatch.setattr(vhosts, "find", counting)
    return asked


def test_a_connection_looks_its_host_up_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    store = _store(monkeypatch, tmp_path)
    asked = _counting_find(monkeypatch)
    host = server.ConnectionHost(store, client_auth_for(()))
    sni = "Client-Auth.TLSSIM.test."
    assert host.groups(sni) is None
    ask = host.client_auth(sni)
    assert ask is not None and ask.required
    chosen = host.select_certificate(sni, ECDSA)
    assert _subject_name(chosen.chain) == "client-auth.tlssim.test"
    assert asked == [sni]


def test_every_callback_sees_the_same_host(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    store = _store(monkeypatch, tmp_path)
    pq = server.ConnectionHost(store, client_auth_for(()))
    groups = pq.groups("PQ.tlssim.test")
    assert groups is not None and NamedGroup.X25519MLKEM768 in groups
    assert pq.client_auth("PQ.tlssim.test") is None
    no_sni = server.ConnectionHost(store, client_auth_for(()))
    assert no_sni.groups(None) is None and no_sni.client_auth(None) is None
    assert _subject_name(no_sni.select_certificate(None, ECDSA).chain) == vhosts.DEFAULT_HOST


def test_an_unknown_name_is_unrecognized(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    host = server.ConnectionHost(_store(monkeypatch, tmp_path), client_auth_for(()))
    assert host.client_auth("nowhere.test") is None
    with pytest.raises(UnrecognizedName, match=r"no virtual host 'nowhere\.test'"):
        host.select_certificate("nowhere.test", ECDSA)
