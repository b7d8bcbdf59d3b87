"""TLS records as they pass the proxy: an incremental parser, a selector, hello rewriting.

The proxy never decrypts. It frames the byte stream into records (RFC 8446 section 5.1,
RFC 5246 section 6.2), names each record by its content type and — for plaintext
handshake records — by the type of the first handshake message it carries, and can
rewrite the plaintext ClientHello and ServerHello. Bytes that do not look like TLS records
make the parser give up and pass the rest of the stream through untouched.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from tlssim.faults.errors import BadRequestError
from tlssim.tls.constants import ContentType, ExtensionType, HandshakeType, ProtocolVersion

HEADER_SIZE = 5
# RFC 5246 allows a TLSCiphertext fragment of 2^14 + 2048 bytes; anything larger is not TLS.
MAX_RECORD_BODY = 2**14 + 2048
TLS13 = int(ProtocolVersion.TLSv1_3)


@dataclass(frozen=True, slots=True)
class Record:
    """One whole record as it travelled (header included); `encrypted` is our best guess."""

    raw: bytes
    encrypted: bool

    @property
    def content_type(self) -> int:
        return self.raw[0]

    @property
    def body(self) -> bytes:
        return self.raw[HEADER_SIZE:]

    @property
    def handshake_type(self) -> int | None:
        """The type of the first handshake message in a plaintext handshake record."""
        if self.content_type != ContentType.handshake or self.encrypted or not self.body:
            return None
        return self.body[0]

    @staticmethod
    def build(content_type: int, version: bytes, body: bytes, encrypted: bool) -> Record:
        header = bytes([content_type]) + version + len(body).to_bytes(2, "big")
        return Record(header + body, encrypted)


class RecordParser:
    """Frames one direction of a connection into records, however the bytes are chunked.

    `feed()` returns the records completed by the new bytes and, once the stream stops
    looking like TLS, the raw bytes to pass on as they are (the parser stays in pass-through
    mode from then on). After a change_cipher_spec record, handshake records are encrypted
    (TLS 1.2) and are no longer classified by handshake type.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.passthrough = False
        self._after_ccs = False

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> tuple[list[Record], bytes]:
        if self.passthrough:
            return [], data
        self._buffer += data
        records: list[Record] = []
        while len(self._buffer) >= HEADER_SIZE:
            content_type, major = self._buffer[0], self._buffer[1]
            length = int.from_bytes(self._buffer[3:5], "big")
            if content_type not in _KNOWN_TYPES or major != 3 or length > MAX_RECORD_BODY:
                self.passthrough = True
                rest = bytes(self._buffer)
                self._buffer.clear()
                return records, rest
            end = HEADER_SIZE + length
            if len(self._buffer) < end:
                break
            raw = bytes(self._buffer[:end])
            del self._buffer[:end]
            encrypted = content_type == ContentType.application_data or (
                self._after_ccs and content_type != ContentType.change_cipher_spec
            )
            records.append(Record(raw, encrypted))
            if content_type == ContentType.change_cipher_spec:
                self._after_ccs = True
        return records, b""

    def flush(self) -> bytes:
        """Whatever partial record is buffered (at the end of the stream)."""
        rest = bytes(self._buffer)
        self._buffer.clear()
        return rest


_KNOWN_TYPES = frozenset(int(t) for t in ContentType if t != ContentType.invalid) | {24}


def parse_code(raw: str | int | float, enum_type: type[enum.IntEnum], what: str) -> int | None:
    """A code point given by RFC name or number; "" (or "any") means no constraint."""
    if isinstance(raw, float):
        if raw != int(raw):
            raise BadRequestError(f"attribute {what!r} must be a name or an integer")
        raw = int(raw)
    if isinstance(raw, int):
        if not 0 <= raw <= 255:
            raise BadRequestError(f"attribute {what!r} must be between 0 and 255")
        return raw
    text = raw.strip().lower()
    if text in ("", "any"):
        return None
    if text.isdigit():
        return parse_code(int(text), enum_type, what)
    try:
        return int(enum_type[text])
    except KeyError:
        names = ", ".join(m.name for m in enum_type)
        raise BadRequestError(
            f"attribute {what!r}: unknown name {raw!r} (one of {names})"
        ) from None


@dataclass(frozen=True, slots=True)
class Selector:
    """Which records match: content type, first handshake message type (plaintext only)."""

    content_type: int | None
    handshake_type: int | None

    @classmethod
    def parse(cls, content_type: str | int | float, handshake_type: str | int | float) -> Selector:
        ct = parse_code(content_type, ContentType, "content_type")
        ht = parse_code(handshake_type, HandshakeType, "handshake_type")
        if ht is not None and ct is None:
            ct = int(ContentType.handshake)
        return cls(ct, ht)

    def matches(self, record: Record) -> bool:
        if self.content_type is not None and record.content_type != self.content_type:
            return False
        return self.handshake_type is None or record.handshake_type == self.handshake_type


# -- plaintext hello rewriting ----------------------------------------------------------


class HelloRewriteError(ValueError):
    """The record does not hold one whole ClientHello/ServerHello we can rewrite."""


@dataclass(slots=True)
class _Hello:
    """A ClientHello or ServerHello cut into the pieces a rewrite touches."""

    header: bytes  # record header
    msg_type: int
    head: bytearray  # legacy_version .. compression (everything before the extensions)
    extensions: list[tuple[int, bytes]]
    trailer: bytes  # further handshake messages coalesced into the same record

    def serialize(self) -> bytes:
        ext = b"".join(
            t.to_bytes(2, "big") + len(d).to_bytes(2, "big") + d for t, d in self.extensions
        )
        body = bytes(self.head) + len(ext).to_bytes(2, "big") + ext
        message = bytes([self.msg_type]) + len(body).to_bytes(3, "big") + body
        fragment = message + self.trailer
        return self.header[:3] + len(fragment).to_bytes(2, "big") + fragment


def _split_hello(record: Record) -> _Hello:
    msg_type = record.handshake_type
    if msg_type not in (HandshakeType.client_hello, HandshakeType.server_hello):
        raise HelloRewriteError("not a plaintext ClientHello or ServerHello")
    body = record.body
    if len(body) < 4:
        raise HelloRewriteError("truncated handshake header")
    length = int.from_bytes(body[1:4], "big")
    if len(body) < 4 + length:
        raise HelloRewriteError("hello continues in the next record")
    msg, trailer = body[4 : 4 + length], body[4 + length :]
    try:
        pos = 2 + 32  # legacy_version, random
        pos += 1 + msg[pos]  # legacy_session_id(_echo)
        if msg_type == HandshakeType.client_hello:
            pos += 2 + int.from_bytes(msg[pos : pos + 2], "big")  # cipher_suites
            pos += 1 + msg[pos]  # legacy_compression_methods
        else:
            pos += 2 + 1  # cipher_suite, legacy_compression_method
        if pos > len(msg):
            raise IndexError
        extensions: list[tuple[int, bytes]] = []
        if pos < len(msg):
            total = int.from_bytes(msg[pos : pos + 2], "big")
            ext_data, at = msg[pos + 2 : pos + 2 + total], 0
            if len(ext_data) != total or pos + 2 + total != len(msg):
                raise IndexError
            while at < total:
                ext_type = int.from_bytes(ext_data[at : at + 2], "big")
                ext_len = int.from_bytes(ext_data[at + 2 : at + 4], "big")
                if at + 4 + ext_len > total:
                    raise IndexError
                extensions.append((ext_type, ext_data[at + 4 : at + 4 + ext_len]))
                at += 4 + ext_len
    except IndexError:
        raise HelloRewriteError("malformed hello") from None
    return _Hello(record.raw[:HEADER_SIZE], msg_type, bytearray(msg[:pos]), extensions, trailer)


def remove_tls13(record: Record, ceiling: int = TLS13 - 1) -> Record:
    """A ClientHello record without 0x0304 (or, with ``ceiling``, every version above it)
    in supported_versions (the extension goes if nothing else is left in it); every length
    field is fixed."""
    hello = _split_hello(record)
    if hello.msg_type != HandshakeType.client_hello:
        raise HelloRewriteError("not a ClientHello")
    kept: list[tuple[int, bytes]] = []
    for ext_type, data in hello.extensions:
        if ext_type == ExtensionType.supported_versions:
            versions = [data[i : i + 2] for i in range(1, len(data) - 1, 2)]
            rest = [v for v in versions if int.from_bytes(v, "big") <= ceiling]
            if not rest:
                continue
            data = bytes([2 * len(rest)]) + b"".join(rest)
        kept.append((ext_type, data))
    hello.extensions = kept
    return Record(hello.serialize(), record.encrypted)


HELLO_FIELDS = ("random", "cipher_suite", "legacy_version")


def tamper_hello_field(record: Record, field: str, value: int | None, xor: int) -> Record:
    """A ClientHello/ServerHello record with one field changed.

    `legacy_version` is set to `value` (or XORed with `xor`); `random` has its first byte
    XORed with `xor`; `cipher_suite` — the ServerHello's choice, or the ClientHello's first
    offer — is set to `value` (or XORed with `xor`).
    """
    hello = _split_hello(record)
    head = hello.head
    if field == "legacy_version":
        at = 0
    elif field == "random":
        head[2] ^= xor & 0xFF
        return Record(hello.serialize(), record.encrypted)
    elif field == "cipher_suite":
        at = 2 + 32 + 1 + head[34]
        if hello.msg_type == HandshakeType.client_hello:
            at += 2
            if at + 2 > len(head):
                raise HelloRewriteError("no cipher suites offered")
    else:
        raise HelloRewriteError(f"unknown field {field!r}")
    current = int.from_bytes(head[at : at + 2], "big")
    new = value if value is not None else current ^ xor
    head[at : at + 2] = (new & 0xFFFF).to_bytes(2, "big")
    return Record(hello.serialize(), record.encrypted)


def replace_certificate(record: Record, chain_der: list[bytes]) -> Record:
    """Puts another chain in place of the Certificate message of a plaintext (TLS 1.2)
    handshake record, fixing every length; raises HelloRewriteError when there is none."""
    if record.encrypted or record.content_type != ContentType.handshake:
        raise HelloRewriteError("not a plaintext handshake record")
    body, out, at = record.body, bytearray(), 0
    found = False
    while at + 4 <= len(body):
        kind, length = body[at], int.from_bytes(body[at + 1 : at + 4], "big")
        end = at + 4 + length
        if end > len(body):
            raise HelloRewriteError("a handshake message continues in the next record")
        if kind == HandshakeType.certificate and not found:
            entries = b"".join(len(der).to_bytes(3, "big") + der for der in chain_der)
            message = len(entries).to_bytes(3, "big") + entries
            out += bytes([kind]) + len(message).to_bytes(3, "big") + message
            found = True
        else:
            out += body[at:end]
        at = end
    if not found:
        raise HelloRewriteError("no Certificate message in this record")
    return Record.build(record.content_type, record.raw[1:3], bytes(out), record.encrypted)
