"""The suites and extensions a strict peer looks for, checked against OpenSSL.

- TLS 1.2 ECDHE AES-256-GCM (SHA-384 PRF, RFC 5289) and ECDHE-ECDSA ChaCha20-Poly1305
  (RFC 7905) with ``openssl s_client`` (Python ssl covers them in test_tls12_openssl);
- RFC 8446 4.2.7: EncryptedExtensions carries supported_groups when the server took the
  client's key share but prefers another group (OpenSSL does the same);
- a ClientHello offering only NULL or unknown suites, also when it tries to resume, gets
  handshake_failure, the alert OpenSSL sends for the same bytes.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.peers import openssl_client
from tlssim.harness.localstack import free_ports
from tlssim.tls import (
    AlertDescription,
    AlertLevel,
    CipherSuite,
    ClientConfig,
    ClientConnection,
    ExtensionType,
    NamedGroup,
    ProtocolVersion,
    ServerConfig,
    ServerConnection,
    SessionCache,
    events,
)
from tlssim.tls.keyschedule import TLS13_SUITES
from tlssim.tls.messages import ClientHello
from tlssim.tls.tls12 import TLS12_SUITES

from .sslhelpers import drive_openssl_client, served_once, write_pem_dir
from .tlshelpers import HOST, counter_entropy, make_pair, of_type, pki, pump, selector_for

TLS12 = (ProtocolVersion.TLSv1_2,)
NEW_SUITES = {
    CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: "ECDHE-ECDSA-AES256-GCM-SHA384",
    CipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: "ECDHE-RSA-AES256-GCM-SHA384",
    CipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-ECDSA-CHACHA20-POLY1305",
}
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


@pytest.fixture(scope="module")
def pem_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_pem_dir(tmp_path_factory.mktemp("suites"))


def kind_for(suite: CipherSuite) -> str:
    return "ecdsa" if TLS12_SUITES[suite].authentication == "ecdsa" else "rsa"


def our_server(kind: str = "ecdsa", **kw: object) -> ServerConnection:
    return ServerConnection(
        ServerConfig(
            entropy=counter_entropy(b"s"),
            certificate_selector=selector_for(pki().keys[kind]),
            **kw,  # type: ignore[arg-type]
        )
    )


# -- the new TLS 1.2 suites ---------------------------------------------------------------


def test_sha384_suites_use_the_sha384_prf() -> None:
    """RFC 5289 3.2: the AES-256-GCM ECDHE suites use P_SHA384 and a 32-byte key."""
    for suite in list(NEW_SUITES)[:2]:
        assert TLS12_SUITES[suite].hash_name == "sha384"
        assert TLS12_SUITES[suite].key_length == 32
    chacha = TLS12_SUITES[CipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256]
    assert (chacha.hash_name, chacha.fixed_iv_length, chacha.explicit_nonce_length) == (
        "sha256",
        12,
        0,
    )


@needs_openssl
@pytest.mark.parametrize("suite", list(NEW_SUITES))
def test_openssl_s_client_negotiates_each_new_suite(pem_dir: Path, suite: CipherSuite) -> None:
    srv = our_server(kind_for(suite))
    with served_once(srv) as address:
        result = openssl_client(
            address,
            *("-cipher", NEW_SUITES[suite]),
            server_name=HOST,
            ca_file=pem_dir / "ca.pem",
            verify=True,
            version="1.2",
            timeout_s=20,
        )
    out = result.stdout
    assert srv.negotiated is not None, out + result.stderr
    assert srv.negotiated.cipher_suite == suite
    assert f"Cipher is {NEW_SUITES[suite]}" in out
    assert "Verify return code: 0 (ok)" in out


@pytest.mark.parametrize("suite", list(NEW_SUITES))
def test_our_pair_negotiates_each_new_suite_by_server_preference(suite: CipherSuite) -> None:
    """The server's order decides: with the new suite first it is the one chosen."""
    client, srv = make_pair(
        kind_for(suite),
        client_kw={"versions": TLS12},
        server_kw={"cipher_suites": (suite, *TLS12_SUITES)},
    )
    client.start()
    cev, sev = pump(client, srv)
    done = of_type(cev, events.HandshakeComplete)
    assert [d.cipher_suite for d in done] == [suite]
    assert of_type(sev, events.HandshakeComplete) == done


# -- RFC 8446 4.2.7: supported_groups in EncryptedExtensions -------------------------------


def _encrypted_extensions(evs: list[events.Event], sent: bool) -> list[str]:
    cls = events.HandshakeMessageSent if sent else events.HandshakeMessageReceived
    ee = [e for e in of_type(evs, cls) if e.name == "EncryptedExtensions"]  # type: ignore[attr-defined]
    assert len(ee) == 1
    names = ee[0].fields["extensions"]  # type: ignore[attr-defined]
    assert isinstance(names, list)
    return names


@pytest.mark.parametrize(
    ("server_groups", "expected"),
    [
        ((NamedGroup.secp256r1, NamedGroup.x25519), True),
        ((NamedGroup.x25519, NamedGroup.secp256r1), False),
    ],
    ids=["prefers-another", "prefers-the-share"],
)
def test_supported_groups_in_encrypted_extensions_when_we_prefer_another_group(
    server_groups: tuple[NamedGroup, ...], expected: bool
) -> None:
    client, srv = make_pair(server_kw={"supported_groups": server_groups})
    client.start()
    cev, sev = pump(client, srv)
    assert of_type(cev, events.HandshakeComplete)[0].group == NamedGroup.x25519  # no HRR
    assert ("supported_groups" in _encrypted_extensions(sev, sent=True)) is expected
    assert ("supported_groups" in _encrypted_extensions(cev, sent=False)) is expected


def test_openssl_client_accepts_our_encrypted_extensions_supported_groups(pem_dir: Path) -> None:
    ctx = ssl.create_default_context(cafile=str(pem_dir / "ca.pem"))
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    sobj = ctx.wrap_bio(inc, out, server_hostname=HOST)
    srv = our_server(supported_groups=(NamedGroup.secp256r1, NamedGroup.x25519))
    evs, err = drive_openssl_client(srv, sobj, inc, out)
    assert err is None
    assert sobj.version() == "TLSv1.3"
    done = of_type(evs, events.HandshakeComplete)
    assert [d.group for d in done] == [NamedGroup.x25519]
    sent = [e for e in of_type(evs, events.HandshakeMessageSent) if e.name == "EncryptedExtensions"]
    assert "supported_groups" in sent[0].fields["extensions"]  # type: ignore[operator]


@pytest.fixture
def openssl_s_server(pem_dir: Path) -> Iterator[int]:
    """``openssl s_server`` preferring P-256 over X25519 (it still takes an X25519 share)."""
    port = free_ports(1)[0]
    proc = subprocess.Popen(
        [
            "openssl",
            "s_server",
            "-accept",
            f"127.0.0.1:{port}",
            "-cert",
            str(pem_dir / "ecdsa.crt"),
            "-key",
            str(pem_dir / "ecdsa.key"),
            "-tls1_3",
            "-groups",
            "P-256:X25519",
        ],
        stdin=subprocess.PIPE,  # at EOF on stdin s_server stops after one connection
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield port
    finally:
        proc.kill()
        proc.communicate()


@needs_openssl
def test_our_client_accepts_openssl_encrypted_extensions_supported_groups(
    openssl_s_server: int,
) -> None:
    client = ClientConnection(ClientConfig(server_name=HOST, entropy=counter_entropy()))
    evs = client.start()
    with socket.create_connection(("127.0.0.1", openssl_s_server), 10) as sock:
        sock.settimeout(10)
        sock.sendall(client.data_to_send())
        while not client.handshake_complete and not client.closed:
            data = sock.recv(65536)
            new = client.receive_data(data)
            evs += new
            if any(isinstance(e, events.CertificateReceived) for e in new):
                evs += client.accept_certificate()
            sock.sendall(client.data_to_send())
            if not data:
                break
    assert client.error is None
    assert [d.group for d in of_type(evs, events.HandshakeComplete)] == [NamedGroup.x25519]
    assert "supported_groups" in _encrypted_extensions(evs, sent=False)


# -- only NULL or unknown suites: handshake_failure, as OpenSSL answers ----------------------

NULL_SUITES = (0x0000, 0x003B, 0xC010, 0xFEFE)  # NULL_WITH_NULL_NULL, RSA/ECDHE NULL, unknown


def _hello_with_suites(client_kw: Mapping[str, object], suites: tuple[int, ...]) -> bytes:
    client = ClientConnection(
        ClientConfig(server_name=HOST, entropy=counter_entropy(b"c"), **client_kw)  # type: ignore[arg-type]
    )
    client.start()
    record = client.data_to_send()
    ch = ClientHello.parse(record[9:])
    raw = ClientHello(
        random=ch.random,
        legacy_session_id=ch.legacy_session_id,
        cipher_suites=suites,
        extensions=ch.extensions,
    ).serialize()
    return record[:3] + len(raw).to_bytes(2, "big") + raw


def _openssl_alert(pem_dir: Path, record: bytes) -> bytes:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_ciphers("ALL:eNULL")
    ctx.load_cert_chain(pem_dir / "rsa.crt", pem_dir / "rsa.key")
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    sobj = ctx.wrap_bio(inc, out, server_side=True)
    inc.write(record)
    with pytest.raises(ssl.SSLError):
        sobj.do_handshake()
    return out.read()


HANDSHAKE_FAILURE_RECORD = bytes([21, 3, 3, 0, 2, 2, 40])


@pytest.mark.parametrize("versions", [None, TLS12], ids=["1.3+1.2", "1.2"])
def test_client_offering_only_null_suites_gets_handshake_failure_like_openssl(
    pem_dir: Path, versions: tuple[ProtocolVersion, ...] | None
) -> None:
    kw = (
        {"versions": (ProtocolVersion.TLSv1_3, *TLS12)} if versions is None else {"versions": TLS12}
    )
    record = _hello_with_suites(kw, NULL_SUITES)
    srv = our_server("rsa")
    evs = srv.receive_data(record)
    assert of_type(evs, events.AlertSent) == [
        events.AlertSent(AlertLevel.fatal, AlertDescription.handshake_failure)
    ]
    assert srv.error is not None and not srv.error.sent_by_peer
    assert srv.data_to_send() == HANDSHAKE_FAILURE_RECORD
    assert _openssl_alert(pem_dir, record) == HANDSHAKE_FAILURE_RECORD


def test_tls12_resumption_attempt_with_only_null_suites_is_illegal_parameter() -> None:
    """The cached session's suite is not offered: refused as OpenSSL does (required cipher
    missing), not answered with a full handshake under another suite."""
    cache = SessionCache()
    client, srv = make_pair(
        "rsa", client_kw={"versions": TLS12}, server_kw={"session_cache": cache}
    )
    client.start()
    session = of_type(pump(client, srv)[0], events.SessionReceived)[0].session
    record = _hello_with_suites({"versions": TLS12, "session": session}, NULL_SUITES)
    assert ClientHello.parse(record[9:]).legacy_session_id == session.session_id
    evs = our_server("rsa", session_cache=cache).receive_data(record)
    assert of_type(evs, events.AlertSent) == [
        events.AlertSent(AlertLevel.fatal, AlertDescription.illegal_parameter)
    ]


def test_tls13_ticket_resumption_attempt_with_only_null_suites_is_handshake_failure() -> None:
    key = bytes(range(32))
    client, srv = make_pair(server_kw={"ticket_key": key})
    client.start()
    session = of_type(pump(client, srv)[0], events.SessionReceived)[0].session
    record = _hello_with_suites({"session": session}, NULL_SUITES)
    assert ClientHello.parse(record[9:]).extensions[-1].type == ExtensionType.pre_shared_key
    evs = our_server(ticket_key=key).receive_data(record)
    assert of_type(evs, events.AlertSent) == [
        events.AlertSent(AlertLevel.fatal, AlertDescription.handshake_failure)
    ]


def test_no_null_suite_is_implemented() -> None:
    assert not set(NULL_SUITES) & (set(TLS12_SUITES) | set(TLS13_SUITES))
