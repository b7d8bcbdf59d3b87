"""Every TLS record of a captured connection, both ways, as ``openssl s_client -trace`` shows
them: content type, version, length, each handshake message with its fields and extensions,
and for a protected record the inner content type and the traffic secret that protected it.

The input is what a report already holds when asked for it: both directions' bytes
(``--capture``) and the NSS key log lines (``--keylog``). Protected records are opened with
the engine's own record protection: TLS 1.3 under the secret the key log names for the
client random (early data, handshake traffic, application traffic), TLS 1.2 under the key
block of the master secret (``CLIENT_RANDOM``), both checked by the AEAD tag.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from cryptography import x509

from tlssim.report.fit import terminal_width, wrap
from tlssim.tls.constants import (
    CipherSuite,
    ContentType,
    ExtensionType,
    HandshakeType,
    NamedGroup,
    ProtocolVersion,
    SignatureScheme,
    name_of,
)
from tlssim.tls.describe import client_hello_fields, server_hello_fields
from tlssim.tls.errors import TLSError
from tlssim.tls.extensions import Extension, decode_uint16, index_extensions
from tlssim.tls.keyschedule import TLS13_SUITES, next_traffic_secret
from tlssim.tls.messages import (
    Certificate,
    CertificateVerify,
    ClientHello,
    EncryptedExtensions,
    NewSessionTicket,
    ServerHello,
    parse_alert,
)
from tlssim.tls.messages12 import Certificate12, CertificateStatus, ServerKeyExchange
from tlssim.tls.record import RecordProtection, Tls12RecordProtection
from tlssim.tls.tls12 import TLS12_SUITES, key_block

CLIENT, SERVER = "client", "server"

#: The key log labels of one direction, in the order a connection uses them.
_TLS13_SECRETS = {
    CLIENT: (
        ("CLIENT_EARLY_TRAFFIC_SECRET", "client early traffic secret (0-RTT)"),
        ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", "client handshake traffic secret"),
        ("CLIENT_TRAFFIC_SECRET_0", "client application traffic secret"),
    ),
    SERVER: (
        ("SERVER_HANDSHAKE_TRAFFIC_SECRET", "server handshake traffic secret"),
        ("SERVER_TRAFFIC_SECRET_0", "server application traffic secret"),
    ),
}
#: Content type names as OpenSSL's trace prints them.
_OPENSSL_TYPE = {20: "ChangeCipherSpec", 21: "Alert", 22: "Handshake", 23: "ApplicationData"}
_HEX_LIMIT = 64  # bytes of a message shown in hex; the rest is counted


@dataclass(frozen=True, slots=True)
class Message:
    """One handshake message, decoded."""

    name: str  # "ClientHello", as OpenSSL names it
    length: int  # the body, without its 4-byte header
    fields: dict[str, object] = field(default_factory=dict)
    extensions: tuple[tuple[str, int], ...] = ()  # (name, length) in the order sent
    head_hex: str = ""  # the first bytes, header included


@dataclass(frozen=True, slots=True)
class Record:
    """One TLS record as it went over the wire."""

    sender: str  # "client" or "server"
    index: int  # 1, 2, ... per sender
    content_type: int
    version: int
    length: int  # of the fragment, as the header says
    header_hex: str
    protected_by: str = ""  # the traffic secret, when the record was protected
    inner_type: int | None = None  # TLS 1.3: the content type inside the protection
    plaintext_length: int | None = None
    messages: tuple[Message, ...] = ()
    note: str = ""  # an alert, application data, or why it stayed closed

    @property
    def type_name(self) -> str:
        return _OPENSSL_TYPE.get(self.content_type, f"0x{self.content_type:02x}")

    @property
    def inner_name(self) -> str:
        if self.inner_type is None:
            return ""
        return _OPENSSL_TYPE.get(self.inner_type, f"0x{self.inner_type:02x}")

    @property
    def version_name(self) -> str:
        return _version_label(self.version)


def _version_label(version: int) -> str:
    try:
        return f"{ProtocolVersion(version).label} (0x{version:04x})"
    except ValueError:
        return f"0x{version:04x}"


def _camel(msg_type: int) -> str:
    return "".join(part.title() for part in name_of(HandshakeType, msg_type).split("_"))


def _split(stream: bytes) -> Iterator[tuple[bytes, bytes]]:
    at = 0
    while at + 5 <= len(stream):
        length = int.from_bytes(stream[at + 3 : at + 5], "big")
        if at + 5 + length > len(stream):
            return
        yield stream[at : at + 5], stream[at + 5 : at + 5 + length]
        at += 5 + length


def _secrets(keylog: Iterable[str]) -> dict[tuple[str, bytes], bytes]:
    out: dict[tuple[str, bytes], bytes] = {}
    for line in keylog:
        parts = line.split()
        if len(parts) == 3:
            try:
                out[(parts[0], bytes.fromhex(parts[1]))] = bytes.fromhex(parts[2])
            except ValueError:
                continue
    return out


def _extensions(extensions: tuple[Extension, ...]) -> tuple[tuple[str, int], ...]:
    return tuple((name_of(ExtensionType, e.type), len(e.data)) for e in extensions)


def _subject(der: bytes) -> str:
    try:
        return x509.load_der_x509_certificate(der).subject.rfc4514_string()
    except ValueError:
        return "(not a certificate)"


def _chain_fields(chain: list[bytes]) -> dict[str, object]:
    return {
        "certificates": len(chain),
        "subjects": [_subject(der) for der in chain],
        "sizes": [len(der) for der in chain],
    }


def _message(raw: bytes, tls13: bool = True) -> Message:
    msg_type, body = raw[0], raw[4:]
    name = _camel(msg_type)
    fields: dict[str, object] = {}
    extensions: tuple[tuple[str, int], ...] = ()
    try:
        if msg_type == HandshakeType.client_hello:
            ch = ClientHello.parse(body)
            fields = client_hello_fields(ch, index_extensions(ch.extensions))
            extensions = _extensions(ch.extensions)
        elif msg_type == HandshakeType.server_hello:
            sh = ServerHello.parse(body)
            exts = index_extensions(sh.extensions)
            share = exts.get(ExtensionType.key_share, b"")
            group = int.from_bytes(share[:2], "big") if len(share) >= 2 else None
            fields = server_hello_fields(sh, exts, group)
            if sh.is_hello_retry_request:
                name = "HelloRetryRequest"
            extensions = _extensions(sh.extensions)
        elif msg_type == HandshakeType.encrypted_extensions:
            extensions = _extensions(EncryptedExtensions.parse(body).extensions)
        elif msg_type == HandshakeType.certificate and tls13:
            cert = Certificate.parse(body)
            fields = {"context": cert.request_context.hex()} | _chain_fields(
                [e.cert_data for e in cert.entries]
            )
        elif msg_type == HandshakeType.certificate:
            fields = _chain_fields(list(Certificate12.parse(body).chain))
        elif msg_type == HandshakeType.certificate_verify:
            cv = CertificateVerify.parse(body)
            fields = {
                "signature_algorithm": name_of(SignatureScheme, cv.algorithm),
                "signature_length": len(cv.signature),
            }
        elif msg_type == HandshakeType.server_key_exchange:
            ske = ServerKeyExchange.parse(body)
            fields = {
                "named_group": name_of(NamedGroup, ske.group),
                "public_length": len(ske.public),
                # TLS 1.0 and 1.1 name no algorithm: MD5+SHA-1 (RSA) or SHA-1 (ECDSA)
                "signature_algorithm": (
                    "(implied by the version)"
                    if ske.algorithm is None
                    else name_of(SignatureScheme, ske.algorithm)
                ),
                "signature_length": len(ske.signature),
            }
        elif msg_type == HandshakeType.certificate_status:
            fields = {"ocsp_response_length": len(CertificateStatus.parse(body).ocsp_response)}
        elif msg_type == HandshakeType.new_session_ticket and tls13:
            ticket = NewSessionTicket.parse(body)
            fields = {
                "ticket_lifetime_hint": ticket.ticket_lifetime,
                "ticket_age_add": ticket.ticket_age_add,
                "ticket_nonce": ticket.ticket_nonce.hex(),
                "ticket_length": len(ticket.ticket),
            }
            extensions = _extensions(ticket.extensions)
        elif msg_type == HandshakeType.new_session_ticket:
            fields = {
                "ticket_lifetime_hint": int.from_bytes(body[:4], "big"),
                "ticket_length": int.from_bytes(body[4:6], "big"),
            }
        elif msg_type == HandshakeType.finished:
            fields = {"verify_data": body.hex()}
    except (TLSError, ValueError, IndexError):
        fields = {"malformed": True}
    fields.pop("extensions", None)
    return Message(name, len(body), fields, extensions, raw[:_HEX_LIMIT].hex())


class _Direction:
    """One sender's records, opened in order as the key log allows."""

    def __init__(self, sender: str) -> None:
        self.sender = sender
        self.tls13 = True
        self.hs = bytearray()
        #: (label, protection) still to try, the current one first
        self.keys: list[tuple[str, RecordProtection | Tls12RecordProtection]] = []
        self.tls12_protection: tuple[str, Tls12RecordProtection] | None = None
        self.after_ccs = False

    def messages(self, payload: bytes) -> tuple[Message, ...]:
        self.hs += payload
        out = []
        while len(self.hs) >= 4:
            length = int.from_bytes(self.hs[1:4], "big")
            if len(self.hs) < 4 + length:
                break
            out.append(_message(bytes(self.hs[: 4 + length]), self.tls13))
            del self.hs[: 4 + length]
        return tuple(out)

    def open13(self, header: bytes, payload: bytes) -> tuple[str, int, bytes] | None:
        """Try the current key, then the ones after it (each starts at sequence 0)."""
        for at, (label, protection) in enumerate(self.keys):
            seq = protection.seq
            try:
                inner, content = protection.open(header, payload)
            except TLSError:
                protection.seq = seq
                continue
            del self.keys[:at]
            return label, inner, content
        return None


@dataclass(slots=True)
class _Session:
    version: int = ProtocolVersion.TLSv1_2
    suite: int | None = None
    client_random: bytes = b""
    server_random: bytes = b""


def records_of(
    client_to_server: bytes,
    server_to_client: bytes,
    keylog: Iterable[str] = (),
    order: Sequence[tuple[str, int]] = (),
) -> list[Record]:
    """Both directions' records in the one order they crossed the wire, as `order` (the
    capture's chunks: sender and byte count, in turn) tells it: a record crossed with the
    chunk that carried its last byte. Without `order`, the client's records first, then the
    server's, each in order."""
    secrets = _secrets(keylog)
    session = _session(client_to_server, server_to_client)
    directions = {CLIENT: _Direction(CLIENT), SERVER: _Direction(SERVER)}
    for direction in directions.values():
        direction.tls13 = session.version == ProtocolVersion.TLSv1_3
    if session.version == ProtocolVersion.TLSv1_3 and session.suite in TLS13_SUITES:
        params = TLS13_SUITES[CipherSuite(session.suite)]
        for sender, labels in _TLS13_SECRETS.items():
            for label, described in labels:
                secret = secrets.get((label, session.client_random))
                if secret is None:
                    continue
                directions[sender].keys.append((described, RecordProtection(params, secret)))
                if label.endswith("_0"):  # after a KeyUpdate: the next generation
                    following = next_traffic_secret(params, secret)
                    directions[sender].keys.append(
                        (described + " (after KeyUpdate)", RecordProtection(params, following))
                    )
    elif session.suite in TLS12_SUITES:
        master = secrets.get(("CLIENT_RANDOM", session.client_random))
        if master is not None:
            suite = TLS12_SUITES[CipherSuite(session.suite)]
            kb = key_block(suite, master, session.client_random, session.server_random)
            directions[CLIENT].tls12_protection = (
                "client write key (TLS 1.2 key block)",
                Tls12RecordProtection(suite, kb.client_write_key, kb.client_write_iv),
            )
            directions[SERVER].tls12_protection = (
                "server write key (TLS 1.2 key block)",
                Tls12RecordProtection(suite, kb.server_write_key, kb.server_write_iv),
            )
    # Each direction is opened in its own order (keys follow one another within a
    # direction); then both are merged by when each record crossed.
    crossed: list[tuple[int, Record]] = []
    for sender, stream in ((CLIENT, client_to_server), (SERVER, server_to_client)):
        direction = directions[sender]
        chunk_of = _chunks(sender, order)
        end = 0
        for index, (header, payload) in enumerate(_split(stream), start=1):
            end += len(header) + len(payload)
            crossed.append((chunk_of(end), _record(session, direction, index, header, payload)))
    if not order:
        return [record for _, record in crossed]
    return [record for _, record in sorted(crossed, key=lambda pair: pair[0])]


def _chunks(sender: str, order: Sequence[tuple[str, int]]) -> Callable[[int], int]:
    """For a byte offset of `sender`'s stream, the number of the chunk (in `order`) that
    carried it; past the recorded chunks, the end."""
    ends: list[int] = []
    numbers: list[int] = []
    total = 0
    for number, (who, size) in enumerate(order):
        if who == sender:
            total += size
            ends.append(total)
            numbers.append(number)

    def chunk_of(end: int) -> int:
        at = bisect.bisect_left(ends, end)
        return numbers[at] if at < len(numbers) else len(order)

    return chunk_of


def _session(client_to_server: bytes, server_to_client: bytes) -> _Session:
    """The client random, the version and the suite, from the plaintext hellos."""
    session = _Session()
    for stream, wanted in (
        (client_to_server, HandshakeType.client_hello),
        (server_to_client, HandshakeType.server_hello),
    ):
        hs = b"".join(p for h, p in _split(stream) if h[0] == ContentType.handshake)
        at = 0
        while at + 4 <= len(hs):
            length = int.from_bytes(hs[at + 1 : at + 4], "big")
            body = hs[at + 4 : at + 4 + length]
            if hs[at] == wanted:
                try:
                    if wanted == HandshakeType.client_hello:
                        session.client_random = ClientHello.parse(body).random
                    else:
                        sh = ServerHello.parse(body)
                        exts = index_extensions(sh.extensions)
                        versions = exts.get(ExtensionType.supported_versions)
                        if versions is not None:
                            session.version = decode_uint16(versions)
                        if not sh.is_hello_retry_request:
                            session.suite = sh.cipher_suite
                            session.server_random = sh.random
                except (TLSError, ValueError, IndexError):
                    pass
                if wanted == HandshakeType.client_hello or session.suite is not None:
                    break
            at += 4 + length
    return session


def _record(
    session: _Session, direction: _Direction, index: int, header: bytes, payload: bytes
) -> Record:
    content_type = header[0]
    base = {
        "sender": direction.sender,
        "index": index,
        "content_type": content_type,
        "version": int.from_bytes(header[1:3], "big"),
        "length": len(payload),
        "header_hex": header.hex(),
    }
    tls13 = session.version == ProtocolVersion.TLSv1_3
    if content_type == ContentType.change_cipher_spec:
        direction.after_ccs = True
        note = "compatibility (RFC 8446 D.4), not protected" if tls13 else "keys change here"
        return Record(**base, note=note)  # type: ignore[arg-type]
    if tls13 and content_type == ContentType.application_data:
        opened = direction.open13(header, payload)
        if opened is None:
            return Record(**base, note="protected: no key for it in the key log")  # type: ignore[arg-type]
        label, inner, content = opened
        return _content(base, direction, inner, content, label)
    if not tls13 and direction.after_ccs:
        if direction.tls12_protection is None:
            return Record(**base, note="protected: no master secret in the key log")  # type: ignore[arg-type]
        label, protection = direction.tls12_protection
        try:
            _, content = protection.open(header, payload)
        except TLSError:
            return Record(**base, note="protected: did not open with the key log's secret")  # type: ignore[arg-type]
        return _content(base, direction, None, content, label, outer=content_type)
    return _content(base, direction, None, payload, "", outer=content_type)


def _content(
    base: dict[str, object],
    direction: _Direction,
    inner: int | None,
    content: bytes,
    label: str,
    outer: int | None = None,
) -> Record:
    kind = inner if inner is not None else outer
    messages: tuple[Message, ...] = ()
    note = ""
    if kind == ContentType.handshake:
        messages = direction.messages(content)
    elif kind == ContentType.alert:
        level, description = parse_alert(content) if len(content) == 2 else (0, 0)
        note = f"alert {getattr(level, 'name', level)} {getattr(description, 'name', description)}"
    elif kind == ContentType.application_data:
        note = f"application data: {content[:32].hex()}{'...' if len(content) > 32 else ''}"
    return Record(
        **base,  # type: ignore[arg-type]
        protected_by=label,
        inner_type=inner,
        plaintext_length=len(content) if label else None,
        messages=messages,
        note=note,
    )


def to_dicts(records: Iterable[Record]) -> list[dict[str, object]]:
    """JSON-ready records, for pages and the console."""
    return [
        {
            "sender": r.sender,
            "index": r.index,
            "content_type": r.type_name,
            "version": r.version_name,
            "length": r.length,
            "header": r.header_hex,
            "protected_by": r.protected_by,
            "inner_type": r.inner_name,
            "plaintext_length": r.plaintext_length,
            "note": r.note,
            "messages": [
                {
                    "name": m.name,
                    "length": m.length,
                    "fields": m.fields,
                    "extensions": [list(e) for e in m.extensions],
                    "hex": m.head_hex,
                }
                for m in r.messages
            ],
        }
        for r in records
    ]


def render_records(records: Iterable[Record], width: int | None = None) -> str:
    """The records as text, in the shape of ``openssl s_client -trace``, every line within
    `width` columns (the terminal's by default): long values wrap under themselves, hex
    wraps a whole byte at a time, and nothing is cut."""
    width = width or terminal_width()
    lines: list[str] = []

    def add(text: str, indent: int, hanging: int = 2) -> None:
        lines.extend(_fit(text, width, indent, hanging))

    for r in records:
        add(f"{'Sent' if r.sender == CLIENT else 'Received'} Record #{r.index} ({r.sender})", 0)
        lines.append("Header:")
        add(f"Version = {r.version_name}", 2)
        add(f"Content Type = {r.type_name} ({r.content_type})", 2)
        add(f"Length = {r.length}", 2)
        lines.extend(_hex("Bytes = ", r.header_hex, "", width, 2))
        if r.protected_by:
            add(f"Protected by = {r.protected_by}", 2)
        if r.inner_type is not None:
            add(f"Inner Content Type = {r.inner_name} ({r.inner_type})", 2)
        if r.plaintext_length is not None:
            add(f"Plaintext Length = {r.plaintext_length}", 2)
        if r.note:
            label, _, data = r.note.partition(": ")
            if label == "application data":
                more = "..." if data.endswith("...") else ""
                lines.extend(_hex(f"{label}: ", data.removesuffix("..."), more, width, 2))
            else:
                add(r.note, 2)
        for m in r.messages:
            add(f"{m.name}, Length={m.length}", 4)
            for key, value in m.fields.items():
                shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
                if key == "verify_data" or (len(shown) > 16 and _is_hex(shown)):
                    lines.extend(_hex(f"{key}: ", shown, "", width, 6))
                else:
                    add(f"{key}: {shown}", 6, 4)
            if m.extensions:
                add(f"extensions ({len(m.extensions)}):", 6)
                for name, length in m.extensions:
                    add(f"extension_type={name}, length={length}", 8)
            more = "..." if m.length + 4 > _HEX_LIMIT else ""
            lines.extend(_hex("bytes: ", m.head_hex, more, width, 6))
        lines.append("")
    return "\n".join(lines)


def _is_hex(text: str) -> bool:
    return len(text) % 2 == 0 and all(c in "0123456789abcdef" for c in text)


def _fit(text: str, width: int, indent: int, hanging: int) -> list[str]:
    """`text` wrapped at its indentation; when a word (a name) does not fit there, the
    indentation gives way rather than the word."""
    longest = max((len(word) for word in text.split()), default=0)
    indent = max(0, min(indent, width - longest))
    hanging = max(0, min(hanging, width - indent - longest))
    return wrap(text, width, indent=indent, hanging=hanging)


def _hex(label: str, digits: str, more: str, width: int, indent: int) -> list[str]:
    """`label` and hex `digits`, wrapped a whole byte at a time: on the label's line when
    it fits, else under it, two columns further in."""
    if indent + len(label) + len(digits) + len(more) <= width:
        return [f"{' ' * indent}{label}{digits}{more}"]
    under = indent + 2
    per_line = max(2, (width - under) // 2 * 2)
    lines = [f"{' ' * indent}{label.rstrip()}"]
    for at in range(0, len(digits), per_line):
        lines.append(f"{' ' * under}{digits[at : at + per_line]}")
    if more:
        if len(lines[-1]) + len(more) <= width:
            lines[-1] += more
        else:
            lines.append(f"{' ' * under}{more}")
    return lines
