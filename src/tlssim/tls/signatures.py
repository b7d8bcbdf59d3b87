"""CertificateVerify signatures (RFC 8446 section 4.4.3) over ``cryptography`` keys.

TLS 1.2 ServerKeyExchange signatures (RFC 5246 7.4.3) use the same schemes plus the
PKCS#1 v1.5 ones that TLS 1.3 forbids in CertificateVerify (``tls12=True``).
"""

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
_RSA_PKCS1: dict[int, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    SignatureScheme.rsa_pkcs1_sha256: hashes.SHA256,
    SignatureScheme.rsa_pkcs1_sha384: hashes.SHA384,
    SignatureScheme.rsa_pkcs1_sha512: hashes.SHA512,
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


#: Schemes this engine can sign or verify in a TLS 1.2 ServerKeyExchange.
SUPPORTED_SCHEMES_TLS12 = (
    *SUPPORTED_SCHEMES,
    SignatureScheme.rsa_pkcs1_sha256,
    SignatureScheme.rsa_pkcs1_sha384,
    SignatureScheme.rsa_pkcs1_sha512,
)


def key_supports(key: PrivateKey | PublicKey, scheme: int, tls12: bool = False) -> bool:
    """Whether ``scheme`` can be used with this (private or public) key."""
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return scheme == SignatureScheme.ed25519
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return scheme in _RSA_PSS or (tls12 and scheme in _RSA_PKCS1)
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        entry = _ECDSA.get(scheme)
        return entry is not None and entry[0] == key.curve.name
    return False


def sign(key: PrivateKey, scheme: SignatureScheme, content: bytes) -> bytes:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(content)
    if isinstance(key, rsa.RSAPrivateKey):
        if scheme in _RSA_PKCS1:
            return key.sign(content, padding.PKCS1v15(), _RSA_PKCS1[scheme]())
        h = _RSA_PSS[scheme]()
        return key.sign(content, padding.PSS(padding.MGF1(h), h.digest_size), h)
    return key.sign(content, ec.ECDSA(_ECDSA[scheme][1]()))


def verify(
    key: PublicKey, scheme: int, signature: bytes, content: bytes, tls12: bool = False
) -> None:
    """Raise IllegalParameter for a scheme that does not fit the key, DecryptError if bad."""
    if not key_supports(key, scheme, tls12):
        raise IllegalParameter("signature scheme does not match the certificate key")
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, content)
        elif isinstance(key, rsa.RSAPublicKey) and scheme in _RSA_PKCS1:
            key.verify(signature, content, padding.PKCS1v15(), _RSA_PKCS1[scheme]())
        elif isinstance(key, rsa.RSAPublicKey):
            h = _RSA_PSS[scheme]()
            key.verify(signature, content, padding.PSS(padding.MGF1(h), h.digest_size), h)
        else:
            key.verify(signature, content, ec.ECDSA(_ECDSA[scheme][1]()))
    except InvalidSignature as exc:
        raise DecryptError("handshake signature does not verify") from exc
