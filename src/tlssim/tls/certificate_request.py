"""CertificateRequest in both versions, and the client's choice of how to answer it.

TLS 1.3 (RFC 8446 4.3.2): a request context (empty in the main handshake) and extensions;
signature_algorithms is required, certificate_authorities (4.2.4) optional.
TLS 1.2 (RFC 5246 7.4.4): certificate types, supported signature algorithms and the
distinguished names of acceptable authorities.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cryptography.hazmat.primitives.asymmetric import rsa

from tlssim.tls.config import CertifiedKey
from tlssim.tls.constants import ExtensionType, HandshakeType, SignatureScheme
from tlssim.tls.errors import MissingExtension
from tlssim.tls.extensions import (
    Extension,
    decode_uint16_list,
    encode_uint16_list,
    index_extensions,
    parse_extensions,
    write_extensions,
)
from tlssim.tls.messages import frame
from tlssim.tls.signatures import key_supports
from tlssim.tls.wire import Reader, Writer

#: ClientCertificateType (RFC 5246 7.4.4, RFC 8422 5.5).
RSA_SIGN = 1
ECDSA_SIGN = 64


def encode_authorities(names: tuple[bytes, ...]) -> bytes:
    """DistinguishedName authorities<3..2^16-1>, each a DER Name in a 2-byte vector."""
    w = Writer()
    with w.block(2):
        for name in names:
            w.vector(2, name)
    return w.getvalue()


def _read_authorities(r: Reader) -> tuple[bytes, ...]:
    names: list[bytes] = []
    with r.block(2) as sub:
        while not sub.eof():
            names.append(sub.vector(2, 1))
    return tuple(names)


def decode_authorities(data: bytes) -> tuple[bytes, ...]:
    r = Reader(data)
    names = _read_authorities(r)
    r.expect_end()
    return names


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateRequest:
    """The TLS 1.3 message; ``schemes`` and ``authorities`` are decoded from extensions."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.certificate_request
    request_context: bytes = b""
    schemes: tuple[int, ...]
    authorities: tuple[bytes, ...] = ()

    @classmethod
    def parse(cls, body: bytes) -> CertificateRequest:
        r = Reader(body)
        context = r.vector(1)
        exts = index_extensions(parse_extensions(r))
        r.expect_end()
        if ExtensionType.signature_algorithms not in exts:
            raise MissingExtension("CertificateRequest without signature_algorithms")
        schemes = decode_uint16_list(exts[ExtensionType.signature_algorithms])
        authorities: tuple[bytes, ...] = ()
        if ExtensionType.certificate_authorities in exts:
            authorities = decode_authorities(exts[ExtensionType.certificate_authorities])
        return cls(request_context=context, schemes=schemes, authorities=authorities)

    def serialize(self) -> bytes:
        exts = [Extension(ExtensionType.signature_algorithms, encode_uint16_list(self.schemes))]
        if self.authorities:
            exts.append(
                Extension(
                    ExtensionType.certificate_authorities, encode_authorities(self.authorities)
                )
            )
        w = Writer()
        w.vector(1, self.request_context)
        write_extensions(w, tuple(exts))
        return frame(self.msg_type, w.getvalue())


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateRequest12:
    msg_type: ClassVar[HandshakeType] = HandshakeType.certificate_request
    certificate_types: tuple[int, ...] = (RSA_SIGN, ECDSA_SIGN)
    schemes: tuple[int, ...]
    authorities: tuple[bytes, ...] = ()

    @classmethod
    def parse(cls, body: bytes, with_schemes: bool = True) -> CertificateRequest12:
        """TLS 1.0 and 1.1 requests have no supported_signature_algorithms
        (``with_schemes`` False): no scheme then fits, and our client sends no certificate."""
        r = Reader(body)
        types = tuple(r.vector(1, 1))
        schemes = r.uint16_list(2, 2) if with_schemes else ()
        authorities = _read_authorities(r)
        r.expect_end()
        return cls(certificate_types=types, schemes=schemes, authorities=authorities)

    def serialize(self) -> bytes:
        w = Writer()
        w.vector(1, bytes(self.certificate_types))
        w.uint16_list(2, self.schemes)
        w.raw(encode_authorities(self.authorities))
        return frame(self.msg_type, w.getvalue())


def request_fields(schemes: tuple[int, ...], authorities: tuple[bytes, ...]) -> dict[str, object]:
    """How a CertificateRequest shows in events and reports."""
    return {
        "signature_schemes": [_scheme_name(s) for s in schemes],
        "certificate_authorities": len(authorities),
    }


def _scheme_name(scheme: int) -> str:
    try:
        return SignatureScheme(scheme).name
    except ValueError:
        return f"0x{scheme:04x}"


def client_scheme(
    certified: CertifiedKey | None,
    requested: tuple[int, ...],
    ours: tuple[SignatureScheme, ...],
    tls12: bool = False,
    certificate_types: tuple[int, ...] = (RSA_SIGN, ECDSA_SIGN),
) -> SignatureScheme | None:
    """The scheme our key signs CertificateVerify with, or None: then we send no certificate."""
    if certified is None or not certified.chain:
        return None
    key = certified.private_key
    kind = RSA_SIGN if isinstance(key, rsa.RSAPrivateKey) else ECDSA_SIGN
    if tls12 and kind not in certificate_types:
        return None
    return next(
        (SignatureScheme(s) for s in requested if s in ours and key_supports(key, s, tls12=tls12)),
        None,
    )
