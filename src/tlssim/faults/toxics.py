"""Toxics: specs as the API sees them, and the per-connection behaviour behind each type.

A toxic instance lives on one direction of one connection. It sees every chunk of bytes
in that direction (`on_data`, which forwards by awaiting `emit`), the end of the stream
(`on_eof`), and may act on its own (`start`) through the `LinkContext` it is given. New
toxic types — e.g. handshake-aware ones that parse TLS records out of the chunks — are
subclasses registered with `@register_toxic("name")`; nothing else needs to change.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import math
import random
import unicodedata
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Protocol

from tlssim.faults.errors import BadRequestError

# A toxic's name is part of its URL and of log lines.
MAX_TOXIC_NAME = 128

AttrValue = int | float | str


class Direction(enum.StrEnum):
    """Which way bytes flow: upstream is client→server, downstream server→client."""

    UPSTREAM = "upstream"
    DOWNSTREAM = "downstream"


@dataclass(frozen=True, slots=True)
class Chunk:
    """Bytes read from one side, with the loop time at which the proxy read them."""

    data: bytes
    arrival: float


Emit = Callable[[Chunk], Awaitable[None]]


@dataclass(frozen=True, slots=True, kw_only=True, eq=True)
class ToxicSpec:
    """A toxic as configured through the API (Toxiproxy's JSON shape)."""

    name: str
    type: str
    stream: Direction = Direction.DOWNSTREAM
    toxicity: float = 1.0
    attributes: Mapping[str, AttrValue] = field(default_factory=lambda: MappingProxyType({}))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "stream": self.stream.value,
            "toxicity": self.toxicity,
            "attributes": dict(self.attributes),
        }

    @classmethod
    def from_json(cls, raw: object) -> ToxicSpec:
        """Validate a JSON toxic; defaults as Toxiproxy's (name `type_stream`, downstream)."""
        if not isinstance(raw, dict):
            raise BadRequestError("bad request body: toxic must be a JSON object")
        type_name = raw.get("type")
        if not isinstance(type_name, str) or not type_name:
            raise BadRequestError("missing required field: type")
        toxic_cls = TOXIC_TYPES.get(type_name)
        if toxic_cls is None:
            raise BadRequestError(f"invalid toxic type: {type_name!r}")
        stream = _parse_stream(raw.get("stream", Direction.DOWNSTREAM.value))
        name = raw.get("name") or f"{type_name}_{stream.value}"
        if not isinstance(name, str):
            raise BadRequestError("bad request body: toxic name must be a string")
        if len(name) > MAX_TOXIC_NAME or any(
            unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name
        ):
            raise BadRequestError(
                f"toxic name must be at most {MAX_TOXIC_NAME} characters, "
                "without control characters"
            )
        toxicity = _parse_toxicity(raw.get("toxicity", 1.0))
        attributes = toxic_cls.parse_attributes(raw.get("attributes") or {}, {})
        return cls(
            name=name, type=type_name, stream=stream, toxicity=toxicity, attributes=attributes
        )

    def updated(self, raw: object) -> ToxicSpec:
        """This spec with the fields given in an update body (attributes merge)."""
        if not isinstance(raw, dict):
            raise BadRequestError("bad request body: toxic must be a JSON object")
        toxicity = _parse_toxicity(raw.get("toxicity", self.toxicity))
        attrs = raw.get("attributes") or {}
        attributes = TOXIC_TYPES[self.type].parse_attributes(attrs, self.attributes)
        return ToxicSpec(
            name=self.name,
            type=self.type,
            stream=self.stream,
            toxicity=toxicity,
            attributes=attributes,
        )


def _parse_stream(raw: object) -> Direction:
    try:
        return Direction(str(raw))
    except ValueError:
        raise BadRequestError("stream was invalid, can be either upstream or downstream") from None


def _parse_toxicity(raw: object) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0.0 <= raw <= 1.0:
        raise BadRequestError("toxicity must be a number between 0 and 1")
    return float(raw)


class LinkContext(Protocol):
    """What a toxic may see and do on its connection."""

    @property
    def direction(self) -> Direction: ...

    @property
    def connection_id(self) -> str: ...

    def close(self) -> None:
        """Close the whole connection (FIN on both sides)."""

    def reset(self) -> None:
        """Abort the whole connection with a TCP RST on both sides."""

    def spawn(self, coro: Awaitable[None]) -> asyncio.Task[None]:
        """Run a background task that ends with the connection."""

    async def replay_upstream(self, data: bytes) -> bytes:
        """Send ``data`` on a new connection to the upstream, as a fresh client would;
        returns what came back before the upstream ended it (or a few seconds passed)."""
        ...


class Toxic:
    """One toxic on one direction of one connection; the base class forwards unchanged."""

    type_name: ClassVar[str] = ""
    defaults: ClassVar[Mapping[str, AttrValue]] = MappingProxyType({})

    def __init__(self, spec: ToxicSpec, link: LinkContext, rng: random.Random) -> None:
        self.spec = spec
        self.link = link
        self.rng = rng
        self.removed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    def parse_attributes(
        cls, raw: object, base: Mapping[str, AttrValue]
    ) -> Mapping[str, AttrValue]:
        """Validate attributes against `defaults`; unknown keys are ignored as Toxiproxy does."""
        if not isinstance(raw, dict):
            raise BadRequestError("attributes must be a JSON object")
        out = dict(cls.defaults)
        out.update(base)
        for key, default in cls.defaults.items():
            if key not in raw:
                continue
            value = raw[key]
            if isinstance(default, str):
                if not isinstance(value, str):
                    raise BadRequestError(f"attribute {key!r} must be a string")
            elif (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                raise BadRequestError(f"attribute {key!r} must be a non-negative number")
            elif isinstance(default, int) and value != int(value):
                raise BadRequestError(f"attribute {key!r} must be an integer")
            elif isinstance(default, int):
                value = int(value)
            out[key] = value
        return MappingProxyType(out)

    def num(self, key: str) -> float:
        """A numeric attribute."""
        value = self.spec.attributes.get(key, self.defaults.get(key, 0))
        return float(value) if not isinstance(value, str) else 0.0

    def start(self) -> None:
        """Called once when the toxic is attached to a live connection."""

    def stop(self) -> None:
        """Called when the toxic is removed or replaced: release whatever it holds."""
        self.removed.set()
        for task in self._tasks:
            task.cancel()

    def spawn(self, coro: Awaitable[None]) -> None:
        """Run a background task that ends with this toxic or the connection."""
        self._tasks.append(self.link.spawn(coro))

    async def pause(self, seconds: float) -> None:
        """Sleep, but wake early if the toxic is removed."""
        if seconds <= 0 or self.removed.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.removed.wait(), seconds)

    async def on_data(self, chunk: Chunk, emit: Emit) -> None:
        """Pass a chunk on (any number of times, in pieces, late, or not at all)."""
        await emit(chunk)

    async def on_eof(self) -> None:
        """The source half-closed; returning lets the close go on to the destination."""


TOXIC_TYPES: dict[str, type[Toxic]] = {}


def register_toxic(type_name: str) -> Callable[[type[Toxic]], type[Toxic]]:
    """Class decorator adding a toxic type under its Toxiproxy name."""

    def add(cls: type[Toxic]) -> type[Toxic]:
        cls.type_name = type_name
        TOXIC_TYPES[type_name] = cls
        return cls

    return add


def _now() -> float:
    return asyncio.get_running_loop().time()


@register_toxic("noop")
class NoopToxic(Toxic):
    """Does nothing (Toxiproxy's noop)."""


@register_toxic("latency")
class LatencyToxic(Toxic):
    """Delays each chunk by latency ± jitter ms, counted from when the proxy read it."""

    defaults = MappingProxyType({"latency": 0, "jitter": 0})

    async def on_data(self, chunk: Chunk, emit: Emit) -> None:
        jitter = self.num("jitter")
        delay = self.num("latency") + (self.rng.uniform(-jitter, jitter) if jitter else 0.0)
        await self.pause(chunk.arrival + delay / 1000 - _now())
        await emit(chunk)


@register_toxic("bandwidth")
class BandwidthToxic(Toxic):
    """Limits throughput to rate KB/s (1 KB = 1000 bytes); rate 0 means unlimited."""

    defaults = MappingProxyType({"rate": 0})

    def __init__(self, spec: ToxicSpec, link: LinkContext, rng: random.Random) -> None:
        super().__init__(spec, link, rng)
        self._free_at = 0.0

    async def on_data(self, chunk: Chunk, emit: Emit) -> None:
        rate = self.num("rate") * 1000
        if rate <= 0:
            await emit(chunk)
            return
        step = max(1, int(rate / 10))  # about 100 ms worth of bytes per write
        for i in range(0, len(chunk.data), step):
            piece = chunk.data[i : i + step]
            self._free_at = max(self._free_at, _now()) + len(piece) / rate
            await self.pause(self._free_at - _now())
            await emit(Chunk(piece, chunk.arrival))


@register_toxic("slow_close")
class SlowCloseToxic(Toxic):
    """Delays the close of the stream by delay ms."""

    defaults = MappingProxyType({"delay": 0})

    async def on_eof(self) -> None:
        await self.pause(self.num("delay") / 1000)


@register_toxic("timeout")
class TimeoutToxic(Toxic):
    """Holds all data; closes the connection after timeout ms (0: hold until removed)."""

    defaults = MappingProxyType({"timeout": 0})

    def start(self) -> None:
        timeout = self.num("timeout")
        if timeout > 0:
            self.spawn(self._close_later(timeout / 1000))

    async def _close_later(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if not self.removed.is_set():
            self.link.close()

    async def on_data(self, chunk: Chunk, emit: Emit) -> None:
        await self.removed.wait()
        await emit(chunk)

    async def on_eof(self) -> None:
        await self.removed.wait()


@register_toxic("reset_peer")
class ResetPeerToxic(Toxic):
    """Resets the connection (TCP RST) after timeout ms."""

    defaults = MappingProxyType({"timeout": 0})

    def start(self) -> None:
        self.spawn(self._reset_later(self.num("timeout") / 1000))

    async def _reset_later(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if not self.removed.is_set():
            self.link.reset()


@register_toxic("slicer")
class SlicerToxic(Toxic):
    """Cuts chunks into pieces of average_size ± size_variation bytes, delay µs apart."""

    defaults = MappingProxyType({"average_size": 0, "size_variation": 0, "delay": 0})

    async def on_data(self, chunk: Chunk, emit: Emit) -> None:
        average = int(self.num("average_size"))
        if average <= 0:
            await emit(chunk)
            return
        variation = min(int(self.num("size_variation")), average - 1)
        delay = self.num("delay") / 1_000_000
        data = chunk.data
        while data:
            size = average + (self.rng.randint(-variation, variation) if variation else 0)
            piece, data = data[:size], data[size:]
            await emit(Chunk(piece, chunk.arrival))
            if data:
                await self.pause(delay)


@register_toxic("limit_data")
class LimitDataToxic(Toxic):
    """Closes the connection once `bytes` bytes have passed in this direction."""

    defaults = MappingProxyType({"bytes": 0})

    def __init__(self, spec: ToxicSpec, link: LinkContext, rng: random.Random) -> None:
        super().__init__(spec, link, rng)
        self._passed = 0

    async def on_data(self, chunk: Chunk, emit: Emit) -> None:
        limit = int(self.num("bytes"))
        room = limit - self._passed
        if room <= 0:
            self.link.close()
            return
        piece = chunk.data[:room]
        self._passed += len(piece)
        await emit(Chunk(piece, chunk.arrival))
        if self._passed >= limit:
            self.link.close()
