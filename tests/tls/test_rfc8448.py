"""RFC 8448 section 3 (Simple 1-RTT Handshake), byte for byte.

https://www.rfc-editor.org/rfc/rfc8448#section-3 ; values in tests/vectors.
The engine draws randomness from ``config.entropy``; the tests below replay the RFC's
randoms and X25519 private keys through ``queue_entropy`` in the documented order
(server: ServerHello.random, then the key share seed; client: ClientHello.random, then
one seed per key share group when compatibility_mode is off).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import x25519

from tlssim.tls import (
    AlertDescription,
    CipherSuite,
    ClientConfig,
    ClientConnection,
    ContentType,
    NamedGroup,
    ServerConfig,
    ServerConnection,
    events,
)
from tlssim.tls.extensions import decode_client_key_shares, index_extensions
from tlssim.tls.keyschedule import (
    TLS13_SUITES,
    KeySchedule,
    finished_verify_data,
    hkdf_expand_label,
    traffic_key_iv,
)
from tlssim.tls.messages import Certificate, CertificateVerify, ClientHello, Finished
from tlssim.tls.record import RecordLayer, RecordProtection
from tlssim.tls.signatures import SERVER_CONTEXT, signed_content, verify

from .tlshelpers import pki, queue_entropy, selector_for

V = {
    k: (bytes.fromhex(v) if all(c in "0123456789abcdef" for c in v) else v)
    for k, v in json.loads(
        (Path(__file__).parents[1] / "vectors" / "rfc8448_simple_1rtt.json").read_text()
    ).items()
}
PARAMS = TLS13_SUITES[CipherSuite.TLS_AES_128_GCM_SHA256]


def h(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def test_key_schedule_every_value() -> None:
    shared = x25519.X25519PrivateKey.from_private_bytes(V["client_x25519_private"]).exchange(
        x25519.X25519PublicKey.from_public_bytes(V["server_x25519_public"])
    )
    assert shared == V["shared_secret"]
    ks = KeySchedule(PARAMS)
    assert ks.secret == V["early_secret"]
    assert h() == V["empty_hash"]
    assert ks.derive(b"derived", h()) == V["derived_for_handshake"]
    ks.enter_handshake(shared)
    assert ks.secret == V["handshake_secret"]

    th = h(V["client_hello"], V["server_hello"])
    assert th == V["transcript_hash_ch_sh"]
    c_hs, s_hs = ks.derive(b"c hs traffic", th), ks.derive(b"s hs traffic", th)
    assert c_hs == V["client_handshake_traffic_secret"]
    assert s_hs == V["server_handshake_traffic_secret"]
    assert traffic_key_iv(PARAMS, c_hs) == (V["client_handshake_key"], V["client_handshake_iv"])
    assert traffic_key_iv(PARAMS, s_hs) == (V["server_handshake_key"], V["server_handshake_iv"])
    assert (
        hkdf_expand_label(PARAMS, c_hs, b"finished", b"", 32) == V["client_handshake_finished_key"]
    )
    assert (
        hkdf_expand_label(PARAMS, s_hs, b"finished", b"", 32) == V["server_handshake_finished_key"]
    )

    flight = V["encrypted_extensions"] + V["certificate"] + V["certificate_verify"]
    th_cv = h(V["client_hello"], V["server_hello"], flight)
    assert th_cv == V["transcript_hash_through_certificate_verify"]
    server_vd = finished_verify_data(PARAMS, s_hs, th_cv)
    assert server_vd == V["server_finished_verify_data"]
    assert Finished(verify_data=server_vd).serialize() == V["server_finished"]

    th_sf = h(V["client_hello"], V["server_hello"], flight, V["server_finished"])
    assert th_sf == V["transcript_hash_through_server_finished"]
    assert ks.derive(b"derived", h()) == V["derived_for_master"]
    ks.enter_master()
    assert ks.secret == V["master_secret"]
    c_ap, s_ap = ks.derive(b"c ap traffic", th_sf), ks.derive(b"s ap traffic", th_sf)
    assert c_ap == V["client_application_traffic_secret_0"]
    assert s_ap == V["server_application_traffic_secret_0"]
    assert ks.derive(b"exp master", th_sf) == V["exporter_master_secret"]
    assert traffic_key_iv(PARAMS, c_ap) == (
        V["client_application_key"],
        V["client_application_iv"],
    )
    assert traffic_key_iv(PARAMS, s_ap) == (
        V["server_application_key"],
        V["server_application_iv"],
    )
    client_vd = finished_verify_data(PARAMS, c_hs, th_sf)
    assert client_vd == V["client_finished_verify_data"]
    assert Finished(verify_data=client_vd).serialize() == V["client_finished"]
    th_cf = h(V["client_hello"], V["server_hello"], flight, V["server_finished"])
    th_cf = h(
        V["client_hello"], V["server_hello"], flight, V["server_finished"], V["client_finished"]
    )
    assert ks.derive(b"res master", th_cf) == V["resumption_master_secret"]


def test_record_protection_matches_rfc_records() -> None:
    c_hs = V["client_handshake_traffic_secret"]
    assert (
        RecordProtection(PARAMS, c_hs).seal(ContentType.handshake, V["client_finished"])
        == V["client_finished_record"]
    )
    c_ap = V["client_application_traffic_secret_0"]
    plaintext = V["client_application_data_plaintext"]
    assert plaintext[-1] == ContentType.application_data
    assert (
        RecordProtection(PARAMS, c_ap).seal(ContentType.application_data, plaintext[:-1])
        == V["client_application_data_record"]
    )
    # and the other way: the record layer decrypts and recovers the content type
    layer = RecordLayer()
    layer.read_protection = RecordProtection(PARAMS, c_ap)
    layer.feed(V["client_application_data_record"])
    assert layer.next_record() == (ContentType.application_data, plaintext[:-1])
    # server close_notify: third server application record (after a ticket and data)
    server = RecordProtection(PARAMS, V["server_application_traffic_secret_0"])
    server.seq = 2
    rec = V["server_close_notify_record"]
    assert server.open(rec[:5], rec[5:]) == (ContentType.alert, bytes([1, 0]))
    assert V["server_close_notify_plaintext"] == bytes([1, AlertDescription.close_notify, 21])


def test_rfc_certificate_verify_signature_verifies() -> None:
    cert = Certificate.parse(V["certificate"][4:])
    cv = CertificateVerify.parse(V["certificate_verify"][4:])
    assert cert.serialize() == V["certificate"] and cv.serialize() == V["certificate_verify"]
    key = x509.load_der_x509_certificate(cert.entries[0].cert_data).public_key()
    th = h(V["client_hello"], V["server_hello"], V["encrypted_extensions"], V["certificate"])
    verify(key, cv.algorithm, cv.signature, signed_content(SERVER_CONTEXT, th))  # type: ignore[arg-type]
    with pytest.raises(Exception, match="does not verify"):
        verify(key, cv.algorithm, cv.signature, signed_content(SERVER_CONTEXT, bytes(32)))  # type: ignore[arg-type]


def test_client_hello_roundtrip() -> None:
    ch = ClientHello.parse(V["client_hello"][4:])
    assert ch.serialize() == V["client_hello"]


def test_server_connection_reproduces_server_hello_and_handshake_secrets() -> None:
    """A real ServerConnection fed the RFC ClientHello emits the RFC ServerHello bytes."""
    server_random = V["server_hello"][6:38]
    server = ServerConnection(
        ServerConfig(
            entropy=queue_entropy(server_random, V["server_x25519_private"]),
            certificate_selector=selector_for(pki().keys["ecdsa"]),
        )
    )
    evs = server.receive_data(V["client_hello_record"])
    out = server.data_to_send()
    assert out.startswith(V["server_hello_record"])
    secrets = {e.label: e for e in evs if isinstance(e, events.SecretDerived)}
    assert secrets["CLIENT_HANDSHAKE_TRAFFIC_SECRET"].secret == V["client_handshake_traffic_secret"]
    assert secrets["SERVER_HANDSHAKE_TRAFFIC_SECRET"].secret == V["server_handshake_traffic_secret"]
    assert secrets["CLIENT_HANDSHAKE_TRAFFIC_SECRET"].client_random == V["client_hello"][6:38]
    sh = next(e for e in evs if isinstance(e, events.HandshakeMessageSent))
    assert sh.name == "ServerHello" and sh.size == len(V["server_hello"])
    assert sh.fields["cipher_suite"] == "TLS_AES_128_GCM_SHA256"
    assert sh.fields["key_share"] == "x25519"
    # the encrypted flight that follows decrypts with the RFC server handshake key
    layer = RecordLayer()
    layer.feed(out[len(V["server_hello_record"]) :])
    layer.read_protection = RecordProtection(PARAMS, V["server_handshake_traffic_secret"])
    content_type, flight = layer.next_record()  # type: ignore[misc]
    assert content_type == ContentType.handshake and flight[0] == 8  # EncryptedExtensions


def test_client_connection_uses_rfc_random_and_key_share() -> None:
    client_random = V["client_hello"][6:38]
    client = ClientConnection(
        ClientConfig(
            server_name="server",
            entropy=queue_entropy(client_random, V["client_x25519_private"]),
            compatibility_mode=False,
            supported_groups=(NamedGroup.x25519, NamedGroup.secp256r1),
            key_share_groups=(NamedGroup.x25519,),
            cipher_suites=(
                CipherSuite.TLS_AES_128_GCM_SHA256,
                CipherSuite.TLS_CHACHA20_POLY1305_SHA256,
                CipherSuite.TLS_AES_256_GCM_SHA384,
            ),
        )
    )
    client.start()
    record = client.data_to_send()
    assert record[:3] == bytes.fromhex("160301")
    ch = ClientHello.parse(record[9:])
    assert ch.random == client_random and ch.legacy_session_id == b""
    assert ch.cipher_suites == (0x1301, 0x1303, 0x1302)
    shares = decode_client_key_shares(index_extensions(ch.extensions)[51])
    assert shares == ((0x001D, V["client_x25519_public"]),)
