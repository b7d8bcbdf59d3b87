"""Protocol code points, named as in RFC 8446 / RFC 5246 and the IANA registries."""

from __future__ import annotations

import hashlib
from enum import IntEnum
from typing import TypeVar, cast


class ContentType(IntEnum):
    invalid = 0
    change_cipher_spec = 20
    alert = 21
    handshake = 22
    application_data = 23


class HandshakeType(IntEnum):
    hello_request = 0
    client_hello = 1
    server_hello = 2
    new_session_ticket = 4
    end_of_early_data = 5
    encrypted_extensions = 8
    certificate = 11
    server_key_exchange = 12
    certificate_request = 13
    server_hello_done = 14
    certificate_verify = 15
    client_key_exchange = 16
    finished = 20
    certificate_status = 22
    key_update = 24
    message_hash = 254


class AlertLevel(IntEnum):
    warning = 1
    fatal = 2


class AlertDescription(IntEnum):
    close_notify = 0
    unexpected_message = 10
    bad_record_mac = 20
    record_overflow = 22
    handshake_failure = 40
    bad_certificate = 42
    unsupported_certificate = 43
    certificate_revoked = 44
    certificate_expired = 45
    certificate_unknown = 46
    illegal_parameter = 47
    unknown_ca = 48
    access_denied = 49
    decode_error = 50
    decrypt_error = 51
    protocol_version = 70
    insufficient_security = 71
    internal_error = 80
    inappropriate_fallback = 86
    user_canceled = 90
    no_renegotiation = 100
    missing_extension = 109
    unsupported_extension = 110
    unrecognized_name = 112
    bad_certificate_status_response = 113
    unknown_psk_identity = 115
    certificate_required = 116
    no_application_protocol = 120


class ProtocolVersion(IntEnum):
    TLSv1_0 = 0x0301
    TLSv1_1 = 0x0302
    TLSv1_2 = 0x0303
    TLSv1_3 = 0x0304

    @property
    def label(self) -> str:
        """The name used in reports: ``"TLSv1.3"``."""
        return self.name.replace("_", ".")


class CipherSuite(IntEnum):
    TLS_AES_128_GCM_SHA256 = 0x1301
    TLS_AES_256_GCM_SHA384 = 0x1302
    TLS_CHACHA20_POLY1305_SHA256 = 0x1303
    TLS_EMPTY_RENEGOTIATION_INFO_SCSV = 0x00FF
    TLS_FALLBACK_SCSV = 0x5600  # RFC 7507
    # TLS 1.2 (RFC 5288, RFC 5289, RFC 7905)
    TLS_RSA_WITH_AES_128_GCM_SHA256 = 0x009C
    TLS_RSA_WITH_AES_256_GCM_SHA384 = 0x009D
    TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 = 0xC02B
    TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 = 0xC02C
    TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 = 0xC02F
    TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 = 0xC030
    TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 = 0xCCA8
    TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 = 0xCCA9
    # CBC with HMAC (RFC 5246, RFC 4492, RFC 5289), 3DES: legacy, off unless configured
    TLS_RSA_WITH_RC4_128_SHA = 0x0005
    TLS_RSA_WITH_3DES_EDE_CBC_SHA = 0x000A
    TLS_RSA_WITH_AES_128_CBC_SHA = 0x002F
    TLS_RSA_WITH_AES_256_CBC_SHA = 0x0035
    TLS_RSA_WITH_AES_128_CBC_SHA256 = 0x003C
    TLS_RSA_WITH_AES_256_CBC_SHA256 = 0x003D
    # finite-field DHE (RFC 5246, RFC 5288)
    TLS_DHE_RSA_WITH_AES_128_CBC_SHA = 0x0033
    TLS_DHE_RSA_WITH_AES_256_CBC_SHA = 0x0039
    TLS_DHE_RSA_WITH_AES_128_CBC_SHA256 = 0x0067
    TLS_DHE_RSA_WITH_AES_256_CBC_SHA256 = 0x006B
    TLS_DHE_RSA_WITH_AES_128_GCM_SHA256 = 0x009E
    TLS_DHE_RSA_WITH_AES_256_GCM_SHA384 = 0x009F
    TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA = 0xC009
    TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA = 0xC00A
    TLS_ECDHE_RSA_WITH_RC4_128_SHA = 0xC011
    TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA = 0xC012
    TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA = 0xC013
    TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA = 0xC014
    TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256 = 0xC023
    TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384 = 0xC024
    TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256 = 0xC027
    TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384 = 0xC028


class NamedGroup(IntEnum):
    secp256r1 = 0x0017
    secp384r1 = 0x0018
    secp521r1 = 0x0019
    x25519 = 0x001D
    x448 = 0x001E
    ffdhe2048 = 0x0100
    ffdhe3072 = 0x0101
    # ML-KEM (draft-ietf-tls-mlkem) and the hybrids (draft-ietf-tls-ecdhe-mlkem)
    MLKEM768 = 0x0201
    SecP256r1MLKEM768 = 0x11EB
    X25519MLKEM768 = 0x11EC


class SignatureScheme(IntEnum):
    rsa_pkcs1_sha256 = 0x0401
    rsa_pkcs1_sha384 = 0x0501
    rsa_pkcs1_sha512 = 0x0601
    ecdsa_secp256r1_sha256 = 0x0403
    ecdsa_secp384r1_sha384 = 0x0503
    ecdsa_secp521r1_sha512 = 0x0603
    rsa_pss_rsae_sha256 = 0x0804
    rsa_pss_rsae_sha384 = 0x0805
    rsa_pss_rsae_sha512 = 0x0806
    ed25519 = 0x0807
    ed448 = 0x0808
    rsa_pss_pss_sha256 = 0x0809
    rsa_pss_pss_sha384 = 0x080A
    rsa_pss_pss_sha512 = 0x080B
    rsa_pkcs1_sha1 = 0x0201
    ecdsa_sha1 = 0x0203
    # ML-DSA (FIPS 204) in TLS 1.3 only (draft-ietf-tls-mldsa)
    mldsa44 = 0x0904
    mldsa65 = 0x0905
    mldsa87 = 0x0906


class ExtensionType(IntEnum):
    server_name = 0
    max_fragment_length = 1
    status_request = 5
    supported_groups = 10
    ec_point_formats = 11
    signature_algorithms = 13
    use_srtp = 14
    heartbeat = 15
    application_layer_protocol_negotiation = 16
    signed_certificate_timestamp = 18
    padding = 21
    encrypt_then_mac = 22
    extended_master_secret = 23
    record_size_limit = 28
    session_ticket = 35
    pre_shared_key = 41
    early_data = 42
    supported_versions = 43
    cookie = 44
    psk_key_exchange_modes = 45
    certificate_authorities = 47
    oid_filters = 48
    post_handshake_auth = 49
    signature_algorithms_cert = 50
    key_share = 51
    renegotiation_info = 0xFF01
    # Private use (IANA 65282-65535): the lab's server names the replica that answered, to a
    # client that asks by sending it empty. Real peers never see it: only tlssim offers it.
    tlssim_replica = 0xFF7E


class CertificateStatusType(IntEnum):
    ocsp = 1


class KeyUpdateRequest(IntEnum):
    update_not_requested = 0
    update_requested = 1


def name_of(enum_type: type[IntEnum], value: int) -> str:
    """The RFC name of a code point, or ``"0x...."`` for values we do not know."""
    names = _NAMES.get(enum_type)
    if names is None:  # once per enum: a member's .name is a descriptor call each time
        names = _NAMES[enum_type] = {int(m): m.name for m in enum_type}
    name = names.get(value)
    return name if name is not None else f"0x{value:04x}"


_NAMES: dict[type[IntEnum], dict[int, str]] = {}

_E = TypeVar("_E", bound=IntEnum)


def member_of(enum_type: type[_E], value: int) -> _E:
    """``enum_type(value)``: a known value's member found without the Enum call's machinery
    (several times its cost); any other value goes through that call as before."""
    member = enum_type._value2member_map_.get(value)
    return cast(_E, member) if member is not None else enum_type(value)


#: ServerHello.random of a HelloRetryRequest (RFC 8446 section 4.1.3).
HELLO_RETRY_REQUEST_RANDOM = hashlib.sha256(b"HelloRetryRequest").digest()

#: The last 8 bytes of ServerHello.random when a TLS 1.3 server negotiates TLS 1.2 (4.1.3).
DOWNGRADE_TLS12 = b"DOWNGRD\x01"
#: ... and when it negotiates TLS 1.1 or below.
DOWNGRADE_TLS11 = b"DOWNGRD\x00"

#: Largest TLSPlaintext.fragment (and TLSInnerPlaintext content) allowed.
MAX_PLAINTEXT = 2**14
#: Largest TLSCiphertext.encrypted_record allowed in TLS 1.3.
MAX_CIPHERTEXT = 2**14 + 256
#: Largest TLSCiphertext.fragment allowed in TLS 1.2 (RFC 5246 section 6.2.3).
MAX_CIPHERTEXT_TLS12 = 2**14 + 2048
#: Largest handshake message accepted (certificate chains are the big ones).
MAX_HANDSHAKE_MESSAGE = 2**18
#: Records with no content in a row (zero-length application data is legal, RFC 8446 5.1,
#: but an endless stream of them is a way to keep us busy): past this, unexpected_message.
MAX_EMPTY_RECORDS = 32
#: KeyUpdates received with no application data in between; past this, unexpected_message.
MAX_KEY_UPDATES = 32
