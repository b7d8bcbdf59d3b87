"""Handshake-aware toxics: act on one chosen TLS record of a connection's direction.

Each of these toxics frames its direction into records (see `tlsrecords`) and picks the
`index`-th record (0-based) matching `content_type` and, for plaintext handshake records,
`handshake_type`. Every other record flows on unchanged, and once the toxic has done its
work the rest of the stream passes through without being parsed.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from types import MappingProxyType

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tlssim.faults.errors import BadRequestError
from tlssim.faults.tlsrecords import (
    HELLO_FIELDS,
    HelloRewriteError,
    Record,
    RecordParser,
    Selector,
    remove_tls13,
    replace_certificate,
    tamper_hello_field,
)
from tlssim.faults.toxics import (
    AttrValue,
    Chunk,
    Emit,
    LinkContext,
    Toxic,
    ToxicSpec,
    register_toxic,
)

log = logging.getLogger(__name__)

SELECTOR_DEFAULTS: Mapping[str, AttrValue] = {
    "content_type": "handshake",
    "handshake_type": "",
    "index": 0,
}
# Attributes naming a code point: an RFC name or a number.
_CODE_KEYS = frozenset(
    {"content_type", "handshake_type", "replay_content_type", "replay_handshake_type"}
)
# Replays on connections of their own, running (referenced so they are not collected).
_REPLAYS: set[asyncio.Future[None]] = set()
# What tls_downgrade may leave a ClientHello with: the best version kept.
_DOWNGRADE_TO = {"1.2": 0x0303, "1.1": 0x0302, "1.0": 0x0301}
# Numeric attributes that may be negative.
_SIGNED_KEYS = frozenset({"flip_byte", "value"})


class TlsToxic(Toxic):
    """Base of the TLS toxics: record framing, selection, ordered emission."""

    defaults = MappingProxyType(dict(SELECTOR_DEFAULTS))

    def __init__(self, spec: ToxicSpec, link: LinkContext, rng: random.Random) -> None:
        super().__init__(spec, link, rng)
        self.selector = Selector.parse(self.attr("content_type"), self.attr("handshake_type"))
        self.target = int(self.num("index"))
        self.matched = 0
        self.done = False
        self._parser = RecordParser()
        self._out = bytearray()
        self._emit: Emit | None = None
        self._arrival = 0.0
        self._lock = asyncio.Lock()
        self._late: list[asyncio.Task[None]] = []

    @classmethod
    def parse_attributes(
        cls, raw: object, base: Mapping[str, AttrValue]
    ) -> Mapping[str, AttrValue]:
        if not isinstance(raw, dict):
            raise BadRequestError("attributes must be a JSON object")
        special: dict[str, AttrValue] = {}
        plain = dict(raw)
        for key in list(plain):
            if key not in cls.defaults or key not in _CODE_KEYS | _SIGNED_KEYS:
                continue
            value = plain.pop(key)
            if key in _CODE_KEYS:
                if isinstance(value, bool) or not isinstance(value, str | int):
                    raise BadRequestError(f"attribute {key!r} must be a name or a number")
            elif isinstance(value, bool) or not isinstance(value, int):
                raise BadRequestError(f"attribute {key!r} must be an integer")
            special[key] = value
        out = dict(super().parse_attributes(plain, base))
        out.update(special)
        cls.validate(out)
        return MappingProxyType(out)

    @classmethod
    def validate(cls, attributes: Mapping[str, AttrValue]) -> None:
        """Check attribute combinations; raise BadRequestError."""
        Selector.parse(attributes["content_type"], attributes["handshake_type"])

    def attr(self, key: str) -> AttrValue:
        return self.spec.attributes.get(key, self.defaults.get(key, ""))

    # -- the stream ---------------------------------------------------------------------

    async def on_data(self, chunk: Chunk, emit: Emit) -> None:
        self._emit, self._arrival = emit, chunk.arrival
        if self._parser.passthrough:
            await self._send_now(chunk.data)
            return
        records, rest = self._parser.feed(chunk.data)
        for record in records:
            if self.done or not self.selector.matches(record):
                self.on_other(record)
                continue
            if self.matched == self.target:
                self.done = True
                self.on_selected(record)
            else:
                self.on_earlier(record, self.matched)
            self.matched += 1
        self._out += rest
        if self.done and not self.holding():
            self._out += self._parser.flush()
            self._parser.passthrough = True
        await self._send_now(b"")

    async def on_eof(self) -> None:
        for task in self._late:
            await asyncio.wait({task})
        self.on_end()
        self._out += self._parser.flush()
        await self._send_now(b"")

    def send(self, raw: bytes) -> None:
        """Queue bytes to go out (in order) at the end of the current chunk."""
        self._out += raw

    async def _send_now(self, data: bytes) -> None:
        self._out += data
        if not self._out or self._emit is None:
            return
        out = bytes(self._out)
        self._out.clear()
        async with self._lock:
            await self._emit(Chunk(out, self._arrival))

    def send_later(self, raw: bytes, seconds: float) -> None:
        """Send bytes after a pause (sooner if the toxic is removed) while others flow."""

        async def later() -> None:
            await self.pause(seconds)
            if self._emit is not None:
                async with self._lock:
                    await self._emit(Chunk(raw, self._arrival))

        task = self.link.spawn(later())
        self._late.append(task)

    # -- hooks --------------------------------------------------------------------------

    def holding(self) -> bool:
        """True while the toxic still needs to see records after the selected one."""
        return False

    def on_other(self, record: Record) -> None:
        self.send(record.raw)

    def on_earlier(self, record: Record, nth: int) -> None:
        """A matching record before the selected one."""
        self.send(record.raw)

    def on_selected(self, record: Record) -> None:
        self.send(record.raw)

    def on_end(self) -> None:
        """The stream ended: send whatever is still held."""


@register_toxic("tls_drop")
class TlsDropToxic(TlsToxic):
    """Drops the selected record."""

    def on_selected(self, record: Record) -> None:
        log.info("%s: dropped a %d-byte record", self.link.connection_id, len(record.raw))


@register_toxic("tls_delay")
class TlsDelayToxic(TlsToxic):
    """Holds the selected record for `delay` ms while the records after it flow on."""

    defaults = MappingProxyType({**SELECTOR_DEFAULTS, "delay": 0})

    def on_selected(self, record: Record) -> None:
        self.send_later(record.raw, self.num("delay") / 1000)


@register_toxic("tls_duplicate")
class TlsDuplicateToxic(TlsToxic):
    """Sends the selected record twice."""

    def on_selected(self, record: Record) -> None:
        self.send(record.raw + record.raw)


@register_toxic("tls_reorder")
class TlsReorderToxic(TlsToxic):
    """Swaps the selected record with the next record in the same direction.

    If no record follows within `max_hold` ms (the peer may be waiting for an answer),
    the held record goes out alone; 0 holds it until the next record or the end.
    """

    defaults = MappingProxyType({**SELECTOR_DEFAULTS, "max_hold": 1000})

    def __init__(self, spec: ToxicSpec, link: LinkContext, rng: random.Random) -> None:
        super().__init__(spec, link, rng)
        self._held: Record | None = None

    def holding(self) -> bool:
        return self._held is not None

    def on_selected(self, record: Record) -> None:
        self._held = record
        hold = self.num("max_hold") / 1000
        if hold > 0:
            self.link.spawn(self._release_after(hold))

    def on_other(self, record: Record) -> None:
        self.send(record.raw)
        self.on_end()

    def on_end(self) -> None:
        if self._held is not None:
            self.send(self._held.raw)
            self._held = None

    async def _release_after(self, seconds: float) -> None:
        await self.pause(seconds)
        if self._held is not None:
            self.on_end()
            await self._send_now(b"")


@register_toxic("tls_tamper")
class TlsTamperToxic(TlsToxic):
    """Changes the selected record.

    Without `field`: XORs the body byte at `flip_byte` (negative counts from the end; the
    default -1 is the last byte, which in an encrypted record breaks the AEAD tag: the peer
    answers bad_record_mac) with `xor`. With `field` (`random`, `cipher_suite`,
    `legacy_version`) on a plaintext ClientHello/ServerHello: sets the field to `value`
    (if >= 0) or XORs it with `xor`.
    """

    defaults = MappingProxyType(
        {**SELECTOR_DEFAULTS, "flip_byte": -1, "xor": 1, "field": "", "value": -1}
    )

    @classmethod
    def validate(cls, attributes: Mapping[str, AttrValue]) -> None:
        super().validate(attributes)
        field = attributes["field"]
        if field and field not in HELLO_FIELDS:
            raise BadRequestError(f"attribute 'field' must be one of {', '.join(HELLO_FIELDS)}")
        if not 0 <= int(attributes["xor"]) <= 255:
            raise BadRequestError("attribute 'xor' must be between 0 and 255")

    def on_selected(self, record: Record) -> None:
        self.send(self._tampered(record).raw)

    def _tampered(self, record: Record) -> Record:
        xor = int(self.num("xor"))
        field = str(self.attr("field"))
        if field:
            value = int(self.num("value"))
            try:
                return tamper_hello_field(record, field, value if value >= 0 else None, xor)
            except HelloRewriteError as exc:
                log.warning("%s: tls_tamper left the record: %s", self.link.connection_id, exc)
                return record
        body = bytearray(record.body)
        if not body:
            return record
        offset = int(self.num("flip_byte"))
        offset = max(-len(body), min(offset, len(body) - 1))
        body[offset] ^= xor
        return Record(record.raw[:5] + bytes(body), record.encrypted)


@register_toxic("tls_replay")
class TlsReplayToxic(TlsToxic):
    """After the selected record, sends again copies of earlier records.

    The replayed records are the `replay_index`-th (0-based) record matching
    `replay_content_type`/`replay_handshake_type` (by default the toxic's own selector)
    and the `replay_count` - 1 records that followed it (a whole flight, say).
    `replay_on` "connection" sends them again on the same connection; "new_connection"
    sends them on a connection of their own to the upstream, as an attacker who copied a
    client's first flight (ClientHello and 0-RTT data) would, while the original goes on.
    """

    defaults = MappingProxyType(
        {
            **SELECTOR_DEFAULTS,
            "replay_content_type": "",
            "replay_handshake_type": "",
            "replay_index": 0,
            "replay_count": 1,
            "replay_on": "connection",
        }
    )

    def __init__(self, spec: ToxicSpec, link: LinkContext, rng: random.Random) -> None:
        super().__init__(spec, link, rng)
        if self.attr("replay_content_type") or self.attr("replay_handshake_type"):
            self.replay = Selector.parse(
                self.attr("replay_content_type"), self.attr("replay_handshake_type")
            )
        else:
            self.replay = self.selector
        self._replay_seen = 0
        self._saved: list[Record] = []

    @classmethod
    def validate(cls, attributes: Mapping[str, AttrValue]) -> None:
        super().validate(attributes)
        Selector.parse(attributes["replay_content_type"], attributes["replay_handshake_type"])
        if int(attributes["replay_count"]) < 1:
            raise BadRequestError("attribute 'replay_count' must be at least 1")
        if attributes["replay_on"] not in ("connection", "new_connection"):
            raise BadRequestError("attribute 'replay_on' must be connection or new_connection")

    def _remember(self, record: Record) -> None:
        want = int(self.num("replay_count"))
        if self._saved and len(self._saved) < want:
            self._saved.append(record)
        elif not self._saved and self.replay.matches(record):
            if self._replay_seen == int(self.num("replay_index")):
                self._saved.append(record)
            self._replay_seen += 1

    def on_other(self, record: Record) -> None:
        if not self.done:
            self._remember(record)
        self.send(record.raw)

    def on_earlier(self, record: Record, nth: int) -> None:
        self._remember(record)
        self.send(record.raw)

    def on_selected(self, record: Record) -> None:
        self._remember(record)
        self.send(record.raw)
        if not self._saved:
            log.warning("%s: tls_replay found nothing to replay", self.link.connection_id)
        elif self.attr("replay_on") == "new_connection":
            flight = b"".join(saved.raw for saved in self._saved)
            # Not tied to this connection: the original may end before the replay's answer.
            task = asyncio.ensure_future(self._replay_elsewhere(flight))
            _REPLAYS.add(task)
            task.add_done_callback(_REPLAYS.discard)
        else:
            for saved in self._saved:
                self.send(saved.raw)

    async def _replay_elsewhere(self, flight: bytes) -> None:
        try:
            answer = await self.link.replay_upstream(flight)
        except (OSError, TimeoutError) as exc:
            log.warning(
                "%s: tls_replay could not open a connection: %s", self.link.connection_id, exc
            )
            return
        log.info(
            "%s: tls_replay sent %d bytes again on a new connection; %d bytes came back",
            self.link.connection_id,
            len(flight),
            len(answer),
        )


@register_toxic("tls_downgrade")
class TlsDowngradeToxic(TlsToxic):
    """Removes TLS 1.3 from the ClientHello's supported_versions (put it on upstream); with
    `to` ("1.1" or "1.0"), every version above that one as well."""

    defaults = MappingProxyType(
        {**SELECTOR_DEFAULTS, "handshake_type": "client_hello", "to": "1.2"}
    )

    @classmethod
    def validate(cls, attributes: Mapping[str, AttrValue]) -> None:
        super().validate(attributes)
        if str(attributes["to"]) not in _DOWNGRADE_TO:
            raise BadRequestError(f"attribute 'to' must be one of {', '.join(_DOWNGRADE_TO)}")

    def on_selected(self, record: Record) -> None:
        try:
            self.send(remove_tls13(record, _DOWNGRADE_TO[str(self.attr("to"))]).raw)
        except HelloRewriteError as exc:
            log.warning("%s: tls_downgrade left the record: %s", self.link.connection_id, exc)
            self.send(record.raw)


@register_toxic("tls_swap_certificate")
class TlsSwapCertificateToxic(TlsToxic):
    """Presents another certificate chain (`certificate_pem`, leaf first) in place of the
    server's: a man in the middle with a certificate of its own. TLS 1.2 only, where the
    Certificate message travels in the clear (put it on downstream)."""

    defaults = MappingProxyType({**SELECTOR_DEFAULTS, "certificate_pem": ""})

    @classmethod
    def validate(cls, attributes: Mapping[str, AttrValue]) -> None:
        super().validate(attributes)
        try:
            x509.load_pem_x509_certificates(str(attributes["certificate_pem"]).encode())
        except ValueError as exc:
            raise BadRequestError(
                f"attribute 'certificate_pem' holds no certificate: {exc}"
            ) from None

    def on_selected(self, record: Record) -> None:
        pem = str(self.attr("certificate_pem")).encode()
        chain = [c.public_bytes(Encoding.DER) for c in x509.load_pem_x509_certificates(pem)]
        try:
            self.send(replace_certificate(record, chain).raw)
        except HelloRewriteError as exc:
            log.warning(
                "%s: tls_swap_certificate left the record: %s", self.link.connection_id, exc
            )
            self.send(record.raw)
