"""ServerKeyExchange signatures of TLS 1.0 and 1.1 (RFC 2246 7.4.3, RFC 4346, RFC 4492 5.4).

Before TLS 1.2 there is no signature_algorithms: an RSA key signs MD5(content) +
SHA-1(content), 36 bytes, with PKCS #1 v1.5 type 1 padding and no DigestInfo; an ECDSA key
signs SHA-1(content). No library call does the RSA one (it is no standard hash), so it is
written out here with the key's numbers. Both are SHA-1 strength at best, one more reason
TLS 1.0 and 1.1 are gone.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tlssim.tls.constants import SignatureScheme
from tlssim.tls.errors import DecryptError, HandshakeFailure


def _md5_sha1(content: bytes) -> bytes:
    return hashlib.md5(content).digest() + hashlib.sha1(content).digest()


def _encoded(digest: bytes, size: int) -> bytes:
    """EMSA-PKCS1-v1_5 without DigestInfo: 00 01 FF..FF 00 digest."""
    return b"\x00\x01" + b"\xff" * (size - len(digest) - 3) + b"\x00" + digest


def scheme_for(key: object) -> SignatureScheme:
    """How reports name the signature a key makes in TLS 1.0/1.1 (by its SHA-1 scheme)."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return SignatureScheme.rsa_pkcs1_sha1
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return SignatureScheme.ecdsa_sha1
    raise HandshakeFailure("TLS 1.0/1.1 signatures need an RSA or ECDSA key")


def legacy_sign(key: object, content: bytes) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(content, ec.ECDSA(hashes.SHA1()))
    if not isinstance(key, rsa.RSAPrivateKey):
        raise HandshakeFailure("TLS 1.0/1.1 signatures need an RSA or ECDSA key")
    numbers = key.private_numbers()
    n, d = numbers.public_numbers.n, numbers.d
    size = (n.bit_length() + 7) // 8
    m = int.from_bytes(_encoded(_md5_sha1(content), size), "big")
    return pow(m, d, n).to_bytes(size, "big")


def legacy_verify(key: object, signature: bytes, content: bytes) -> None:
    """DecryptError when the signature does not verify (as for TLS 1.2's)."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        try:
            key.verify(signature, content, ec.ECDSA(hashes.SHA1()))
        except InvalidSignature as exc:
            raise DecryptError("ServerKeyExchange signature does not verify") from exc
        return
    if not isinstance(key, rsa.RSAPublicKey):
        raise HandshakeFailure("TLS 1.0/1.1 signatures need an RSA or ECDSA key")
    numbers = key.public_numbers()
    size = (numbers.n.bit_length() + 7) // 8
    s = int.from_bytes(signature, "big")
    if len(signature) != size or s >= numbers.n:
        raise DecryptError("ServerKeyExchange signature does not verify")
    recovered = pow(s, numbers.e, numbers.n).to_bytes(size, "big")
    if not hmac.compare_digest(recovered, _encoded(_md5_sha1(content), size)):
        raise DecryptError("ServerKeyExchange signature does not verify")
