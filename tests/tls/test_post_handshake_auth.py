"""Post-handshake client authentication (RFC 8446 4.6.2): our client and server, and
OpenSSL's client (``post_handshake_auth``) against our server through MemoryBIO."""

from __future__ import annotations

import contextlib
import ssl
from pathlib import Path

import pytest

from tlssim.tls import AlertDescription, CertifiedKey, ServerConnection, Tls13State, events
from tlssim.tls.config import ClientAuth
from tlssim.tls.errors import LocalProtocolError, PeerAlert

from .test_client_auth import client_identities
from .tlshelpers import make_pair, of_type, pump

ASK = ClientAuth(required=True, certificate_authorities=(b"\x30\x00",))
OPTIONAL = ClientAuth(required=False)


def connected(certified: CertifiedKey | None) -> tuple[object, ServerConnection]:
    client, server = make_pair(client_kw={"client_certificate": certified})
    client.start()
    pump(client, server)
    assert client.handshake_complete and server.handshake_complete
    return client, server


def names(evs: list[events.Event], kind: type[events.Event]) -> list[str]:
    return [getattr(e, "name", "") for e in evs if isinstance(e, kind)]


def test_client_with_a_certificate_offers_and_answers() -> None:
    certified = client_identities()[1]["ecdsa"]
    client, server = connected(certified)
    assert server.post_handshake_auth_offered
    s_evs = server.request_client_certificate(ASK)
    assert names(s_evs, events.HandshakeMessageSent) == ["CertificateRequest"]
    assert server.handshake_state == Tls13State.PHA_WAIT_CERT
    with pytest.raises(LocalProtocolError, match="in state PHA_WAIT_CERT"):
        server.request_client_certificate(ASK)  # one request at a time
    context = s_evs[0].fields["request_context"]  # type: ignore[attr-defined]
    assert context and len(bytes.fromhex(str(context))) == 8
    c_evs, more = pump(client, server)  # type: ignore[arg-type]
    s_evs += more
    assert names(c_evs, events.HandshakeMessageSent) == [
        "Certificate",
        "CertificateVerify",
        "Finished",
    ]
    assert [r.chain for r in of_type(s_evs, events.CertificateReceived)] == [certified.chain]
    assert server.awaiting_certificate_decision
    done = server.accept_certificate()
    assert of_type(done, events.ClientAuthenticated) == [
        events.ClientAuthenticated(certified.chain)
    ]
    # the connection goes on; a second request works the same, with a new context
    again = server.request_client_certificate(ASK)
    assert again[0].fields["request_context"] != context  # type: ignore[attr-defined]
    pump(client, server)  # type: ignore[arg-type]
    assert of_type(server.accept_certificate(), events.ClientAuthenticated)


def test_client_without_a_certificate_does_not_offer() -> None:
    _, server = connected(None)
    assert not server.post_handshake_auth_offered
    evs = server.request_client_certificate(ASK)
    assert server.closed
    assert of_type(evs, events.AlertSent)[0].description == AlertDescription.certificate_required
    _, optional = connected(None)
    assert of_type(optional.request_client_certificate(OPTIONAL), events.ClientAuthenticated)


def test_rejected_chain_ends_with_the_servers_alert() -> None:
    client, server = connected(client_identities()[1]["rsa"])
    server.request_client_certificate(ASK)
    pump(client, server)  # type: ignore[arg-type]
    evs = server.reject_certificate(AlertDescription.unknown_ca)
    assert of_type(evs, events.AlertSent)[0].description == AlertDescription.unknown_ca
    c_evs, _ = pump(client, server)  # type: ignore[arg-type]
    closed = of_type(c_evs, events.ConnectionClosed)[0]
    assert isinstance(closed.error, PeerAlert) and closed.error.alert == AlertDescription.unknown_ca


def test_unsolicited_request_is_unexpected_message() -> None:
    client, server = make_pair(client_kw={"client_certificate": None})
    client.start()
    pump(client, server)
    # force the request on a client that did not offer: it refuses
    server._core.handshake.post_handshake_auth_offered = True  # type: ignore[union-attr]
    server.request_client_certificate(ASK)
    c_evs, _ = pump(client, server)
    assert of_type(c_evs, events.AlertSent)[0].description == AlertDescription.unexpected_message


@pytest.fixture(scope="module")
def client_pems(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    d = tmp_path_factory.mktemp("pha")
    certified = client_identities()[1]["ecdsa"]
    leaf = x509.load_der_x509_certificate(certified.chain[0])
    (d / "client.crt").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (d / "client.key").write_bytes(
        certified.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return d


def _openssl_connected(
    with_cert: Path | None,
) -> tuple[ssl.SSLObject, ssl.MemoryBIO, ssl.MemoryBIO, ServerConnection]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.post_handshake_auth = True
    if with_cert is not None:
        ctx.load_cert_chain(with_cert / "client.crt", with_cert / "client.key")
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    sobj = ctx.wrap_bio(inc, out, server_hostname="valid.tlssim.test")
    _, server = make_pair()
    for _ in range(10):
        try:
            sobj.do_handshake()
            break
        except ssl.SSLWantReadError:
            pass
        server.receive_data(out.read())
        inc.write(server.data_to_send())
    server.receive_data(out.read())
    assert server.handshake_complete
    return sobj, inc, out, server


def _exchange(
    sobj: ssl.SSLObject, inc: ssl.MemoryBIO, out: ssl.MemoryBIO, server: ServerConnection
) -> list[events.Event]:
    """OpenSSL answers a CertificateRequest when it next reads."""
    inc.write(server.data_to_send())
    server.send_application_data(b"ping")
    inc.write(server.data_to_send())
    with contextlib.suppress(ssl.SSLError):
        sobj.read(100)
    return server.receive_data(out.read())


def test_openssl_client_answers_with_its_certificate(client_pems: Path) -> None:
    sobj, inc, out, server = _openssl_connected(client_pems)
    assert server.post_handshake_auth_offered
    server.request_client_certificate(ASK)
    evs = _exchange(sobj, inc, out, server)
    assert of_type(evs, events.CertificateReceived)
    done = server.accept_certificate()
    (auth,) = of_type(done, events.ClientAuthenticated)
    assert auth.chain[0] == client_identities()[1]["ecdsa"].chain[0]


def test_openssl_client_without_certificate_gets_certificate_required() -> None:
    sobj, inc, out, server = _openssl_connected(None)
    server.request_client_certificate(ASK)
    evs = _exchange(sobj, inc, out, server)
    assert "Certificate" in names(evs, events.HandshakeMessageReceived)
    sent = of_type(evs, events.AlertSent)
    assert sent and sent[0].description == AlertDescription.certificate_required
