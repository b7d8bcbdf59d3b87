"""Engine configuration: frozen dataclasses; randomness is injected through ``entropy``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tlssim.tls.anti_replay import EarlyDataSettings
from tlssim.tls.constants import CipherSuite, NamedGroup, ProtocolVersion, SignatureScheme
from tlssim.tls.ffdhe import DEFAULT_MIN_DH_BITS, FFDHE2048, DhGroup
from tlssim.tls.sessions import Session, SessionCache
from tlssim.tls.signatures import PrivateKey
from tlssim.tls.tickets import DEFAULT_TICKET_LIFETIME

DEFAULT_TLS13_CIPHER_SUITES = (
    CipherSuite.TLS_AES_128_GCM_SHA256,
    CipherSuite.TLS_AES_256_GCM_SHA384,
    CipherSuite.TLS_CHACHA20_POLY1305_SHA256,
)
DEFAULT_TLS12_CIPHER_SUITES = (
    CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    CipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    CipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    CipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    CipherSuite.TLS_RSA_WITH_AES_128_GCM_SHA256,
    CipherSuite.TLS_RSA_WITH_AES_256_GCM_SHA384,
)
#: TLS 1.3 and TLS 1.2 suites together; each version uses the ones that belong to it.
DEFAULT_CIPHER_SUITES = DEFAULT_TLS13_CIPHER_SUITES + DEFAULT_TLS12_CIPHER_SUITES
#: What a client lists, as browsers do: the X25519MLKEM768 hybrid first, then (EC)DHE.
DEFAULT_GROUPS = (NamedGroup.X25519MLKEM768, NamedGroup.x25519, NamedGroup.secp256r1)
#: A client's shares: the hybrid, and an x25519 one beside it for classical servers.
DEFAULT_KEY_SHARE_GROUPS = (NamedGroup.X25519MLKEM768, NamedGroup.x25519)
#: A server's preference: the hybrids, then ML-KEM alone, then (EC)DHE.
DEFAULT_SERVER_GROUPS = (
    NamedGroup.X25519MLKEM768,
    NamedGroup.SecP256r1MLKEM768,
    NamedGroup.MLKEM768,
    NamedGroup.x25519,
    NamedGroup.secp256r1,
)
DEFAULT_SIGNATURE_SCHEMES = (
    SignatureScheme.ecdsa_secp256r1_sha256,
    SignatureScheme.rsa_pss_rsae_sha256,
    SignatureScheme.ed25519,
    SignatureScheme.ecdsa_secp384r1_sha384,
    SignatureScheme.rsa_pss_rsae_sha384,
    SignatureScheme.rsa_pss_rsae_sha512,
    SignatureScheme.ecdsa_secp521r1_sha512,
    # TLS 1.3 only: ML-DSA (draft-ietf-tls-mldsa), after the classical schemes so that a
    # server holding both kinds of certificate keeps presenting the smaller one
    SignatureScheme.mldsa44,
    SignatureScheme.mldsa65,
    SignatureScheme.mldsa87,
    # TLS 1.2 ServerKeyExchange only (TLS 1.3 CertificateVerify never uses PKCS#1 v1.5)
    SignatureScheme.rsa_pkcs1_sha256,
    SignatureScheme.rsa_pkcs1_sha384,
    SignatureScheme.rsa_pkcs1_sha512,
)

Entropy = Callable[[int], bytes]


@dataclass(frozen=True, slots=True, kw_only=True)
class HostPolicy:
    """What one virtual host allows instead of the server's configuration: its versions
    (best first), its cipher suites in preference order, and whether it grants RFC 7366
    encrypt_then_mac. A legacy host names TLS 1.0/1.1 or CBC suites here; the server's
    other hosts stay modern."""

    versions: tuple[ProtocolVersion, ...]
    cipher_suites: tuple[CipherSuite, ...]
    encrypt_then_mac: bool = True
    #: The finite-field group of its DHE suites (None: the server's).
    dh_group: DhGroup | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientAuth:
    """How a server asks for a client certificate (for one SNI).

    ``required``: a client that sends none fails with certificate_required (TLS 1.3) or
    handshake_failure (TLS 1.2); otherwise the handshake goes on without one.
    ``certificate_authorities`` are DER-encoded distinguished names sent as a hint.
    """

    required: bool
    certificate_authorities: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CertifiedKey:
    """A certificate chain (DER, leaf first), its private key and an optional OCSP staple."""

    chain: tuple[bytes, ...]
    private_key: PrivateKey
    ocsp_response: bytes | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientConfig:
    """Client settings.

    ``entropy(n)`` supplies every random byte, drawn in this order: ClientHello.random (32),
    legacy_session_id (32, only when ``compatibility_mode`` and no TLS 1.2 session is being
    resumed), then, when TLS 1.3 is offered, the private key seeds for each group in
    ``key_share_groups`` (and once more after a HelloRetryRequest): 32 bytes for an ECDH
    key, then 64 for an ML-KEM key, as the group has them. TLS 1.2 then draws the
    ECDHE seed (32) or the premaster secret's random part (46). A test reproduces RFC 8448
    by feeding those bytes from a queue (see tests/tls/test_rfc8448.py).

    ``versions`` are offered best first (TLS 1.3 and/or TLS 1.2); ``cipher_suites`` may mix
    both versions' suites, each version offering its own. ``session`` (from a
    ``SessionReceived`` event) asks to resume; ``session_age_ms`` is its age by the
    caller's clock (TLS 1.3 obfuscated_ticket_age). A TLS 1.3 session is offered as a PSK
    (psk_dhe_ke, so a key share is still sent) only when its ``server_name`` equals
    ``server_name`` and a suite with its hash is offered; a resumed handshake has no
    Certificate, hence no ``CertificateReceived``: the caller relies on the verification
    done when the session was first established.
    """

    server_name: str | None
    entropy: Entropy
    cipher_suites: tuple[CipherSuite, ...] = DEFAULT_CIPHER_SUITES
    supported_groups: tuple[NamedGroup, ...] = DEFAULT_GROUPS
    key_share_groups: tuple[NamedGroup, ...] = DEFAULT_KEY_SHARE_GROUPS
    signature_schemes: tuple[SignatureScheme, ...] = DEFAULT_SIGNATURE_SCHEMES
    request_ocsp: bool = True
    #: RFC 8446 appendix D.4: random legacy_session_id and a dummy change_cipher_spec.
    compatibility_mode: bool = True
    versions: tuple[ProtocolVersion, ...] = (ProtocolVersion.TLSv1_3,)
    session: Session | None = None
    session_age_ms: int = 0
    #: Sent when the server asks (CertificateRequest); without it, an empty Certificate.
    #: Holding one, a TLS 1.3 client also offers post_handshake_auth (4.2.6).
    client_certificate: CertifiedKey | None = None
    #: 0-RTT (4.2.10): sent right after the ClientHello when ``session`` is offered and its
    #: ticket allows this much early data; ``EarlyDataAnswered`` says whether the server
    #: took it (if not, the caller sends it again once connected, if it still wants to).
    early_data: bytes = b""
    #: Sends an empty tlssim_replica extension: a tlssim server answers with its replica name.
    ask_replica: bool = False
    #: TLS 1.3: offer psk_key_exchange_modes (psk_dhe_ke) in a full handshake too, as a
    #: client that wants a ticket must: RFC 8446 4.2.9 lets a server send no
    #: NewSessionTicket to a client that offered no mode (Go, NSS, Java and tlslite-ng don't).
    offer_psk_modes: bool = False
    #: RFC 7507: TLS_FALLBACK_SCSV, for a client that retries with lower ``versions`` after
    #: a failed attempt (a server that has a better version then aborts:
    #: inappropriate_fallback, and the downgrade fails).
    fallback_scsv: bool = False
    #: DHE suites (when offered): the smallest server modulus accepted; the group must
    #: also be a safe prime and the server's value in its prime-order subgroup
    #: (``ffdhe.check_server_group``).
    min_dh_bits: int = DEFAULT_MIN_DH_BITS
    #: RFC 7366: offered with any CBC suite (the legacy suites are offered only when named
    #: in ``cipher_suites``); False keeps MAC-then-encrypt.
    encrypt_then_mac: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """Server settings.

    ``entropy(n)`` supplies ServerHello.random (32) then the ECDH key seed (32; none for
    MLKEM768, whose encapsulation draws randomness inside the library); TLS 1.2
    draws ServerHello.random (32), a new session id (32, only with a ``session_cache``), the
    ECDHE seed (32) or, for RSA key transport, the 48-byte fallback premaster; tickets draw
    a 12-byte nonce and a 4-byte ticket_age_add; a post-handshake CertificateRequest draws
    its 8-byte certificate_request_context.
    ``certificate_selector(sni, client_signature_schemes)`` returns the CertifiedKey to use or
    raises TLSError (e.g. unrecognized_name, handshake_failure). In TLS 1.2 the schemes
    passed are those usable with the offered cipher suites (ECDSA/Ed25519 schemes for
    ECDHE_ECDSA, RSA schemes for ECDHE_RSA and RSA key transport), named as TLS 1.3 names
    them so that ``key_supports(key, scheme)`` judges the key: a PKCS#1 v1.5 scheme appears
    as the RSA-PSS scheme of the same hash, an ECDSA scheme (whose curve TLS 1.2 does not
    fix) as every ECDSA scheme, and when only RSA key transport is possible and
    the client named no RSA scheme, ``rsa_pss_rsae_sha256`` stands for "an RSA key".
    ``cipher_suites`` and ``supported_groups`` are in server preference order; a client
    listing a post-quantum group the server has gets one (after a HelloRetryRequest if it
    sent no such share; see ``keyexchange.select_group``);
    ``groups_for_server_name(sni)`` narrows the groups per host (a client with none of
    them gets ``handshake_failure``).
    ``versions`` lists what the server accepts (it picks TLS 1.3 when offered).
    ``client_auth(sni)`` returns a ClientAuth to send a CertificateRequest, or None; a
    client's chain then comes as ``CertificateReceived`` and the engine pauses until the
    caller calls ``accept_certificate()`` or ``reject_certificate(alert)``. A server asking
    for a certificate neither resumes nor issues a resumable session, so every connection
    is authenticated by its own certificate.
    ``session_cache`` enables TLS 1.2 session-id resumption; ``ticket_key`` (32 bytes)
    enables TLS 1.3 tickets: one NewSessionTicket after the client's Finished, valid for
    ``ticket_lifetime`` seconds, and PSK resumption with (EC)DHE (psk_dhe_ke) for tickets
    sealed under that key (AES-256-GCM, self-contained: the server stores nothing). The
    server has no clock: it takes the ticket age the client reports and only checks it is
    within the lifetime. A ticket that does not open, or is for another SNI, gets a full
    handshake; a wrong binder on one that opens is a decrypt_error. Rotating
    ``ticket_key`` invalidates every outstanding ticket.
    """

    entropy: Entropy
    certificate_selector: Callable[[str | None, tuple[SignatureScheme, ...]], CertifiedKey]
    cipher_suites: tuple[CipherSuite, ...] = DEFAULT_CIPHER_SUITES
    supported_groups: tuple[NamedGroup, ...] = DEFAULT_SERVER_GROUPS
    #: The groups for one SNI when they differ from ``supported_groups`` (None: the same):
    #: a host that accepts only post-quantum groups returns those.
    groups_for_server_name: Callable[[str | None], tuple[NamedGroup, ...] | None] | None = None
    signature_schemes: tuple[SignatureScheme, ...] = DEFAULT_SIGNATURE_SCHEMES
    versions: tuple[ProtocolVersion, ...] = (ProtocolVersion.TLSv1_3, ProtocolVersion.TLSv1_2)
    session_cache: SessionCache | None = None
    ticket_key: bytes | None = None
    ticket_lifetime: int = DEFAULT_TICKET_LIFETIME
    client_auth: Callable[[str | None], ClientAuth | None] | None = None
    #: 0-RTT: tickets then carry early_data (max_early_data_size) and a resuming client's
    #: early data is accepted, at most once per ticket unless anti-replay is off (see
    #: ``anti_replay``). None: no ticket allows early data, and offered early data is
    #: skipped (trial decryption, 4.2.10).
    early_data: EarlyDataSettings | None = None
    #: This server's replica name, told to a client that sends tlssim_replica.
    replica: str | None = None
    #: RFC 7366 for a CBC suite when the client asks; False keeps MAC-then-encrypt.
    encrypt_then_mac: bool = True
    #: The group of DHE suites (RFC 5246 ServerDHParams): RFC 7919 ffdhe2048 by default.
    dh_group: DhGroup = FFDHE2048
    #: What one SNI allows when it differs from this configuration (None: the same): a
    #: legacy host's versions and suites (see ``HostPolicy``).
    host_policy: Callable[[str | None], HostPolicy | None] | None = None
