"""TLS 1.2-only handshake messages (RFC 5246 section 7.4, RFC 8422, RFC 6066 section 8).

Same conventions as ``messages``: ``parse`` takes the body, ``serialize`` returns the framed
message. ClientHello, ServerHello and Finished are shared with TLS 1.3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from tlssim.tls.constants import CertificateStatusType, HandshakeType
from tlssim.tls.errors import DecodeError, IllegalParameter
from tlssim.tls.messages import frame
from tlssim.tls.wire import Reader, Writer

#: ECCurveType.named_curve (RFC 8422 section 5.4).
NAMED_CURVE = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class Certificate12:
    """A bare certificate_list: no request context, no per-entry extensions."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.certificate
    chain: tuple[bytes, ...]

    @classmethod
    def parse(cls, body: bytes) -> Certificate12:
        r = Reader(body)
        chain: list[bytes] = []
        with r.block(3) as sub:
            while not sub.eof():
                chain.append(sub.vector(3, 1))
        r.expect_end()
        return cls(chain=tuple(chain))

    def serialize(self) -> bytes:
        w = Writer()
        with w.block(3):
            for der in self.chain:
                w.vector(3, der)
        return frame(self.msg_type, w.getvalue())


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateStatus:
    """The stapled OCSP response (RFC 6066 section 8)."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.certificate_status
    ocsp_response: bytes

    @classmethod
    def parse(cls, body: bytes) -> CertificateStatus:
        r = Reader(body)
        if r.uint8() != CertificateStatusType.ocsp:
            raise IllegalParameter("unknown CertificateStatusType")
        response = r.vector(3, 1)
        r.expect_end()
        return cls(ocsp_response=response)

    def serialize(self) -> bytes:
        w = Writer()
        w.uint8(CertificateStatusType.ocsp)
        w.vector(3, self.ocsp_response)
        return frame(self.msg_type, w.getvalue())


def ecdh_params(group: int, public: bytes) -> bytes:
    """ServerECDHParams: the bytes the ServerKeyExchange signature covers (after randoms)."""
    return bytes([NAMED_CURVE]) + group.to_bytes(2, "big") + bytes([len(public)]) + public


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerKeyExchange:
    """ECDHE parameters signed with the certificate key (RFC 8422 section 5.4)."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.server_key_exchange
    group: int
    public: bytes
    #: None in TLS 1.0/1.1, which have no SignatureAndHashAlgorithm field.
    algorithm: int | None
    signature: bytes

    @property
    def params(self) -> bytes:
        return ecdh_params(self.group, self.public)

    @classmethod
    def parse(cls, body: bytes, with_algorithm: bool = True) -> ServerKeyExchange:
        r = Reader(body)
        if r.uint8() != NAMED_CURVE:
            raise IllegalParameter("only named curves are supported")
        group = r.uint16()
        public = r.vector(1, 1)
        algorithm = r.uint16() if with_algorithm else None
        signature = r.vector(2, 1)
        r.expect_end()
        return cls(group=group, public=public, algorithm=algorithm, signature=signature)

    def serialize(self) -> bytes:
        w = Writer()
        w.raw(self.params)
        if self.algorithm is not None:
            w.uint16(self.algorithm)
        w.vector(2, self.signature)
        return frame(self.msg_type, w.getvalue())


def dh_params(p: bytes, g: bytes, public: bytes) -> bytes:
    """ServerDHParams (RFC 5246 7.4.3): dh_p, dh_g, dh_Ys, each with a 2-byte length."""
    return b"".join(len(v).to_bytes(2, "big") + v for v in (p, g, public))


@dataclass(frozen=True, slots=True, kw_only=True)
class DheServerKeyExchange:
    """Finite-field DHE parameters signed with the certificate key (RFC 5246 7.4.3)."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.server_key_exchange
    p: bytes
    g: bytes
    public: bytes
    #: None in TLS 1.0/1.1, which have no SignatureAndHashAlgorithm field.
    algorithm: int | None
    signature: bytes

    @property
    def params(self) -> bytes:
        return dh_params(self.p, self.g, self.public)

    @classmethod
    def parse(cls, body: bytes, with_algorithm: bool = True) -> DheServerKeyExchange:
        r = Reader(body)
        p, g, public = r.vector(2, 1), r.vector(2, 1), r.vector(2, 1)
        algorithm = r.uint16() if with_algorithm else None
        signature = r.vector(2, 1)
        r.expect_end()
        return cls(p=p, g=g, public=public, algorithm=algorithm, signature=signature)

    def serialize(self) -> bytes:
        w = Writer()
        w.raw(self.params)
        if self.algorithm is not None:
            w.uint16(self.algorithm)
        w.vector(2, self.signature)
        return frame(self.msg_type, w.getvalue())


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerHelloDone:
    msg_type: ClassVar[HandshakeType] = HandshakeType.server_hello_done

    @classmethod
    def parse(cls, body: bytes) -> ServerHelloDone:
        if body:
            raise DecodeError("ServerHelloDone with a body")
        return cls()

    def serialize(self) -> bytes:
        return frame(self.msg_type, b"")


@dataclass(frozen=True, slots=True, kw_only=True)
class HelloRequest:
    msg_type: ClassVar[HandshakeType] = HandshakeType.hello_request

    @classmethod
    def parse(cls, body: bytes) -> HelloRequest:
        if body:
            raise DecodeError("HelloRequest with a body")
        return cls()

    def serialize(self) -> bytes:
        return frame(self.msg_type, b"")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientKeyExchange:
    """ECDHE: the client's point (1-byte length). RSA: EncryptedPreMasterSecret, DHE: dh_Yc
    (2-byte)."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.client_key_exchange
    key_exchange: str
    exchange_keys: bytes

    @classmethod
    def parse(cls, body: bytes, key_exchange: str) -> ClientKeyExchange:
        r = Reader(body)
        data = r.vector(1, 1) if key_exchange == "ecdhe" else r.vector(2, 1)
        r.expect_end()
        return cls(key_exchange=key_exchange, exchange_keys=data)

    def serialize(self) -> bytes:
        w = Writer()
        w.vector(1 if self.key_exchange == "ecdhe" else 2, self.exchange_keys)
        return frame(self.msg_type, w.getvalue())
