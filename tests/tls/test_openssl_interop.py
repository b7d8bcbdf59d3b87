"""Interop with OpenSSL (Python's ``ssl`` through MemoryBIO): the standard library as oracle."""

from __future__ import annotations

import contextlib
import ssl
from pathlib import Path

import pytest

from tlssim.tls import (
    AlertDescription,
    AlertLevel,
    CipherSuite,
    ClientConfig,
    ClientConnection,
    NamedGroup,
    ServerConfig,
    ServerConnection,
    SignatureScheme,
    State,
    events,
)

from .sslhelpers import (
    bulk_and_close_with_openssl,
    drive_openssl_client,
    drive_our_client,
    write_pem_dir,
)
from .tlshelpers import HOST, counter_entropy, of_type, pki, protocol_messages, selector_for

SUITES = [
    CipherSuite.TLS_AES_128_GCM_SHA256,
    CipherSuite.TLS_AES_256_GCM_SHA384,
    CipherSuite.TLS_CHACHA20_POLY1305_SHA256,
]
KINDS = {
    "ecdsa": SignatureScheme.ecdsa_secp256r1_sha256,
    "rsa": SignatureScheme.rsa_pss_rsae_sha256,
    "ed25519": SignatureScheme.ed25519,
}
# name -> (OpenSSL side forced to P-256?, our key shares / groups, expected group, HRR?)
GROUP_CASES = ["x25519", "secp256r1", "hrr"]


@pytest.fixture(scope="module")
def pem_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_pem_dir(tmp_path_factory.mktemp("pki"))


@pytest.mark.parametrize("group_case", GROUP_CASES)
@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("suite", SUITES)
def test_our_client_against_openssl_server(
    pem_dir: Path, suite: CipherSuite, kind: str, group_case: str
) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(pem_dir / f"{kind}.crt", pem_dir / f"{kind}.key")
    shares = (NamedGroup.x25519,)
    if group_case != "x25519":
        ctx.set_ecdh_curve("prime256v1")  # OpenSSL then supports only secp256r1
    if group_case == "secp256r1":
        shares = (NamedGroup.secp256r1,)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    sobj = ctx.wrap_bio(inc, out, server_side=True)
    client = ClientConnection(
        ClientConfig(
            server_name=HOST,
            entropy=counter_entropy(),
            cipher_suites=(suite,),
            key_share_groups=shares,
        )
    )
    evs, err = drive_our_client(client, sobj, inc, out)
    assert err is None, err
    received = protocol_messages(evs, events.HandshakeMessageReceived)
    assert received[: 1 + (group_case == "hrr")] == (
        ["HelloRetryRequest", "ServerHello"] if group_case == "hrr" else ["ServerHello"]
    )
    assert "NewSessionTicket" in received  # OpenSSL sends tickets; we accept and ignore them
    group = NamedGroup.x25519 if group_case == "x25519" else NamedGroup.secp256r1
    assert client.negotiated is not None
    assert of_type(evs, events.HandshakeComplete) == [
        events.HandshakeComplete(
            client.negotiated.version,
            suite,
            group,
            KINDS[kind],
            HOST,
            group.name,
        )
    ]
    cipher = sobj.cipher()
    assert cipher is not None and cipher[0] == suite.name and sobj.version() == "TLSv1.3"

    client.send_application_data(b"hello from tlssim")
    inc.write(client.data_to_send())
    assert sobj.read(1024) == b"hello from tlssim"
    tail = bulk_and_close_with_openssl(client, sobj, inc, out)
    assert isinstance(tail[-1], events.ConnectionClosed)


def _our_server(kind: str, **kw: object) -> ServerConnection:
    return ServerConnection(
        ServerConfig(
            entropy=counter_entropy(b"server"),
            certificate_selector=selector_for(pki().keys[kind]),
            **kw,  # type: ignore[arg-type]
        )
    )


@pytest.mark.parametrize("group_case", GROUP_CASES)
@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("suite", SUITES)
def test_openssl_client_against_our_server(
    pem_dir: Path, suite: CipherSuite, kind: str, group_case: str
) -> None:
    ctx = ssl.create_default_context(cafile=str(pem_dir / "ca.pem"))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
    server_groups: tuple[NamedGroup, ...] = (NamedGroup.x25519, NamedGroup.secp256r1)
    if group_case == "secp256r1":
        ctx.set_ecdh_curve("prime256v1")
    elif group_case == "hrr":
        server_groups = (NamedGroup.secp256r1,)  # OpenSSL's first share is x25519
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    sobj = ctx.wrap_bio(inc, out, server_hostname=HOST)
    server = _our_server(kind, cipher_suites=(suite,), supported_groups=server_groups)
    evs, err = drive_openssl_client(server, sobj, inc, out)
    assert err is None
    received = protocol_messages(evs, events.HandshakeMessageReceived)
    sent = protocol_messages(evs, events.HandshakeMessageSent)
    if group_case == "hrr":
        assert received[:2] == ["ClientHello", "ClientHello"] and sent[0] == "HelloRetryRequest"
    group = NamedGroup.x25519 if group_case == "x25519" else NamedGroup.secp256r1
    assert server.negotiated is not None
    assert of_type(evs, events.HandshakeComplete) == [
        events.HandshakeComplete(
            server.negotiated.version,
            suite,
            group,
            KINDS[kind],
            HOST,
            group.name,
        )
    ]
    cipher = sobj.cipher()
    assert cipher is not None and cipher[0] == suite.name
    assert sobj.getpeercert()["subjectAltName"] == (("DNS", HOST),)  # type: ignore[index]

    sobj.write(b"ping" * 5000)
    got = server.receive_data(out.read())
    data = b"".join(e.data for e in of_type(got, events.ApplicationDataReceived))
    assert data == b"ping" * 5000
    server.send_application_data(b"pong")
    inc.write(server.data_to_send())
    assert sobj.read(100) == b"pong"

    server.close()
    inc.write(server.data_to_send())
    with contextlib.suppress(ssl.SSLWantReadError):
        sobj.unwrap()
    tail = server.receive_data(out.read())
    assert events.AlertReceived(AlertLevel.warning, AlertDescription.close_notify) in tail
    assert isinstance(tail[-1], events.ConnectionClosed)


def test_openssl_client_rejects_untrusted_chain(pem_dir: Path) -> None:
    ctx = ssl.create_default_context()  # system roots: our test CA is unknown
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    sobj = ctx.wrap_bio(inc, out, server_hostname=HOST)
    server = _our_server("ecdsa")
    evs, err = drive_openssl_client(server, sobj, inc, out)
    assert isinstance(err, ssl.SSLCertVerificationError)
    assert events.AlertReceived(AlertLevel.fatal, AlertDescription.unknown_ca) in evs
    assert server.state is State.CLOSED


def test_openssl_client_rejects_wrong_host(pem_dir: Path) -> None:
    ctx = ssl.create_default_context(cafile=str(pem_dir / "ca.pem"))
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    sobj = ctx.wrap_bio(inc, out, server_hostname="other.tlssim.test")
    server = _our_server("ecdsa")
    evs, err = drive_openssl_client(server, sobj, inc, out)
    assert isinstance(err, ssl.SSLCertVerificationError)
    assert "Hostname mismatch" in str(err)
    assert of_type(evs, events.AlertReceived)


def test_our_alert_reaches_openssl(pem_dir: Path) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pem_dir / "ecdsa.crt", pem_dir / "ecdsa.key")
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    sobj = ctx.wrap_bio(inc, out, server_side=True)
    client = ClientConnection(ClientConfig(server_name=HOST, entropy=counter_entropy()))
    client.start()
    inc.write(client.data_to_send())
    with pytest.raises(ssl.SSLWantReadError):
        sobj.do_handshake()
    client.receive_data(out.read())
    assert client.awaiting_certificate_decision
    client.reject_certificate(AlertDescription.certificate_revoked)
    inc.write(client.data_to_send())
    with pytest.raises(ssl.SSLError, match="CERTIFICATE_REVOKED"):
        sobj.do_handshake()
