"""Engine configuration: frozen dataclasses; randomness is injected through ``entropy``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tlssim.tls.constants import CipherSuite, NamedGroup, SignatureScheme
from tlssim.tls.signatures import PrivateKey

DEFAULT_CIPHER_SUITES = (
    CipherSuite.TLS_AES_128_GCM_SHA256,
    CipherSuite.TLS_AES_256_GCM_SHA384,
    CipherSuite.TLS_CHACHA20_POLY1305_SHA256,
)
DEFAULT_GROUPS = (NamedGroup.x25519, NamedGroup.secp256r1)
DEFAULT_SIGNATURE_SCHEMES = (
    SignatureScheme.ecdsa_secp256r1_sha256,
    SignatureScheme.rsa_pss_rsae_sha256,
    SignatureScheme.ed25519,
    SignatureScheme.ecdsa_secp384r1_sha384,
    SignatureScheme.rsa_pss_rsae_sha384,
    SignatureScheme.rsa_pss_rsae_sha512,
)

Entropy = Callable[[int], bytes]


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
    legacy_session_id (32, only when ``compatibility_mode``), then one 32-byte private key
    seed per group in ``key_share_groups`` (and one more after a HelloRetryRequest). A test
    reproduces RFC 8448 by feeding those bytes from a queue (see tests/tls/test_rfc8448.py).
    """

    server_name: str | None
    entropy: Entropy
    cipher_suites: tuple[CipherSuite, ...] = DEFAULT_CIPHER_SUITES
    supported_groups: tuple[NamedGroup, ...] = DEFAULT_GROUPS
    key_share_groups: tuple[NamedGroup, ...] = (NamedGroup.x25519,)
    signature_schemes: tuple[SignatureScheme, ...] = DEFAULT_SIGNATURE_SCHEMES
    request_ocsp: bool = True
    #: RFC 8446 appendix D.4: random legacy_session_id and a dummy change_cipher_spec.
    compatibility_mode: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """Server settings.

    ``entropy(n)`` supplies ServerHello.random (32) then the key share seed (32).
    ``certificate_selector(sni, client_signature_schemes)`` returns the CertifiedKey to use or
    raises TLSError (e.g. unrecognized_name, handshake_failure). ``cipher_suites`` and
    ``supported_groups`` are in server preference order.
    """

    entropy: Entropy
    certificate_selector: Callable[[str | None, tuple[SignatureScheme, ...]], CertifiedKey]
    cipher_suites: tuple[CipherSuite, ...] = DEFAULT_CIPHER_SUITES
    supported_groups: tuple[NamedGroup, ...] = DEFAULT_GROUPS
    signature_schemes: tuple[SignatureScheme, ...] = DEFAULT_SIGNATURE_SCHEMES
