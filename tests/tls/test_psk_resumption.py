"""TLS 1.3 PSK resumption (RFC 8446 4.2.11, 4.6.1): pairwise and with OpenSSL, both ways."""

from __future__ import annotations

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
    Session,
    events,
)

from .sslhelpers import drive_openssl_client, drive_our_client, write_pem_dir
from .tlshelpers import (
    HOST,
    counter_entropy,
    make_pair,
    of_type,
    pki,
    protocol_messages,
    pump,
    selector_for,
)

TICKET_KEY = bytes(range(32))
ABBREVIATED = ["ServerHello", "EncryptedExtensions", "Finished"]


@pytest.fixture(scope="module")
def pem_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_pem_dir(tmp_path_factory.mktemp("pkipsk"))


def received(evs: list[events.Event]) -> list[str]:
    return protocol_messages(evs, events.HandshakeMessageReceived)


def sent(evs: list[events.Event]) -> list[str]:
    return protocol_messages(evs, events.HandshakeMessageSent)


def sessions_of(evs: list[events.Event]) -> list[Session]:
    return [e.session for e in evs if isinstance(e, events.SessionReceived)]


def completed(evs: list[events.Event]) -> events.HandshakeComplete:
    done = [e for e in evs if isinstance(e, events.HandshakeComplete)]
    assert len(done) == 1
    return done[0]


def first_session(server_kw: dict[str, object] | None = None) -> Session:
    client, server = make_pair(server_kw={"ticket_key": TICKET_KEY, **(server_kw or {})})
    client.start()
    cev, sev = pump(client, server)
    assert "NewSessionTicket" in sent(sev)
    (session,) = sessions_of(cev)
    assert session.ticket and session.ticket_lifetime == 7200
    return session


def resume(
    session: Session,
    client_kw: dict[str, object] | None = None,
    server_kw: dict[str, object] | None = None,
) -> tuple[ClientConnection, ServerConnection, list[events.Event], list[events.Event]]:
    client, server = make_pair(
        client_kw={"session": session, **(client_kw or {})},
        server_kw={"ticket_key": TICKET_KEY, **(server_kw or {})},
    )
    client.start()
    cev, sev = pump(client, server)
    return client, server, cev, sev


def test_pairwise_resumption_is_abbreviated_and_carries_data() -> None:
    session = first_session()
    client, server, cev, sev = resume(session, client_kw={"session_age_ms": 1500})
    assert received(cev) == [*ABBREVIATED, "NewSessionTicket"]
    assert sent(sev) == [*ABBREVIATED, "NewSessionTicket"]
    assert not of_type(cev, events.CertificateReceived)
    done = completed(cev)
    assert (
        done.resumed and done.signature_scheme is None and done.group == NamedGroup.X25519MLKEM768
    )
    assert completed(sev) == done
    assert client.negotiated is not None and client.negotiated.resumed
    assert server.negotiated is not None and server.negotiated.resumed
    hello = next(e for e in sev if isinstance(e, events.HandshakeMessageReceived))
    assert hello.fields["extensions"][-2:] == ["psk_key_exchange_modes", "pre_shared_key"]  # type: ignore[index]
    client.send_application_data(b"ping")
    assert server.receive_data(client.data_to_send()) == [events.ApplicationDataReceived(b"ping")]
    server.send_application_data(b"pong")
    assert client.receive_data(server.data_to_send()) == [events.ApplicationDataReceived(b"pong")]
    # the resumed connection hands out a fresh ticket, itself resumable
    (again,) = sessions_of(cev)
    assert again.ticket != session.ticket
    assert completed(resume(again)[2]).resumed


def test_resumption_after_hello_retry_request() -> None:
    session = first_session()
    _, _, cev, _ = resume(
        session,
        client_kw={"key_share_groups": (NamedGroup.x25519,)},
        server_kw={"supported_groups": (NamedGroup.secp256r1,)},
    )
    assert received(cev)[:2] == ["HelloRetryRequest", "ServerHello"]
    done = completed(cev)
    assert done.resumed and done.group == NamedGroup.secp256r1
    assert not of_type(cev, events.CertificateReceived)


def test_tampered_binder_is_a_decrypt_error() -> None:
    session = first_session()
    client, server = make_pair(client_kw={"session": session}, server_kw={"ticket_key": TICKET_KEY})
    client.start()
    hello = bytearray(client.data_to_send())
    hello[-1] ^= 0x01  # the binder is the ClientHello's last bytes
    sev = server.receive_data(bytes(hello))
    assert events.AlertSent(AlertLevel.fatal, AlertDescription.decrypt_error) in sev
    assert server.closed


@pytest.mark.parametrize(
    ("client_kw", "server_kw"),
    [
        ({}, {"ticket_key": bytes(32)}),  # another server's key: the ticket does not open
        ({"session_age_ms": 7200 * 1000 + 1}, {}),  # older than its lifetime
        ({}, {"cipher_suites": (CipherSuite.TLS_AES_256_GCM_SHA384,)}),  # other hash
    ],
    ids=["unknown-ticket", "expired", "other-hash"],
)
def test_unusable_ticket_falls_back_to_a_full_handshake(
    client_kw: dict[str, object], server_kw: dict[str, object]
) -> None:
    session = first_session()
    _, _, cev, _ = resume(session, client_kw, server_kw)
    assert "Certificate" in received(cev) and of_type(cev, events.CertificateReceived)
    assert not completed(cev).resumed


def test_client_does_not_offer_a_ticket_for_another_name() -> None:
    session = first_session()
    client = ClientConnection(
        ClientConfig(server_name="other.tlssim.test", entropy=counter_entropy(), session=session)
    )
    (hello,) = client.start()
    assert isinstance(hello, events.HandshakeMessageSent)
    assert "pre_shared_key" not in hello.fields["extensions"]  # type: ignore[operator]


def test_server_without_ticket_key_ignores_the_offer() -> None:
    session = first_session()
    client, server = make_pair(client_kw={"session": session})
    client.start()
    cev, sev = pump(client, server)
    assert not completed(cev).resumed and "NewSessionTicket" not in sent(sev)


def test_openssl_client_resumes_with_our_server(pem_dir: Path) -> None:
    ctx = ssl.create_default_context(cafile=str(pem_dir / "ca.pem"))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3

    def run(
        session: ssl.SSLSession | None, seed: bytes
    ) -> tuple[list[events.Event], ssl.SSLObject]:
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        sobj = ctx.wrap_bio(inc, out, server_hostname=HOST, session=session)
        server = ServerConnection(
            ServerConfig(
                entropy=counter_entropy(seed),
                certificate_selector=selector_for(pki().keys["ecdsa"]),
                ticket_key=TICKET_KEY,
            )
        )
        evs, err = drive_openssl_client(server, sobj, inc, out)
        assert err is None
        # the ticket follows the client's Finished: deliver it with some data
        server.send_application_data(b"hello")
        inc.write(server.data_to_send())
        assert sobj.read(100) == b"hello"
        return evs, sobj

    _, sobj = run(None, b"first")
    assert not sobj.session_reused and sobj.session is not None
    assert sobj.session.has_ticket
    evs2, sobj2 = run(sobj.session, b"second")
    assert sobj2.session_reused
    assert sent(evs2)[:3] == ABBREVIATED
    assert "Certificate" not in sent(evs2)
    assert completed(evs2).resumed


def test_our_client_resumes_with_openssl_server(pem_dir: Path) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pem_dir / "ecdsa.crt", pem_dir / "ecdsa.key")

    def run(session: Session | None) -> tuple[list[events.Event], ssl.SSLObject]:
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        sobj = ctx.wrap_bio(inc, out, server_side=True)
        client = ClientConnection(
            ClientConfig(
                server_name=HOST, entropy=counter_entropy(), session=session, session_age_ms=10
            )
        )
        evs, err = drive_our_client(client, sobj, inc, out)
        assert err is None and client.negotiated is not None
        client.send_application_data(b"ping")
        inc.write(client.data_to_send())
        assert sobj.read(100) == b"ping"
        return evs, sobj

    evs, sobj = run(None)
    assert not sobj.session_reused
    sessions = sessions_of(evs)
    assert sessions
    evs2, sobj2 = run(sessions[0])
    assert sobj2.session_reused
    assert received(evs2)[:3] == ABBREVIATED
    assert not of_type(evs2, events.CertificateReceived)
    assert completed(evs2).resumed


@pytest.mark.parametrize("offer", [True, False])
def test_a_client_that_wants_a_ticket_offers_psk_modes_in_its_first_hello(offer: bool) -> None:
    """RFC 8446 4.2.9: a server may send no ticket to a client that lists no PSK mode (Go,
    NSS, Java and tlslite-ng send none), so a client planning to resume lists psk_dhe_ke."""
    client = ClientConnection(
        ClientConfig(server_name=HOST, entropy=counter_entropy(), offer_psk_modes=offer)
    )
    (hello,) = client.start()
    assert isinstance(hello, events.HandshakeMessageSent)
    extensions = hello.fields["extensions"]
    assert isinstance(extensions, list)
    assert ("psk_key_exchange_modes" in extensions) is offer
    assert "pre_shared_key" not in extensions
