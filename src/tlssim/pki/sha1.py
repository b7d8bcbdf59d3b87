"""Certificates signed with SHA-1, the lab's examples of what clients must refuse.

``cryptography`` no longer signs with SHA-1, so the certificate is built as usual and then
signed again: its TBSCertificate gets the SHA-1 signature algorithm and a fresh signature
over the changed bytes (DER, re-encoded here: only the algorithm identifiers change).
"""

from __future__ import annotations

from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from tlssim.pki.errors import InvalidRequest

# AlgorithmIdentifier DER: ecdsa-with-SHA1 (RFC 3279 2.2.3, no parameters) and
# sha1WithRSAEncryption (RFC 3279 2.2.1, NULL parameters).
ECDSA_WITH_SHA1: Final = bytes.fromhex("300906072a8648ce3d0401")
SHA1_WITH_RSA: Final = bytes.fromhex("300d06092a864886f70d0101050500")
_SEQUENCE, _BIT_STRING, _VERSION_TAG = 0x30, 0x03, 0xA0


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _length(len(content)) + content


def _elements(der: bytes) -> list[bytes]:
    """The DER elements (tag, length and content) one after the other in `der`."""
    elements, offset = [], 0
    while offset < len(der):
        first = der[offset + 1]
        if first < 0x80:
            header, size = 2, first
        else:
            count = first & 0x7F
            header = 2 + count
            size = int.from_bytes(der[offset + 2 : offset + header], "big")
        elements.append(der[offset : offset + header + size])
        offset += header + size
    return elements


def _inner(element: bytes) -> bytes:
    first = element[1]
    header = 2 if first < 0x80 else 2 + (first & 0x7F)
    return element[header:]


def resigned_with_sha1(cert: x509.Certificate, key: object) -> x509.Certificate:
    """`cert` (issued by `key`'s CA) signed again by `key` with SHA-1."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        algorithm = ECDSA_WITH_SHA1
    elif isinstance(key, rsa.RSAPrivateKey):
        algorithm = SHA1_WITH_RSA
    else:
        raise InvalidRequest("only ECDSA and RSA keys sign with SHA-1")
    tbs, _, _ = _elements(_inner(cert.public_bytes(serialization.Encoding.DER)))
    fields = _elements(_inner(tbs))
    fields[2 if fields[0][0] == _VERSION_TAG else 1] = algorithm
    tbs = _tlv(_SEQUENCE, b"".join(fields))
    if isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(tbs, ec.ECDSA(hashes.SHA1()))
    else:
        signature = key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())
    der = _tlv(_SEQUENCE, tbs + algorithm + _tlv(_BIT_STRING, b"\x00" + signature))
    return x509.load_der_x509_certificate(der)
