"""Our client as a strict peer: a scripted hostile server, one case per rule.

Each case builds what a misbehaving server sends (from a real ServerConnection's flight,
rewritten with the engine's message types and resealed under its keys, see ``hostile``)
and names the RFC clause that says which alert our client must send. The client must
detect it itself: ``error.sent_by_peer`` is False and the last event before closing is
our ``AlertSent``. The unexpected-message matrix walks every state of both client
transition tables with every message those tables do not take there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tlssim.tls import (
    AlertDescription,
    AlertLevel,
    CipherSuite,
    ExtensionType,
    HandshakeType,
    NamedGroup,
    ProtocolVersion,
    SignatureScheme,
    Truncated,
    events,
)
from tlssim.tls.constants import (
    DOWNGRADE_TLS11,
    DOWNGRADE_TLS12,
    MAX_EMPTY_RECORDS,
    MAX_KEY_UPDATES,
    KeyUpdateRequest,
)
from tlssim.tls.extensions import Extension, encode_uint16
from tlssim.tls.messages import (
    Certificate,
    CertificateVerify,
    EncryptedExtensions,
    Finished,
    KeyUpdate,
    frame,
)

from .hostile import (
    APPLICATION_DATA,
    CCS_RECORD,
    HANDSHAKE,
    ONLY_P256,
    Outcome,
    Server12,
    Server13,
    assert_client_sent,
    edit_server_hello,
    feed,
    record,
    server_hello_extensions,
)
from .tlshelpers import of_type

A = AlertDescription
BOTH = (ProtocolVersion.TLSv1_3, ProtocolVersion.TLSv1_2)
P256_FIRST = {"supported_groups": (NamedGroup.secp256r1, NamedGroup.x25519)}


@dataclass(frozen=True)
class Case:
    name: str
    clause: str
    alert: AlertDescription
    run: Callable[[], Outcome]


# -- ServerHello and HelloRetryRequest --------------------------------------------------------


def _sh_edit(**changes: object) -> Outcome:
    s = Server13()
    return s.client, s.send(s.flight([edit_server_hello(s.messages[0], **changes)]))


def _sh_extensions(extra: tuple[Extension, ...], keep: bool = True) -> Outcome:
    s = Server13()
    exts = server_hello_extensions(s.messages[0])
    return _sh_edit_with(s, (exts if keep else ()) + extra)


def _sh_edit_with(s: Server13, exts: tuple[Extension, ...]) -> Outcome:
    return s.client, s.send(s.flight([edit_server_hello(s.messages[0], extensions=exts)]))


def _sh_replace_extension(etype: int, body: bytes) -> Outcome:
    s = Server13()
    exts = tuple(
        Extension(e.type, body if e.type == etype else e.data)
        for e in server_hello_extensions(s.messages[0])
    )
    return _sh_edit_with(s, exts)


def _hrr(**changes: object) -> Outcome:
    s = Server13(server_kw=ONLY_P256)
    assert s.hrr is not None
    return s.client, s.retry(edit_server_hello(s.hrr, **changes) if changes else None)


def _hrr_extensions(exts: tuple[Extension, ...]) -> Outcome:
    return _hrr(extensions=(Extension(ExtensionType.supported_versions, b"\x03\x04"), *exts))


def _second_hrr() -> Outcome:
    s = Server13(server_kw=ONLY_P256)
    assert s.hrr is not None
    hrr = s.hrr
    evs = s.retry()
    return s.client, evs + s.send(record(HANDSHAKE, hrr))


def _suite_changed_after_hrr() -> Outcome:
    s = Server13(server_kw=ONLY_P256)
    s.retry()
    sh = edit_server_hello(s.messages[0], cipher_suite=CipherSuite.TLS_AES_256_GCM_SHA384)
    return s.client, s.send(s.flight([sh]))


def _tls12_server_hello(client_kw: dict[str, object], random_tail: bytes | None = None) -> Outcome:
    s = Server12(client_kw=client_kw)
    sh = s.messages[0]
    if random_tail is not None:
        raw = sh[6:38]
        sh = edit_server_hello(sh, random=raw[:24] + random_tail)
    return s.client, s.send(s.flight([sh, *s.messages[1:]]))


def _tls12_hello_to_tls13_client() -> Outcome:
    tls12 = Server12()
    client = Server13().client  # offers TLS 1.3 only
    return client, feed(client, record(HANDSHAKE, tls12.messages[0]))


def _tls12_sh_edit(**changes: object) -> Outcome:
    s = Server12()
    return s.client, s.send(s.flight([edit_server_hello(s.messages[0], **changes)]))


# -- the encrypted flight ----------------------------------------------------------------------


def _ee(exts: tuple[Extension, ...]) -> Outcome:
    s = Server13()
    ee = EncryptedExtensions(extensions=exts).serialize()
    return s.client, s.send(s.flight([s.messages[0], ee, *s.messages[2:]]))


def _replace(index: int, message: bytes, server_kw: dict[str, object] | None = None) -> Outcome:
    s = Server13(server_kw=server_kw)
    messages = list(s.messages)
    messages[index] = message
    return s.client, s.send(s.flight(messages))


def _cv(algorithm: int, signature: bytes | None = None, kind: str = "ecdsa") -> Outcome:
    s = Server13(kind=kind)
    cv = CertificateVerify.parse(s.messages[3][4:])
    forged = CertificateVerify(algorithm=algorithm, signature=signature or cv.signature)
    return _replace_in(s, 3, forged.serialize())


def _replace_in(s: Server13, index: int, message: bytes) -> Outcome:
    messages = list(s.messages)
    messages[index] = message
    return s.client, s.send(s.flight(messages))


def _finished(verify_data: bytes) -> Outcome:
    s = Server13()
    return _replace_in(s, 4, Finished(verify_data=verify_data).serialize())


def _tls12_finished(verify_data: bytes) -> Outcome:
    s = Server12()
    evs = s.finish()
    return s.client, evs + s.send(CCS_RECORD + s.seal(frame(HandshakeType.finished, verify_data)))


def _tampered_record() -> Outcome:
    s = Server13()
    sealed = bytearray(s.seal(b"".join(s.messages[1:])))
    sealed[-1] ^= 1
    return s.client, s.send(record(HANDSHAKE, s.messages[0]) + bytes(sealed))


# -- the record layer -------------------------------------------------------------------------


def _oversized_plaintext_record() -> Outcome:
    s = Server13()
    sh = s.messages[0]
    return s.client, s.send(record(HANDSHAKE, sh + bytes(2**14 + 1 - len(sh))))


def _oversized_ciphertext() -> Outcome:
    s = Server13()
    return s.client, s.send(record(HANDSHAKE, s.messages[0]) + record(23, bytes(2**14 + 257)))


def _oversized_inner_plaintext() -> Outcome:
    s = Server13()
    body = s.messages[1] + bytes(2**14 + 1 - len(s.messages[1]))
    return s.client, s.send(record(HANDSHAKE, s.messages[0]) + s.seal(body))


def _tls12_oversized_ciphertext() -> Outcome:
    s = Server12()
    evs = s.finish()
    return s.client, evs + s.send(CCS_RECORD + record(HANDSHAKE, bytes(2**14 + 2049)))


def _tls12_oversized_plaintext() -> Outcome:
    s = Server12()
    evs = s.connect()
    return s.client, evs + s.send(s.seal(bytes(2**14 + 1), APPLICATION_DATA))


def _unknown_record_type() -> Outcome:
    s = Server13()
    return s.client, s.send(record(99, b"\x00"))


def _protected_without_content_type() -> Outcome:
    s = Server13()
    return s.client, s.send(record(HANDSHAKE, s.messages[0]) + s.seal(b"", content_type=0))


def _empty_protected_handshake() -> Outcome:
    s = Server13()
    return s.client, s.send(record(HANDSHAKE, s.messages[0]) + s.seal(b""))


def _straddling_key_change() -> Outcome:
    s = Server13()
    return s.client, s.send(record(HANDSHAKE, s.messages[0] + s.messages[1]))


def _plaintext_after_keys() -> Outcome:
    s = Server13()
    return s.client, s.send(record(HANDSHAKE, s.messages[0]) + record(HANDSHAKE, s.messages[1]))


def _application_data_in_handshake() -> Outcome:
    s = Server13()
    return s.client, s.send(
        record(HANDSHAKE, s.messages[0]) + s.seal(b"early", content_type=APPLICATION_DATA)
    )


# -- after the handshake ----------------------------------------------------------------------


def _post_handshake(payloads: list[tuple[int, bytes]]) -> Outcome:
    s = Server13()
    evs = s.connect()
    return s.client, evs + s.send(b"".join(s.seal_app(p, t) for t, p in payloads))


KEY_UPDATE = KeyUpdate(request_update=KeyUpdateRequest.update_requested).serialize()


CASES = [
    # ServerHello (RFC 8446 4.1.3, 4.2)
    Case(
        "ServerHello selects a suite we did not offer",
        "RFC 8446 4.1.3",
        A.illegal_parameter,
        lambda: _sh_edit(cipher_suite=0x1305),
    ),
    Case(
        "ServerHello selects a TLS 1.2 suite for TLS 1.3",
        "RFC 8446 4.1.3",
        A.illegal_parameter,
        lambda: _sh_edit(cipher_suite=CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
    ),
    Case(
        "ServerHello key share for a group we did not offer",
        "RFC 8446 4.2.8",
        A.illegal_parameter,
        lambda: _sh_replace_extension(
            ExtensionType.key_share, encode_uint16(NamedGroup.secp384r1) + b"\x00\x01\x04"
        ),
    ),
    Case(
        "ServerHello key share for a group we support but sent no share for",
        "RFC 8446 4.2.8",
        A.illegal_parameter,
        lambda: _sh_replace_extension(
            ExtensionType.key_share, encode_uint16(NamedGroup.secp256r1) + b"\x00\x01\x04"
        ),
    ),
    Case(
        "ServerHello selects a version we did not offer (TLS 1.4)",
        "RFC 8446 4.2.1",
        A.illegal_parameter,
        lambda: _sh_replace_extension(ExtensionType.supported_versions, b"\x03\x05"),
    ),
    Case(
        "ServerHello supported_versions names TLS 1.2",
        "RFC 8446 4.2.1",
        A.illegal_parameter,
        lambda: _sh_replace_extension(ExtensionType.supported_versions, b"\x03\x03"),
    ),
    Case(
        "TLS 1.2 ServerHello to a TLS 1.3-only client",
        "RFC 8446 4.2.1, D.1",
        A.protocol_version,
        lambda: _tls12_hello_to_tls13_client(),
    ),
    Case(
        "ServerHello legacy_session_id_echo differs",
        "RFC 8446 4.1.3",
        A.illegal_parameter,
        lambda: _sh_edit(legacy_session_id_echo=b"\x01" * 32),
    ),
    Case(
        "ServerHello with an unknown extension",
        "RFC 8446 4.2",
        A.unsupported_extension,
        lambda: _sh_extensions((Extension(0xFEFE, b""),)),
    ),
    Case(
        "ServerHello answers an extension we did not send (pre_shared_key)",
        "RFC 8446 4.2",
        A.unsupported_extension,
        lambda: _sh_extensions((Extension(ExtensionType.pre_shared_key, b"\x00\x00"),)),
    ),
    Case(
        "ServerHello with a duplicate extension",
        "RFC 8446 4.2",
        A.illegal_parameter,
        lambda: _sh_extensions((Extension(ExtensionType.supported_versions, b"\x03\x04"),)),
    ),
    Case(
        "a second HelloRetryRequest",
        "RFC 8446 4.1.4",
        A.unexpected_message,
        _second_hrr,
    ),
    Case(
        "HelloRetryRequest asking for the share we already sent",
        "RFC 8446 4.1.4",
        A.illegal_parameter,
        lambda: _hrr_extensions(
            (Extension(ExtensionType.key_share, encode_uint16(NamedGroup.x25519)),)
        ),
    ),
    Case(
        "HelloRetryRequest with neither key_share nor cookie",
        "RFC 8446 4.1.4",
        A.illegal_parameter,
        lambda: _hrr_extensions(()),
    ),
    Case(
        "HelloRetryRequest selects a group we did not offer",
        "RFC 8446 4.2.8",
        A.illegal_parameter,
        lambda: _hrr_extensions(
            (Extension(ExtensionType.key_share, encode_uint16(NamedGroup.secp384r1)),)
        ),
    ),
    Case(
        "HelloRetryRequest selects a suite we did not offer",
        "RFC 8446 4.1.4",
        A.illegal_parameter,
        lambda: _hrr(cipher_suite=0x1305),
    ),
    Case(
        "HelloRetryRequest with an unknown extension",
        "RFC 8446 4.1.4, 4.2",
        A.unsupported_extension,
        lambda: _hrr_extensions(
            (
                Extension(ExtensionType.key_share, encode_uint16(NamedGroup.secp256r1)),
                Extension(0xFEFE, b""),
            )
        ),
    ),
    Case(
        "ServerHello after HelloRetryRequest changes the suite",
        "RFC 8446 4.1.4",
        A.illegal_parameter,
        _suite_changed_after_hrr,
    ),
    Case(
        "TLS 1.2 ServerHello with the TLS 1.3 downgrade sentinel DOWNGRD\\x01",
        "RFC 8446 4.1.3",
        A.illegal_parameter,
        lambda: _tls12_server_hello({"versions": BOTH}, DOWNGRADE_TLS12),
    ),
    Case(
        "TLS 1.2 ServerHello with the TLS 1.1 downgrade sentinel DOWNGRD\\x00",
        "RFC 8446 4.1.3",
        A.illegal_parameter,
        lambda: _tls12_server_hello({"versions": BOTH}, DOWNGRADE_TLS11),
    ),
    Case(
        "TLS 1.2 ServerHello selects a suite we did not offer",
        "RFC 5246 7.4.1.3",
        A.illegal_parameter,
        lambda: _tls12_sh_edit(cipher_suite=0x009E),
    ),
    Case(
        "TLS 1.2 ServerHello with an unknown extension",
        "RFC 5246 7.4.1.4",
        A.unsupported_extension,
        lambda: _tls12_sh_edit(extensions=(Extension(0xFEFE, b""),)),
    ),
    Case(
        "TLS 1.2 ServerHello with a duplicate extension",
        "RFC 5246 7.4.1.4",
        A.illegal_parameter,
        lambda: _tls12_sh_edit(
            extensions=(
                Extension(ExtensionType.extended_master_secret, b""),
                Extension(ExtensionType.extended_master_secret, b""),
            )
        ),
    ),
    # EncryptedExtensions (4.3.1, 4.2)
    Case(
        "EncryptedExtensions with an unknown extension",
        "RFC 8446 4.2",
        A.unsupported_extension,
        lambda: _ee((Extension(0xFEFE, b""),)),
    ),
    Case(
        "EncryptedExtensions with a duplicate extension",
        "RFC 8446 4.2",
        A.illegal_parameter,
        lambda: _ee(
            (Extension(ExtensionType.server_name, b""), Extension(ExtensionType.server_name, b""))
        ),
    ),
    Case(
        "EncryptedExtensions with key_share (not allowed there)",
        "RFC 8446 4.2",
        A.illegal_parameter,
        lambda: _ee((Extension(ExtensionType.key_share, b"\x00\x1d\x00\x01\x01"),)),
    ),
    Case(
        "EncryptedExtensions with a TLS 1.2 extension we sent (extended_master_secret)",
        "RFC 8446 4.2",
        A.illegal_parameter,
        lambda: _ee_after({"versions": BOTH}, (Extension(23, b""),)),
    ),
    Case(
        "EncryptedExtensions with a malformed supported_groups",
        "RFC 8446 4.2.7",
        A.decode_error,
        lambda: _ee((Extension(ExtensionType.supported_groups, b"\x00\x03\x00\x17\x00"),)),
    ),
    # Certificate, CertificateVerify, Finished
    Case(
        "Certificate with an empty certificate_list",
        "RFC 8446 4.4.2.4",
        A.decode_error,
        lambda: _replace(2, Certificate(entries=()).serialize()),
    ),
    Case(
        "Certificate with a request context",
        "RFC 8446 4.4.2",
        A.illegal_parameter,
        lambda: _certificate_with_context(),
    ),
    Case(
        "CertificateVerify with a scheme we did not offer",
        "RFC 8446 4.4.3, 4.2.3",
        A.illegal_parameter,
        lambda: _cv(SignatureScheme.ecdsa_secp521r1_sha512),
    ),
    Case(
        "CertificateVerify with PKCS#1 v1.5 (never in TLS 1.3)",
        "RFC 8446 4.2.3",
        A.illegal_parameter,
        lambda: _cv(SignatureScheme.rsa_pkcs1_sha256, kind="rsa"),
    ),
    Case(
        "CertificateVerify with a scheme that does not fit the key",
        "RFC 8446 4.4.3",
        A.illegal_parameter,
        lambda: _cv(SignatureScheme.rsa_pss_rsae_sha256),
    ),
    Case(
        "CertificateVerify whose signature does not verify",
        "RFC 8446 4.4.3",
        A.decrypt_error,
        lambda: _cv(SignatureScheme.ecdsa_secp256r1_sha256, b"\x30\x06\x02\x01\x01\x02\x01\x01"),
    ),
    Case(
        "Finished too short (31 bytes under SHA-256)",
        "RFC 8446 4.4.4",
        A.decode_error,
        lambda: _finished(bytes(31)),
    ),
    Case(
        "Finished empty",
        "RFC 8446 4.4.4",
        A.decode_error,
        lambda: _finished(b""),
    ),
    Case(
        "Finished that does not verify",
        "RFC 8446 4.4.4",
        A.decrypt_error,
        lambda: _finished(bytes(32)),
    ),
    Case(
        "TLS 1.2 Finished too short (11 bytes)",
        "RFC 5246 7.4.9",
        A.decode_error,
        lambda: _tls12_finished(bytes(11)),
    ),
    Case(
        "TLS 1.2 Finished that does not verify",
        "RFC 5246 7.4.9",
        A.decrypt_error,
        lambda: _tls12_finished(bytes(12)),
    ),
    # the record layer
    Case(
        "a plaintext record over 2^14 bytes",
        "RFC 8446 5.1",
        A.record_overflow,
        _oversized_plaintext_record,
    ),
    Case(
        "a protected record over 2^14 + 256 bytes",
        "RFC 8446 5.2",
        A.record_overflow,
        _oversized_ciphertext,
    ),
    Case(
        "a protected record whose plaintext is over 2^14 bytes",
        "RFC 8446 5.2, 5.4",
        A.record_overflow,
        _oversized_inner_plaintext,
    ),
    Case(
        "TLS 1.2: a protected record over 2^14 + 2048 bytes",
        "RFC 5246 6.2.3",
        A.record_overflow,
        _tls12_oversized_ciphertext,
    ),
    Case(
        "TLS 1.2: a protected record whose plaintext is over 2^14 bytes",
        "RFC 5246 6.2.3",
        A.record_overflow,
        _tls12_oversized_plaintext,
    ),
    Case(
        "a record that does not authenticate",
        "RFC 8446 5.2",
        A.bad_record_mac,
        _tampered_record,
    ),
    Case(
        "a record of an unknown content type",
        "RFC 8446 5",
        A.unexpected_message,
        _unknown_record_type,
    ),
    Case(
        "a protected record with no content type (all padding)",
        "RFC 8446 5.4",
        A.unexpected_message,
        _protected_without_content_type,
    ),
    Case(
        "a protected handshake record of zero length",
        "RFC 8446 5.4",
        A.unexpected_message,
        _empty_protected_handshake,
    ),
    Case(
        "a handshake message straddling the key change",
        "RFC 8446 5.1",
        A.unexpected_message,
        _straddling_key_change,
    ),
    Case(
        "a plaintext handshake record after the key change",
        "RFC 8446 5",
        A.unexpected_message,
        _plaintext_after_keys,
    ),
    Case(
        "application data before the handshake completed",
        "RFC 8446 5",
        A.unexpected_message,
        _application_data_in_handshake,
    ),
    # after the handshake
    Case(
        "KeyUpdate with an unknown request_update value",
        "RFC 8446 4.6.3",
        A.illegal_parameter,
        lambda: _post_handshake([(HANDSHAKE, frame(HandshakeType.key_update, b"\x02"))]),
    ),
    Case(
        "a KeyUpdate flood (more than 32 without application data)",
        "RFC 8446 4.6.3 (bound as BoringSSL's)",
        A.unexpected_message,
        lambda: _key_update_flood_outcome(),
    ),
    Case(
        "a flood of zero-length application data records (more than 32 in a row)",
        "RFC 8446 5.1 (bound as BoringSSL's)",
        A.unexpected_message,
        lambda: _post_handshake([(APPLICATION_DATA, b"")] * (MAX_EMPTY_RECORDS + 1)),
    ),
    Case(
        "CertificateRequest without post_handshake_auth",
        "RFC 8446 4.6.2",
        A.unexpected_message,
        lambda: _post_handshake(
            [(HANDSHAKE, frame(HandshakeType.certificate_request, b"\x00\x00\x00"))]
        ),
    ),
    Case(
        "change_cipher_spec after the handshake",
        "RFC 8446 5",
        A.unexpected_message,
        lambda: _after_connect(CCS_RECORD),
    ),
]


def _ee_after(client_kw: dict[str, object], exts: tuple[Extension, ...]) -> Outcome:
    s = Server13(client_kw=client_kw)
    ee = EncryptedExtensions(extensions=exts).serialize()
    return s.client, s.send(s.flight([s.messages[0], ee, *s.messages[2:]]))


def _certificate_with_context() -> Outcome:
    s = Server13()
    cert = Certificate.parse(s.messages[2][4:])
    forged = Certificate(request_context=b"\x01", entries=cert.entries)
    return _replace_in(s, 2, forged.serialize())


def _after_connect(data: bytes) -> Outcome:
    s = Server13()
    evs = s.connect()
    return s.client, evs + s.send(data)


def _key_update_flood_outcome() -> Outcome:
    s = Server13()
    evs = s.connect()
    sealed = s.seal_app(KEY_UPDATE, HANDSHAKE)
    evs += s.send(sealed)
    for _ in range(MAX_KEY_UPDATES):
        s.next_app_key()
        evs += s.send(s.seal_app(KEY_UPDATE, HANDSHAKE))
    return s.client, evs


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_server(case: Case) -> None:
    assert_client_sent(case.run(), case.alert)


# -- what is not an error ------------------------------------------------------------------


def test_zero_length_application_data_records_are_accepted() -> None:
    """RFC 8446 5.1: zero-length application data MAY be sent (traffic analysis)."""
    client, evs = _post_handshake(
        [(APPLICATION_DATA, b"")] * MAX_EMPTY_RECORDS + [(APPLICATION_DATA, b"data")]
    )
    assert client.error is None and not of_type(evs, events.AlertSent)
    assert [e.data for e in of_type(evs, events.ApplicationDataReceived)] == [b"data"]


def test_key_updates_while_silent_get_one_reply() -> None:
    """RFC 8446 4.6.3: several update_requested while we are silent get a single update."""
    s = Server13()
    evs = s.connect()
    for _ in range(5):
        evs += s.send(s.seal_app(KEY_UPDATE, HANDSHAKE))
        s.next_app_key()
    sent = [e for e in of_type(evs, events.HandshakeMessageSent) if e.name == "KeyUpdate"]
    assert len(sent) == 1 and s.client.error is None
    s.client.send_application_data(b"hello")
    evs = s.send(s.seal_app(KEY_UPDATE, HANDSHAKE))
    sent = [e for e in of_type(evs, events.HandshakeMessageSent) if e.name == "KeyUpdate"]
    assert len(sent) == 1  # we spoke since: a new request gets a new reply


def test_truncation_without_close_notify_after_the_handshake() -> None:
    """RFC 8446 6.1: EOF with no close_notify may hide a cut; we close our side and say so."""
    s = Server13()
    s.connect()
    evs = s.send(b"")
    assert of_type(evs, events.AlertSent) == [
        events.AlertSent(AlertLevel.warning, AlertDescription.close_notify)
    ]
    assert isinstance(s.client.error, Truncated) and not s.client.error.sent_by_peer
    assert evs[-1] == events.ConnectionClosed(s.client.error)


def test_truncation_mid_record_is_decode_error() -> None:
    s = Server13()
    evs = s.send(record(HANDSHAKE, s.messages[0])[:20]) + s.send(b"")
    assert_client_sent((s.client, evs), A.decode_error)


def test_eof_after_our_close_notify_is_a_clean_close() -> None:
    s = Server13()
    s.connect()
    s.client.close()
    evs = s.send(b"")
    assert s.client.error is None and evs == [events.ConnectionClosed()]
