"""Our client against our server, pumped in memory."""

from __future__ import annotations

import pytest

from tlssim.tls import (
    AlertDescription,
    AlertLevel,
    CipherSuite,
    NamedGroup,
    ProtocolVersion,
    SignatureScheme,
    State,
    TLSError,
    events,
)
from tlssim.tls.config import ClientAuth
from tlssim.tls.errors import LocalProtocolError
from tlssim.tls.keyschedule import TLS13_SUITES

from .tlshelpers import HOST, make_pair, of_type, pump


def names(
    evs: list[events.Event],
    cls: type[events.HandshakeMessageSent] | type[events.HandshakeMessageReceived],
) -> list[str]:
    return [e.name for e in evs if isinstance(e, cls)]


@pytest.mark.parametrize(
    ("kind", "scheme"),
    [
        ("ecdsa", SignatureScheme.ecdsa_secp256r1_sha256),
        ("rsa", SignatureScheme.rsa_pss_rsae_sha256),
        ("ed25519", SignatureScheme.ed25519),
    ],
)
@pytest.mark.parametrize("suite", list(TLS13_SUITES))
def test_full_handshake_and_data(kind: str, scheme: SignatureScheme, suite: CipherSuite) -> None:
    client, server = make_pair(kind, client_kw={"cipher_suites": (suite,)})
    sent = client.start()
    assert names(sent, events.HandshakeMessageSent) == ["ClientHello"]
    cev, sev = pump(client, server)
    # Every record shows, the compatibility change_cipher_spec of each side too (D.4).
    assert names(cev, events.HandshakeMessageReceived) == [
        "ServerHello",
        "ChangeCipherSpec",
        "EncryptedExtensions",
        "Certificate",
        "CertificateVerify",
        "Finished",
    ]
    assert names(sev, events.HandshakeMessageSent) == [
        "ServerHello",
        "ChangeCipherSpec",
        "EncryptedExtensions",
        "Certificate",
        "CertificateVerify",
        "Finished",
    ]
    assert names(cev, events.HandshakeMessageSent) == ["ChangeCipherSpec", "Finished"]
    assert names(sev, events.HandshakeMessageReceived) == [
        "ClientHello",
        "ChangeCipherSpec",
        "Finished",
    ]
    compat = [
        e
        for e in [*cev, *sev]
        if isinstance(e, events.HandshakeMessageSent | events.HandshakeMessageReceived)
        and e.name == "ChangeCipherSpec"
    ]
    assert all(e.size == 1 and e.fields == {"compatibility": True} for e in compat)
    done_c = of_type(cev, events.HandshakeComplete)
    done_s = of_type(sev, events.HandshakeComplete)
    assert len(done_c) == 1 and len(done_s) == 1
    expected = events.HandshakeComplete(
        ProtocolVersion.TLSv1_3, suite, NamedGroup.X25519MLKEM768, scheme, HOST, "X25519MLKEM768"
    )
    assert done_c[0] == expected and done_s[0] == expected
    assert client.negotiated is not None and client.negotiated.cipher_suite == suite
    # both sides log the same four secrets with the same client random
    cs = {(e.label, e.secret) for e in of_type(cev, events.SecretDerived)}
    ss = {(e.label, e.secret) for e in of_type(sev, events.SecretDerived)}
    assert cs == ss and len(cs) == 4

    client.send_application_data(b"ping")
    assert server.receive_data(client.data_to_send()) == [events.ApplicationDataReceived(b"ping")]
    big = bytes(range(256)) * 200  # 51200 bytes -> 4 records
    server.send_application_data(big)
    got = client.receive_data(server.data_to_send())
    assert b"".join(e.data for e in of_type(got, events.ApplicationDataReceived)) == big

    assert client.close() == [events.AlertSent(AlertLevel.warning, AlertDescription.close_notify)]
    sev2 = server.receive_data(client.data_to_send())
    assert events.AlertReceived(AlertLevel.warning, AlertDescription.close_notify) in sev2
    assert isinstance(sev2[-1], events.ConnectionClosed) and server.state is State.CLOSED
    cev2 = client.receive_data(server.data_to_send())
    assert isinstance(cev2[-1], events.ConnectionClosed)


def test_hello_retry_request_to_secp256r1() -> None:
    client, server = make_pair(server_kw={"supported_groups": (NamedGroup.secp256r1,)})
    client.start()
    cev, sev = pump(client, server)
    assert names(cev, events.HandshakeMessageReceived)[:3] == [
        "HelloRetryRequest",
        "ChangeCipherSpec",
        "ServerHello",
    ]
    assert names(sev, events.HandshakeMessageReceived)[:3] == [
        "ClientHello",
        "ChangeCipherSpec",
        "ClientHello",
    ]
    hrr = next(e for e in cev if isinstance(e, events.HandshakeMessageReceived))
    assert hrr.fields["selected_group"] == "secp256r1"
    assert client.negotiated is not None and client.negotiated.group == NamedGroup.secp256r1
    assert server.negotiated == client.negotiated


def test_secp256r1_share_without_hrr() -> None:
    classical = (NamedGroup.x25519, NamedGroup.secp256r1)
    client, server = make_pair(
        client_kw={"supported_groups": classical, "key_share_groups": (NamedGroup.secp256r1,)}
    )
    client.start()
    cev, _ = pump(client, server)
    assert "HelloRetryRequest" not in names(cev, events.HandshakeMessageReceived)
    assert client.negotiated is not None and client.negotiated.group == NamedGroup.secp256r1


def test_ocsp_staple_delivered_and_engine_pauses() -> None:
    staple = b"\x30\x03\x0a\x01\x00"  # a tiny DER OCSPResponse (status=successful, no body)
    client, server = make_pair(ocsp=staple)
    client.start()
    server.receive_data(client.data_to_send())
    cev = client.receive_data(server.data_to_send())
    received = of_type(cev, events.CertificateReceived)
    assert len(received) == 1 and received[0].ocsp_response == staple
    assert len(received[0].chain) == 2
    cert_msg = next(
        e for e in cev if isinstance(e, events.HandshakeMessageReceived) and e.name == "Certificate"
    )
    assert cert_msg.fields["ocsp_staple"] is True
    # paused: nothing else processed, nothing sent beyond the compat CCS, no Finished yet
    assert client.awaiting_certificate_decision
    assert not of_type(cev, events.HandshakeComplete)
    assert client.receive_data(b"") == []  # even EOF waits for the decision
    more = client.accept_certificate()
    assert names(more, events.HandshakeMessageReceived) == ["CertificateVerify", "Finished"]
    assert of_type(more, events.HandshakeComplete)


def test_no_staple_when_client_does_not_ask() -> None:
    client, server = make_pair(client_kw={"request_ocsp": False}, ocsp=b"\x30\x00")
    client.start()
    cev, _ = pump(client, server)
    assert of_type(cev, events.CertificateReceived)[0].ocsp_response is None


def test_reject_certificate_alert_reaches_server() -> None:
    client, server = make_pair()
    client.start()
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    out = client.reject_certificate(AlertDescription.unknown_ca)
    assert out == [
        # the compatibility record went out first, with the alert (D.4)
        events.HandshakeMessageSent("ChangeCipherSpec", 1, {"compatibility": True}),
        events.AlertSent(AlertLevel.fatal, AlertDescription.unknown_ca),
        events.ConnectionClosed(),
    ]
    assert client.state is State.CLOSED
    sev = server.receive_data(client.data_to_send())
    assert events.AlertReceived(AlertLevel.fatal, AlertDescription.unknown_ca) in sev
    assert isinstance(sev[-1], events.ConnectionClosed)
    assert server.error is not None and server.error.alert == AlertDescription.unknown_ca


def test_one_byte_at_a_time() -> None:
    client, server = make_pair()
    client.start()
    sev: list[events.Event] = []
    for b in client.data_to_send():
        sev += server.receive_data(bytes([b]))
    cev: list[events.Event] = []
    for b in server.data_to_send():
        cev += client.receive_data(bytes([b]))
    cev += client.accept_certificate()
    sev += server.receive_data(client.data_to_send())
    assert of_type(cev, events.HandshakeComplete) and of_type(sev, events.HandshakeComplete)


def test_no_common_suite_is_handshake_failure() -> None:
    client, server = make_pair(
        client_kw={"cipher_suites": (CipherSuite.TLS_AES_128_GCM_SHA256,)},
        server_kw={"cipher_suites": (CipherSuite.TLS_AES_256_GCM_SHA384,)},
    )
    client.start()
    cev, sev = pump(client, server)
    assert events.AlertSent(AlertLevel.fatal, AlertDescription.handshake_failure) in sev
    assert events.AlertReceived(AlertLevel.fatal, AlertDescription.handshake_failure) in cev


def test_selector_error_becomes_alert() -> None:
    from tlssim.tls import ServerConfig, ServerConnection, UnrecognizedName
    from tlssim.tls.client_connection import ClientConnection
    from tlssim.tls.config import ClientConfig
    from tlssim.tls.signatures import PrivateKey  # noqa: F401

    def select(sni: str | None, schemes: tuple[SignatureScheme, ...]) -> object:
        raise UnrecognizedName(f"no host {sni}")

    client = ClientConnection(ClientConfig(server_name="nope.test", entropy=lambda n: bytes(n)))
    server = ServerConnection(
        ServerConfig(entropy=lambda n: bytes(n), certificate_selector=select)  # type: ignore[arg-type]
    )
    client.start()
    cev, sev = pump(client, server)
    assert events.AlertSent(AlertLevel.fatal, AlertDescription.unrecognized_name) in sev
    assert events.AlertReceived(AlertLevel.fatal, AlertDescription.unrecognized_name) in cev


def test_api_misuse_raises_local_protocol_error() -> None:
    client, server = make_pair()
    with pytest.raises(LocalProtocolError, match="cannot send application data"):
        client.send_application_data(b"x")
    with pytest.raises(LocalProtocolError, match="no certificate is awaiting a decision"):
        client.accept_certificate()
    with pytest.raises(LocalProtocolError, match="no certificate is awaiting a decision"):
        server.reject_certificate()
    with pytest.raises(LocalProtocolError, match=r"needs a TLS 1\.3 connection"):
        server.request_client_certificate(ClientAuth(required=True))
    client.start()
    with pytest.raises(LocalProtocolError, match="called twice"):
        client.start()
    # a misuse is the caller's bug, not a TLS failure: nothing is sent, nothing ends
    assert not issubclass(LocalProtocolError, TLSError)
    assert issubclass(LocalProtocolError, RuntimeError)
    pump(client, server)
    assert client.handshake_complete and server.handshake_complete
