"""TLS 1.2 (RFC 5246): our client against our server, pumped in memory."""

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
    events,
)
from tlssim.tls.tls12 import TLS12_SUITES

from .tlshelpers import HOST, make_pair, of_type, pump

TLS12 = (ProtocolVersion.TLSv1_2,)
BOTH = (ProtocolVersion.TLSv1_3, ProtocolVersion.TLSv1_2)


def kind_for(suite: CipherSuite) -> str:
    return "ecdsa" if TLS12_SUITES[suite].authentication == "ecdsa" else "rsa"


def names(
    evs: list[events.Event],
    cls: type[events.HandshakeMessageSent] | type[events.HandshakeMessageReceived],
) -> list[str]:
    return [e.name for e in evs if isinstance(e, cls)]


@pytest.mark.parametrize("suite", list(TLS12_SUITES))
def test_full_handshake_and_data(suite: CipherSuite) -> None:
    client, server = make_pair(
        kind_for(suite), client_kw={"versions": TLS12, "cipher_suites": (suite,)}
    )
    client.start()
    cev, sev = pump(client, server)
    ecdhe = TLS12_SUITES[suite].key_exchange == "ecdhe"
    ske = ["ServerKeyExchange"] if ecdhe else []
    server_flight = ["ServerHello", "Certificate", *ske, "ServerHelloDone"]
    client_flight = ["ClientKeyExchange", "ChangeCipherSpec", "Finished"]
    assert names(cev, events.HandshakeMessageReceived) == [
        *server_flight,
        "ChangeCipherSpec",
        "Finished",
    ]
    assert names(cev, events.HandshakeMessageSent) == client_flight
    assert names(sev, events.HandshakeMessageReceived) == ["ClientHello", *client_flight]
    assert names(sev, events.HandshakeMessageSent) == [
        *server_flight,
        "ChangeCipherSpec",
        "Finished",
    ]
    scheme = (
        SignatureScheme.ecdsa_secp256r1_sha256
        if kind_for(suite) == "ecdsa"
        else SignatureScheme.rsa_pss_rsae_sha256
    )
    expected = events.HandshakeComplete(
        ProtocolVersion.TLSv1_2,
        suite,
        NamedGroup.x25519 if ecdhe else None,
        scheme if ecdhe else None,
        HOST,
        "x25519" if ecdhe else "rsa",
    )
    assert of_type(cev, events.HandshakeComplete) == [expected]
    assert of_type(sev, events.HandshakeComplete) == [expected]
    assert client.negotiated is not None and client.negotiated.extended_master_secret
    assert client.negotiated.key_exchange == ("x25519" if ecdhe else "rsa")
    assert server.negotiated == client.negotiated
    # one NSS key log line per side: CLIENT_RANDOM <client random> <master secret>
    cs = of_type(cev, events.SecretDerived)
    assert [e.label for e in cs] == ["CLIENT_RANDOM"]
    assert cs == of_type(sev, events.SecretDerived)
    assert len(cs[0].secret) == 48

    if not ecdhe:
        cke = next(
            e
            for e in cev
            if isinstance(e, events.HandshakeMessageSent) and e.name == "ClientKeyExchange"
        )
        assert cke.fields == {
            "key_exchange": "rsa",
            "premaster": "encrypted with the server's public key",
            "encrypted_size": 256,
        }
    else:
        ske_ev = next(
            e
            for e in cev
            if isinstance(e, events.HandshakeMessageReceived) and e.name == "ServerKeyExchange"
        )
        assert ske_ev.fields["group"] == "x25519"
        assert ske_ev.fields["signature_scheme"] == scheme.name

    client.send_application_data(b"ping")
    assert server.receive_data(client.data_to_send()) == [events.ApplicationDataReceived(b"ping")]
    big = bytes(range(256)) * 200
    server.send_application_data(big)
    got = client.receive_data(server.data_to_send())
    assert b"".join(e.data for e in of_type(got, events.ApplicationDataReceived)) == big

    client.close()
    sev2 = server.receive_data(client.data_to_send())
    assert events.AlertReceived(AlertLevel.warning, AlertDescription.close_notify) in sev2
    assert server.state is State.CLOSED
    assert isinstance(client.receive_data(server.data_to_send())[-1], events.ConnectionClosed)


def test_both_versions_offered_picks_tls13() -> None:
    client, server = make_pair(client_kw={"versions": BOTH})
    client.start()
    cev, _ = pump(client, server)
    done = of_type(cev, events.HandshakeComplete)
    assert done and done[0].version == ProtocolVersion.TLSv1_3


def test_client_hello_offering_both_carries_both_suite_lists() -> None:
    client, _server = make_pair(client_kw={"versions": BOTH})
    sent = client.start()
    fields = sent[0].fields  # type: ignore[attr-defined]
    assert fields["supported_versions"] == ["TLSv1.3", "TLSv1.2"]
    assert "TLS_AES_128_GCM_SHA256" in fields["cipher_suites"]
    assert "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" in fields["cipher_suites"]
    assert "extended_master_secret" in fields["extensions"]
    assert "renegotiation_info" in fields["extensions"]


def test_tls13_client_default_offers_only_tls13() -> None:
    client, _ = make_pair()
    fields = client.start()[0].fields  # type: ignore[attr-defined]
    assert fields["supported_versions"] == ["TLSv1.3"]
    assert all(s.startswith("TLS_AES") or "CHACHA" in s for s in fields["cipher_suites"])


@pytest.mark.parametrize("group", [NamedGroup.x25519, NamedGroup.secp256r1])
def test_server_key_exchange_group(group: NamedGroup) -> None:
    client, server = make_pair(
        client_kw={"versions": TLS12}, server_kw={"supported_groups": (group,)}
    )
    client.start()
    _cev, _ = pump(client, server)
    assert client.negotiated is not None and client.negotiated.group == group


def test_pkcs1_signature_when_client_offers_only_pkcs1() -> None:
    client, server = make_pair(
        "rsa",
        client_kw={
            "versions": TLS12,
            "signature_schemes": (SignatureScheme.rsa_pkcs1_sha256,),
            "cipher_suites": (CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,),
        },
    )
    client.start()
    pump(client, server)
    assert client.negotiated is not None
    assert client.negotiated.signature_scheme == SignatureScheme.rsa_pkcs1_sha256


def test_ocsp_staple_in_certificate_status_and_pause() -> None:
    staple = b"\x30\x03\x0a\x01\x00"
    client, server = make_pair(client_kw={"versions": TLS12}, ocsp=staple)
    client.start()
    server.receive_data(client.data_to_send())
    cev = client.receive_data(server.data_to_send())
    assert names(cev, events.HandshakeMessageReceived) == [
        "ServerHello",
        "Certificate",
        "CertificateStatus",
    ]
    received = of_type(cev, events.CertificateReceived)
    assert received == [events.CertificateReceived(received[0].chain, staple)]
    assert client.awaiting_certificate_decision
    more = client.accept_certificate()
    assert names(more, events.HandshakeMessageReceived) == ["ServerKeyExchange", "ServerHelloDone"]
    assert names(more, events.HandshakeMessageSent) == [
        "ClientKeyExchange",
        "ChangeCipherSpec",
        "Finished",
    ]


def test_reject_certificate_in_tls12() -> None:
    client, server = make_pair(client_kw={"versions": TLS12})
    client.start()
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    assert client.reject_certificate(AlertDescription.unknown_ca)[-1] == events.ConnectionClosed()
    sev = server.receive_data(client.data_to_send())
    assert events.AlertReceived(AlertLevel.fatal, AlertDescription.unknown_ca) in sev


def test_no_common_tls12_suite_is_handshake_failure() -> None:
    client, server = make_pair(
        "ecdsa",
        client_kw={
            "versions": TLS12,
            "cipher_suites": (CipherSuite.TLS_RSA_WITH_AES_128_GCM_SHA256,),
        },
    )
    client.start()
    cev, sev = pump(client, server)
    assert events.AlertSent(AlertLevel.fatal, AlertDescription.handshake_failure) in sev
    assert events.AlertReceived(AlertLevel.fatal, AlertDescription.handshake_failure) in cev


def test_renegotiation_is_refused_with_a_warning() -> None:
    client, server = make_pair(client_kw={"versions": TLS12})
    client.start()
    pump(client, server)
    # the server asks for renegotiation: the client says no_renegotiation and stays up
    from tlssim.tls.constants import ContentType

    server._core.records.write(ContentType.handshake, bytes([0, 0, 0, 0]))
    cev = client.receive_data(server.data_to_send())
    assert cev[-1] == events.AlertSent(AlertLevel.warning, AlertDescription.no_renegotiation)
    sev = server.receive_data(client.data_to_send())
    assert sev == [events.AlertReceived(AlertLevel.warning, AlertDescription.no_renegotiation)]
    assert client.state is State.CONNECTED and server.state is State.CONNECTED
    client.send_application_data(b"still here")
    assert server.receive_data(client.data_to_send()) == [
        events.ApplicationDataReceived(b"still here")
    ]


def test_tampered_finished_is_decrypt_error() -> None:
    client, server = make_pair(client_kw={"versions": TLS12})
    client.start()
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    client.accept_certificate()
    flight = bytearray(client.data_to_send())
    flight[-1] ^= 1  # last byte of the encrypted Finished record: the GCM tag
    sev = server.receive_data(bytes(flight))
    assert sev[-2:] == [
        events.AlertSent(AlertLevel.fatal, AlertDescription.bad_record_mac),
        events.ConnectionClosed(),
    ]


def test_one_byte_at_a_time() -> None:
    client, server = make_pair("rsa", client_kw={"versions": TLS12})
    client.start()
    sev: list[events.Event] = []
    for b in client.data_to_send():
        sev += server.receive_data(bytes([b]))
    cev: list[events.Event] = []
    for b in server.data_to_send():
        cev += client.receive_data(bytes([b]))
    cev += client.accept_certificate()
    for b in client.data_to_send():
        sev += server.receive_data(bytes([b]))
    for b in server.data_to_send():
        cev += client.receive_data(bytes([b]))
    assert of_type(cev, events.HandshakeComplete) and of_type(sev, events.HandshakeComplete)
