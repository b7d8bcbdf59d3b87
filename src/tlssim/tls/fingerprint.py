"""A ClientHello fingerprint, in the spirit of JA3/JA4: the parts of a client's offer that a
TLS stack fixes (legacy_version, cipher suites, extension types in order, supported groups,
signature algorithms, ALPN, supported versions), without GREASE values (RFC 8701, random per
connection) and without what changes every time (the random, the session id, key shares).

The same program with the same options sends the same fingerprint, so a server can tell
which stack is talking to it once it has seen each stack's (`tlssim interop` records them).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from tlssim.tls.constants import ContentType, ExtensionType, HandshakeType
from tlssim.tls.errors import TLSError
from tlssim.tls.messages import ClientHello
from tlssim.tls.wire import Reader

_HANDSHAKE_HEADER = 4
_RECORD_HEADER = 5


def is_grease(value: int) -> bool:
    """RFC 8701's reserved values: 0x0A0A, 0x1A1A, ... 0xFAFA (both bytes equal, low
    nibble A)."""
    return value & 0x0F0F == 0x0A0A and value >> 8 == value & 0xFF


def _without_grease(values: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(v for v in values if not is_grease(v))


@dataclass(frozen=True, slots=True)
class Fingerprint:
    legacy_version: int
    cipher_suites: tuple[int, ...]
    extensions: tuple[int, ...]  # extension types in the order sent
    groups: tuple[int, ...]
    signature_algorithms: tuple[int, ...]
    alpn: tuple[str, ...]
    versions: tuple[int, ...]

    @property
    def text(self) -> str:
        """JA3-like: fields separated by commas, values within a field by dashes."""
        fields = (
            (self.legacy_version,),
            self.cipher_suites,
            self.extensions,
            self.groups,
            self.signature_algorithms,
            self.alpn,
            self.versions,
        )
        return ",".join("-".join(str(v) for v in field) for field in fields)

    @property
    def digest(self) -> str:
        """The first 16 hex digits of the text's SHA-256: the fingerprint's short name."""
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]

    @property
    def from_tlssim(self) -> bool:
        """Our own client: it asks which replica answered (a private extension)."""
        return ExtensionType.tlssim_replica in self.extensions


def fingerprint(hello: ClientHello) -> Fingerprint:
    """The ClientHello's fingerprint. An extension body that does not parse counts as
    empty: a fingerprint is taken of whatever a client sends."""
    bodies = {e.type: e.data for e in hello.extensions}
    return Fingerprint(
        legacy_version=hello.legacy_version,
        cipher_suites=_without_grease(hello.cipher_suites),
        extensions=_without_grease(tuple(e.type for e in hello.extensions)),
        groups=_without_grease(_uint16s(bodies.get(ExtensionType.supported_groups), 2)),
        signature_algorithms=_without_grease(
            _uint16s(bodies.get(ExtensionType.signature_algorithms), 2)
        ),
        alpn=_alpn(bodies.get(ExtensionType.application_layer_protocol_negotiation)),
        versions=_without_grease(_uint16s(bodies.get(ExtensionType.supported_versions), 1)),
    )


def _uint16s(body: bytes | None, length_size: int) -> tuple[int, ...]:
    if not body:
        return ()
    try:
        return Reader(body).uint16_list(length_size)
    except TLSError:
        return ()


def _alpn(body: bytes | None) -> tuple[str, ...]:
    if not body:
        return ()
    names: list[str] = []
    try:
        with Reader(body).block(2) as r:
            while not r.eof():
                names.append(r.vector(1).decode("ascii", "replace"))
    except TLSError:
        return ()
    return tuple(names)


def client_hello_in(data: bytes) -> ClientHello | None:
    """The ClientHello at the start of a client's byte stream (TLS records, a handshake
    message possibly split across several), or None while it is incomplete or not one."""
    handshake = bytearray()
    at = 0
    while at + _RECORD_HEADER <= len(data):
        kind, length = data[at], int.from_bytes(data[at + 3 : at + 5], "big")
        if kind != ContentType.handshake:
            return None
        handshake += data[at + _RECORD_HEADER : at + _RECORD_HEADER + length]
        at += _RECORD_HEADER + length
        if len(handshake) >= _HANDSHAKE_HEADER:
            if handshake[0] != HandshakeType.client_hello:
                return None
            size = int.from_bytes(handshake[1:4], "big")
            if len(handshake) >= _HANDSHAKE_HEADER + size:
                body = bytes(handshake[_HANDSHAKE_HEADER : _HANDSHAKE_HEADER + size])
                try:
                    return ClientHello.parse(body)
                except TLSError:
                    return None
    return None
