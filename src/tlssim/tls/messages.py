"""Handshake messages (RFC 8446 section 4): frozen dataclasses with ``parse``/``serialize``.

``parse`` takes the message body (after the 4-byte handshake header); ``serialize`` returns
the whole handshake message, header included. The engine hashes the bytes it received, never
a re-encoding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from tlssim.tls.constants import (
    HELLO_RETRY_REQUEST_RANDOM,
    AlertDescription,
    AlertLevel,
    HandshakeType,
    KeyUpdateRequest,
)
from tlssim.tls.errors import DecodeError, IllegalParameter, UnexpectedMessage
from tlssim.tls.extensions import Extension, parse_extensions, write_extensions
from tlssim.tls.wire import Reader, Writer


def frame(msg_type: int, body: bytes) -> bytes:
    """Prefix a handshake body with its type and 24-bit length."""
    return bytes([msg_type]) + len(body).to_bytes(3, "big") + body


@dataclass(frozen=True, slots=True, kw_only=True, init=False)
class ClientHello:
    msg_type: ClassVar[HandshakeType] = HandshakeType.client_hello
    legacy_version: int
    random: bytes
    legacy_session_id: bytes
    cipher_suites: tuple[int, ...]
    legacy_compression_methods: bytes
    extensions: tuple[Extension, ...]

    def __init__(
        self,
        *,
        legacy_version: int = 0x0303,
        random: bytes,
        legacy_session_id: bytes = b"",
        cipher_suites: tuple[int, ...],
        legacy_compression_methods: bytes = b"\x00",
        extensions: tuple[Extension, ...] = (),
    ) -> None:
        # through the slots' setters: a frozen dataclass's generated __init__ goes through
        # object.__setattr__ for each field, which costs nearly twice as much
        s = _SET_CLIENT_HELLO
        s[0](self, legacy_version)
        s[1](self, random)
        s[2](self, legacy_session_id)
        s[3](self, cipher_suites)
        s[4](self, legacy_compression_methods)
        s[5](self, extensions)

    @classmethod
    def parse(cls, body: bytes) -> ClientHello:
        r = Reader(body)
        legacy_version = r.uint16()
        random = r.fixed(32)
        session_id = r.vector(1, 0, 32)
        suites = r.uint16_list(2, 2)
        compression = r.vector(1, 1)
        extensions = parse_extensions(r) if not r.eof() else ()
        r.expect_end()
        return cls(
            legacy_version=legacy_version,
            random=random,
            legacy_session_id=session_id,
            cipher_suites=suites,
            legacy_compression_methods=compression,
            extensions=extensions,
        )

    def serialize(self) -> bytes:
        w = Writer()
        w.uint16(self.legacy_version)
        w.raw(self.random)
        w.vector(1, self.legacy_session_id)
        w.uint16_list(2, self.cipher_suites)
        w.vector(1, self.legacy_compression_methods)
        write_extensions(w, self.extensions)
        return frame(self.msg_type, w.getvalue())


@dataclass(frozen=True, slots=True, kw_only=True, init=False)
class ServerHello:
    """ServerHello, or a HelloRetryRequest when ``random`` is the special value."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.server_hello
    legacy_version: int
    random: bytes
    legacy_session_id_echo: bytes
    cipher_suite: int
    legacy_compression_method: int
    extensions: tuple[Extension, ...]

    def __init__(
        self,
        *,
        legacy_version: int = 0x0303,
        random: bytes,
        legacy_session_id_echo: bytes = b"",
        cipher_suite: int,
        legacy_compression_method: int = 0,
        extensions: tuple[Extension, ...] = (),
    ) -> None:
        s = _SET_SERVER_HELLO  # as ClientHello's
        s[0](self, legacy_version)
        s[1](self, random)
        s[2](self, legacy_session_id_echo)
        s[3](self, cipher_suite)
        s[4](self, legacy_compression_method)
        s[5](self, extensions)

    @property
    def is_hello_retry_request(self) -> bool:
        return self.random == HELLO_RETRY_REQUEST_RANDOM

    @classmethod
    def parse(cls, body: bytes) -> ServerHello:
        r = Reader(body)
        legacy_version = r.uint16()
        random = r.fixed(32)
        session_id = r.vector(1, 0, 32)
        suite = r.uint16()
        compression = r.uint8()
        extensions = parse_extensions(r) if not r.eof() else ()
        r.expect_end()
        return cls(
            legacy_version=legacy_version,
            random=random,
            legacy_session_id_echo=session_id,
            cipher_suite=suite,
            legacy_compression_method=compression,
            extensions=extensions,
        )

    def serialize(self) -> bytes:
        w = Writer()
        w.uint16(self.legacy_version)
        w.raw(self.random)
        w.vector(1, self.legacy_session_id_echo)
        w.uint16(self.cipher_suite)
        w.uint8(self.legacy_compression_method)
        write_extensions(w, self.extensions)
        return frame(self.msg_type, w.getvalue())


def _setters(cls: type, *names: str) -> tuple[Callable[[object, object], None], ...]:
    return tuple(cls.__dict__[name].__set__ for name in names)


_SET_CLIENT_HELLO = _setters(
    ClientHello,
    "legacy_version",
    "random",
    "legacy_session_id",
    "cipher_suites",
    "legacy_compression_methods",
    "extensions",
)
_SET_SERVER_HELLO = _setters(
    ServerHello,
    "legacy_version",
    "random",
    "legacy_session_id_echo",
    "cipher_suite",
    "legacy_compression_method",
    "extensions",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class EncryptedExtensions:
    msg_type: ClassVar[HandshakeType] = HandshakeType.encrypted_extensions
    extensions: tuple[Extension, ...] = ()

    @classmethod
    def parse(cls, body: bytes) -> EncryptedExtensions:
        r = Reader(body)
        extensions = parse_extensions(r)
        r.expect_end()
        return cls(extensions=extensions)

    def serialize(self) -> bytes:
        w = Writer()
        write_extensions(w, self.extensions)
        return frame(self.msg_type, w.getvalue())


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateEntry:
    cert_data: bytes
    extensions: tuple[Extension, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Certificate:
    msg_type: ClassVar[HandshakeType] = HandshakeType.certificate
    request_context: bytes = b""
    entries: tuple[CertificateEntry, ...]

    @classmethod
    def parse(cls, body: bytes) -> Certificate:
        r = Reader(body)
        context = r.vector(1)
        entries: list[CertificateEntry] = []
        with r.block(3) as sub:
            while not sub.eof():
                data = sub.vector(3, 1)
                entries.append(CertificateEntry(cert_data=data, extensions=parse_extensions(sub)))
        r.expect_end()
        return cls(request_context=context, entries=tuple(entries))

    def serialize(self) -> bytes:
        w = Writer()
        w.vector(1, self.request_context)
        with w.block(3):
            for entry in self.entries:
                w.vector(3, entry.cert_data)
                write_extensions(w, entry.extensions)
        return frame(self.msg_type, w.getvalue())


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateVerify:
    msg_type: ClassVar[HandshakeType] = HandshakeType.certificate_verify
    algorithm: int
    signature: bytes

    @classmethod
    def parse(cls, body: bytes) -> CertificateVerify:
        r = Reader(body)
        algorithm = r.uint16()
        signature = r.vector(2, 1)
        r.expect_end()
        return cls(algorithm=algorithm, signature=signature)

    def serialize(self) -> bytes:
        w = Writer()
        w.uint16(self.algorithm)
        w.vector(2, self.signature)
        return frame(self.msg_type, w.getvalue())


@dataclass(frozen=True, slots=True, kw_only=True)
class Finished:
    msg_type: ClassVar[HandshakeType] = HandshakeType.finished
    verify_data: bytes

    @classmethod
    def parse(cls, body: bytes) -> Finished:
        if len(body) not in (32, 48):
            raise DecodeError("Finished of the wrong length")
        return cls(verify_data=body)

    def serialize(self) -> bytes:
        return frame(self.msg_type, self.verify_data)


@dataclass(frozen=True, slots=True, kw_only=True)
class NewSessionTicket:
    """A TLS 1.3 ticket (4.6.1): the server issues one, the client keeps it as a Session."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.new_session_ticket
    ticket_lifetime: int
    ticket_age_add: int
    ticket_nonce: bytes
    ticket: bytes
    extensions: tuple[Extension, ...] = ()

    @classmethod
    def parse(cls, body: bytes) -> NewSessionTicket:
        r = Reader(body)
        lifetime = int.from_bytes(r.fixed(4), "big")
        age_add = int.from_bytes(r.fixed(4), "big")
        nonce = r.vector(1)
        ticket = r.vector(2, 1)
        extensions = parse_extensions(r)
        r.expect_end()
        return cls(
            ticket_lifetime=lifetime,
            ticket_age_add=age_add,
            ticket_nonce=nonce,
            ticket=ticket,
            extensions=extensions,
        )

    def serialize(self) -> bytes:
        w = Writer()
        w.raw(self.ticket_lifetime.to_bytes(4, "big"))
        w.raw(self.ticket_age_add.to_bytes(4, "big"))
        w.vector(1, self.ticket_nonce)
        w.vector(2, self.ticket)
        write_extensions(w, self.extensions)
        return frame(self.msg_type, w.getvalue())


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyUpdate:
    msg_type: ClassVar[HandshakeType] = HandshakeType.key_update
    request_update: KeyUpdateRequest

    @classmethod
    def parse(cls, body: bytes) -> KeyUpdate:
        r = Reader(body)
        value = r.uint8()
        r.expect_end()
        try:
            return cls(request_update=KeyUpdateRequest(value))
        except ValueError as exc:
            raise IllegalParameter("bad KeyUpdateRequest") from exc

    def serialize(self) -> bytes:
        return frame(self.msg_type, bytes([self.request_update]))


def parse_alert(payload: bytes) -> tuple[AlertLevel | int, AlertDescription | int]:
    """An alert record's level and description, as enums where they are known values."""
    if not payload:  # an alert record holds exactly one alert (RFC 8446 5.1, 6)
        raise UnexpectedMessage("empty alert record")
    if len(payload) != 2:
        raise DecodeError("malformed alert")
    level: AlertLevel | int = payload[0]
    description: AlertDescription | int = payload[1]
    if level in AlertLevel._value2member_map_:
        level = AlertLevel(level)
    if description in AlertDescription._value2member_map_:
        description = AlertDescription(description)
    return level, description
