"""What stops a downgrade to a legacy version (RFC 8446 4.1.3, RFC 7507).

- A server that enables TLS 1.2 or better and negotiates TLS 1.1 or 1.0 ends
  ServerHello.random with DOWNGRD\\x00 (DOWNGRD\\x01 for TLS 1.2 from a TLS 1.3 server); a
  TLS 1.3-capable client that lands below TLS 1.3 and sees either aborts with
  illegal_parameter. A man in the middle who strips supported_versions from the
  ClientHello cannot remove the sentinel: the random is signed (ECDHE) or enters every key.
- A client that retries with lower versions after a failure sends TLS_FALLBACK_SCSV; a
  server that has a better version answers inappropriate_fallback.
- A TLS 1.0/1.1-only server answers with its own version whatever is offered; a client
  that did not offer it refuses with protocol_version.
"""

from __future__ import annotations

import dataclasses

from tlssim.tls import (
    AlertDescription,
    AlertLevel,
    CipherSuite,
    ExtensionType,
    ProtocolVersion,
    events,
)
from tlssim.tls.config import ClientAuth
from tlssim.tls.constants import DOWNGRADE_TLS11, DOWNGRADE_TLS12
from tlssim.tls.messages import ClientHello

from .tlshelpers import make_pair, of_type, pump

V = ProtocolVersion
CBC = CipherSuite.TLS_RSA_WITH_AES_128_CBC_SHA
EVERY_VERSION = (V.TLSv1_3, V.TLSv1_2, V.TLSv1_1, V.TLSv1_0)


def _strip_supported_versions(record: bytes, legacy_version: int) -> bytes:
    """What a man in the middle does to force an old version: supported_versions out,
    legacy_version down (the record is rebuilt around the new ClientHello)."""
    hello = ClientHello.parse(record[9:])
    tampered = dataclasses.replace(
        hello,
        legacy_version=legacy_version,
        extensions=tuple(e for e in hello.extensions if e.type != ExtensionType.supported_versions),
    ).serialize()
    return record[:3] + len(tampered).to_bytes(2, "big") + tampered


def _server_random(evs: list[events.Event]) -> bytes:
    hello = next(
        e for e in evs if isinstance(e, events.HandshakeMessageSent) and e.name == "ServerHello"
    )
    return bytes.fromhex(str(hello.fields["random"]))


def test_downgrade_to_tls10_is_caught_by_the_sentinel() -> None:
    client, server = make_pair(
        "rsa",
        client_kw={
            "versions": (V.TLSv1_3, V.TLSv1_0),
            "cipher_suites": (CipherSuite.TLS_AES_128_GCM_SHA256, CBC),
        },
        server_kw={
            "versions": (V.TLSv1_3, V.TLSv1_0),
            "cipher_suites": (CipherSuite.TLS_AES_128_GCM_SHA256, CBC),
        },
    )
    client.start()
    sev = server.receive_data(_strip_supported_versions(client.data_to_send(), 0x0301))
    assert _server_random(sev)[24:] == DOWNGRADE_TLS11
    cev = client.receive_data(server.data_to_send())
    assert of_type(cev, events.AlertSent) == [
        events.AlertSent(AlertLevel.fatal, AlertDescription.illegal_parameter)
    ]
    assert "downgrade sentinel" in str(of_type(cev, events.ConnectionClosed)[0].error)


def test_downgrade_to_tls12_is_caught_by_the_sentinel() -> None:
    client, server = make_pair(
        "rsa",
        client_kw={"versions": (V.TLSv1_3, V.TLSv1_2)},
        server_kw={"versions": (V.TLSv1_3, V.TLSv1_2)},
    )
    client.start()
    sev = server.receive_data(_strip_supported_versions(client.data_to_send(), 0x0303))
    assert _server_random(sev)[24:] == DOWNGRADE_TLS12
    cev = client.receive_data(server.data_to_send())
    assert of_type(cev, events.AlertSent) == [
        events.AlertSent(AlertLevel.fatal, AlertDescription.illegal_parameter)
    ]


def test_a_legacy_only_client_accepts_the_sentinel_it_cannot_check() -> None:
    """Without TLS 1.3 on offer the client has no reason to expect better: it goes on."""
    client, server = make_pair(
        "rsa",
        client_kw={"versions": (V.TLSv1_0,), "cipher_suites": (CBC,)},
        server_kw={"versions": EVERY_VERSION, "cipher_suites": (CBC,)},
    )
    client.start()
    cev, sev = pump(client, server)
    assert _server_random(sev)[24:] == DOWNGRADE_TLS11
    done = of_type(cev, events.HandshakeComplete)
    assert len(done) == 1 and done[0].version == V.TLSv1_0


def test_fallback_scsv_below_the_servers_best_is_inappropriate_fallback() -> None:
    client, server = make_pair(
        "rsa",
        client_kw={"versions": (V.TLSv1_0,), "cipher_suites": (CBC,), "fallback_scsv": True},
        server_kw={"versions": EVERY_VERSION, "cipher_suites": (CBC,)},
    )
    client.start()
    sev = server.receive_data(client.data_to_send())
    assert of_type(sev, events.AlertSent) == [
        events.AlertSent(AlertLevel.fatal, AlertDescription.inappropriate_fallback)
    ]


def test_fallback_scsv_at_the_servers_best_is_fine() -> None:
    client, server = make_pair(
        "rsa",
        client_kw={"versions": (V.TLSv1_1,), "cipher_suites": (CBC,), "fallback_scsv": True},
        server_kw={"versions": (V.TLSv1_1, V.TLSv1_0), "cipher_suites": (CBC,)},
    )
    client.start()
    cev, _ = pump(client, server)
    assert of_type(cev, events.HandshakeComplete)[0].version == V.TLSv1_1


def test_a_tls10_only_server_answers_tls10_and_a_modern_client_refuses() -> None:
    client, server = make_pair(
        "rsa",
        client_kw={
            "versions": (V.TLSv1_3, V.TLSv1_2),
            "cipher_suites": (CipherSuite.TLS_AES_128_GCM_SHA256, CBC),
        },
        server_kw={"versions": (V.TLSv1_0,), "cipher_suites": (CBC,)},
    )
    client.start()
    sev = server.receive_data(client.data_to_send())
    hello = next(
        e for e in sev if isinstance(e, events.HandshakeMessageSent) and e.name == "ServerHello"
    )
    assert hello.fields["selected_version"] == "TLSv1.0"
    cev = client.receive_data(server.data_to_send())
    assert of_type(cev, events.AlertSent) == [
        events.AlertSent(AlertLevel.fatal, AlertDescription.protocol_version)
    ]


def test_cbc_suites_are_never_offered_nor_accepted_by_default() -> None:
    """The defaults on both sides: AEAD only, TLS 1.2 at least."""
    client, server = make_pair("rsa", server_kw={"cipher_suites": (CBC,)})
    client.start()
    record = client.data_to_send()
    hello = ClientHello.parse(record[9:])
    assert CBC not in hello.cipher_suites
    assert ExtensionType.encrypt_then_mac not in {e.type for e in hello.extensions}
    sev = server.receive_data(record)
    assert of_type(sev, events.AlertSent) == [
        events.AlertSent(AlertLevel.fatal, AlertDescription.handshake_failure)
    ]


def test_a_default_server_refuses_cbc_and_tls10() -> None:
    client, server = make_pair("rsa", client_kw={"versions": (V.TLSv1_2,), "cipher_suites": (CBC,)})
    client.start()
    sev = server.receive_data(client.data_to_send())
    assert of_type(sev, events.AlertSent) == [
        events.AlertSent(AlertLevel.fatal, AlertDescription.handshake_failure)
    ]
    client, server = make_pair("rsa", client_kw={"versions": (V.TLSv1_0,), "cipher_suites": (CBC,)})
    client.start()
    sev = server.receive_data(client.data_to_send())
    assert of_type(sev, events.AlertSent) == [
        events.AlertSent(AlertLevel.fatal, AlertDescription.protocol_version)
    ]


def test_below_tls12_a_required_client_certificate_fails_and_an_optional_one_is_not_asked() -> None:
    for required, alert in ((True, AlertDescription.handshake_failure), (False, None)):
        client, server = make_pair(
            "rsa",
            client_kw={"versions": (V.TLSv1_0,), "cipher_suites": (CBC,)},
            server_kw={
                "versions": (V.TLSv1_0,),
                "cipher_suites": (CBC,),
                "client_auth": lambda sni, required=required: ClientAuth(required=required),
            },
        )
        client.start()
        cev, sev = pump(client, server)
        if alert is None:
            assert of_type(cev, events.HandshakeComplete)
            assert "CertificateRequest" not in [
                e.name for e in sev if isinstance(e, events.HandshakeMessageSent)
            ]
        else:
            assert of_type(sev, events.AlertSent) == [events.AlertSent(AlertLevel.fatal, alert)]
