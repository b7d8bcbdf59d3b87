"""CertificateVerify signatures (RFC 8446 section 4.4.3) over ``cryptography`` keys."""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from tlssim.tls.constants import SignatureScheme
from tlssim.tls.errors import DecryptError, IllegalParameter

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey

SERVER_CONTEXT = b"TLS 1.3, server CertificateVerify"
CLIENT_CONTEXT = b"TLS 1.3, client CertificateVerify"

_RSA_PSS: dict[int, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    SignatureScheme.rsa_pss_rsae_sha256: hashes.SHA256,
    SignatureScheme.rsa_pss_rsae_sha384: hashes.SHA384,
    SignatureScheme.rsa_pss_rsae_sha512: hashes.SHA512,
}
_ECDSA: dict[int, tuple[str, type[hashes.SHA256 | hashes.SHA384]]] = {
    SignatureScheme.ecdsa_secp256r1_sha256: ("secp256r1", hashes.SHA256),
    SignatureScheme.ecdsa_secp384r1_sha384: ("secp384r1", hashes.SHA384),
}

#: Every scheme this engine can sign or verify in TLS 1.3.
SUPPORTED_SCHEMES = (
    SignatureScheme.ecdsa_secp256r1_sha256,
    SignatureScheme.rsa_pss_rsae_sha256,
    SignatureScheme.ed25519,
    SignatureScheme.ecdsa_secp384r1_sha384,
    SignatureScheme.rsa_pss_rsae_sha384,
    SignatureScheme.rsa_pss_rsae_sha512,
)


def signed_content(context: bytes, transcript_hash: bytes) -> bytes:
    return b"\x20" * 64 + context + b"\x00" + transcript_hash


def key_supports(key: PrivateKey | PublicKey, scheme: int) -> bool:
    """Whether ``scheme`` can be used with this (private or public) key."""
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return scheme == SignatureScheme.ed25519
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return scheme in _RSA_PSS
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        entry = _ECDSA.get(scheme)
        return entry is not None and entry[0] == key.curve.name
    return False


def sign(key: PrivateKey, scheme: SignatureScheme, content: bytes) -> bytes:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(content)
    if isinstance(key, rsa.RSAPrivateKey):
        h = _RSA_PSS[scheme]()
        return key.sign(content, padding.PSS(padding.MGF1(h), h.digest_size), h)
    return key.sign(content, ec.ECDSA(_ECDSA[scheme][1]()))


def verify(key: PublicKey, scheme: int, signature: bytes, content: bytes) -> None:
    """Raise IllegalParameter for a scheme that does not fit the key, DecryptError if bad."""
    if not key_supports(key, scheme):
        raise IllegalParameter("signature scheme does not match the certificate key")
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, content)
        elif isinstance(key, rsa.RSAPublicKey):
            h = _RSA_PSS[scheme]()
            key.verify(signature, content, padding.PSS(padding.MGF1(h), h.digest_size), h)
        else:
            key.verify(signature, content, ec.ECDSA(_ECDSA[scheme][1]()))
    except InvalidSignature as exc:
        raise DecryptError("CertificateVerify signature does not verify") from exc
