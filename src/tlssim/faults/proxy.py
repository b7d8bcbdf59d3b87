"""A named TCP proxy: a listener, its live connections and its toxics."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from tlssim.faults.budget import ConnectionBudget
from tlssim.faults.errors import BadRequestError, ConflictError, NotFoundError
from tlssim.faults.link import Connection, ConnectionBase
from tlssim.faults.toxics import Direction, ToxicSpec

log = logging.getLogger(__name__)

# Toxics on one proxy: each acts on every chunk of every connection.
MAX_TOXICS = 64

TCP = "tcp"
TLSSIM_GRPC = "tlssim-grpc"
PROTOCOLS = (TCP, TLSSIM_GRPC)


# A host name or an IPv4/IPv6 address (brackets stripped): nothing a log line or a URL
# could be bent with.
_HOST = re.compile(r"[A-Za-z0-9_.-]{1,253}|[0-9A-Fa-f:.]{2,45}")


# Proxy names end up in URLs (/proxies/<name>/toxics), so they are kept URL-safe and short.
PROXY_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")


def check_proxy_name(name: str) -> None:
    """A 400 error unless `name` is 1 to 128 of A-Z a-z 0-9 _ . -"""
    if not PROXY_NAME.fullmatch(name):
        shown = repr(name[:40]) + ("..." if len(name) > 40 else "")
        raise BadRequestError(
            f"proxy name must be 1 to 128 characters of A-Z a-z 0-9 _ . - (got {shown})"
        )


def check_text(value: str, what: str) -> None:
    """A 400 error if `value` holds a control or format character (newline, ESC, DEL, C1,
    bidi overrides): such text could forge or hide a log line."""
    for char in value:
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
            raise BadRequestError(
                f"{what} must not contain control characters (found U+{ord(char):04X})"
            )


def parse_address(address: str, what: str) -> tuple[str, int]:
    """Split HOST:PORT (IPv6 hosts in brackets), raising a 400 error on bad input."""
    check_text(address, what)
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise BadRequestError(f"{what} must be HOST:PORT, got {address!r}")
    host = host.strip("[]")
    if not _HOST.fullmatch(host):
        raise BadRequestError(
            f"{what} must be HOST:PORT with a host name or address, got {address!r}"
        )
    return host, int(port)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxySpec:
    """A proxy as configured: name, listen HOST:PORT, upstream HOST:PORT, enabled, and the
    protocol it relays: "tcp" (bytes) or "tlssim-grpc" (TlsServer.Connect calls)."""

    name: str
    listen: str
    upstream: str
    enabled: bool = True
    protocol: str = TCP

    def __post_init__(self) -> None:
        if not self.name:
            raise BadRequestError("missing required field: name")
        check_proxy_name(self.name)
        check_text(self.protocol, "protocol")
        if not self.upstream:
            raise BadRequestError("missing required field: upstream")
        parse_address(self.listen, "listen")
        parse_address(self.upstream, "upstream")
        if self.protocol not in PROTOCOLS:
            raise BadRequestError(f"protocol must be one of {', '.join(PROTOCOLS)}")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "protocol": self.protocol,
        }

    @classmethod
    def from_json(cls, raw: object) -> ProxySpec:
        """Validate a JSON proxy (Toxiproxy's shape; listen defaults to 127.0.0.1:0)."""
        if not isinstance(raw, dict):
            raise BadRequestError("bad request body: proxy must be a JSON object")
        name, listen = raw.get("name"), raw.get("listen") or "127.0.0.1:0"
        upstream, enabled = raw.get("upstream"), raw.get("enabled", True)
        protocol = raw.get("protocol") or TCP
        if not name:
            raise BadRequestError("missing required field: name")
        if not upstream:
            raise BadRequestError("missing required field: upstream")
        if not isinstance(name, str) or not isinstance(upstream, str):
            raise BadRequestError("name and upstream must be strings")
        if not isinstance(listen, str):
            raise BadRequestError("listen must be a string")
        if not isinstance(enabled, bool):
            raise BadRequestError("enabled must be true or false")
        if not isinstance(protocol, str):
            raise BadRequestError("protocol must be a string")
        return cls(name=name, listen=listen, upstream=upstream, enabled=enabled, protocol=protocol)

    def updated(self, raw: object) -> ProxySpec:
        """This spec with the fields given in an update body."""
        if not isinstance(raw, dict):
            raise BadRequestError("bad request body: proxy must be a JSON object")
        merged = {**self.to_json(), **raw, "name": self.name}
        return ProxySpec.from_json(merged)


class Proxy:
    """Listens on `listen`, dials `upstream` for each client, applies the toxics."""

    def __init__(
        self, spec: ProxySpec, seed: int | None = None, budget: ConnectionBudget | None = None
    ) -> None:
        self._spec = spec
        self._seed = seed
        #: Caps on connections open at once, for this proxy and for the whole service.
        self.budget = budget or ConnectionBudget()
        self._server: asyncio.Server | None = None
        self._toxics: dict[str, ToxicSpec] = {}
        self._connections: set[ConnectionBase] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._counter = itertools.count(1)

    @property
    def name(self) -> str:
        return self._spec.name

    @property
    def spec(self) -> ProxySpec:
        """The configuration; once bound, listen holds the actual address (as Toxiproxy)."""
        return self._spec

    @property
    def enabled(self) -> bool:
        return self._spec.enabled

    @property
    def connections(self) -> int:
        return len(self._connections)

    def held_connections(self) -> int:
        """What counts against the connection budget."""
        return len(self._connections)

    def internal_addresses(self) -> tuple[str, ...]:
        """Addresses of servers of its own, behind its listen address (none for TCP)."""
        return ()

    def connection_seed(self) -> str | None:
        return None if self._seed is None else f"{self._seed}:{self.name}"

    def next_connection_id(self) -> str:
        return f"{self.name}#{next(self._counter)}"

    def to_json(self) -> dict[str, Any]:
        return {**self.spec.to_json(), "toxics": [t.to_json() for t in self.toxics()]}

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Listen if enabled (idempotent)."""
        if not self._spec.enabled or self._server is not None:
            return
        host, port = parse_address(self._spec.listen, "listen")
        try:
            self._server = await asyncio.start_server(self._accept, host, port)
        except OSError as exc:
            raise ConflictError(f"listen {self._spec.listen}: {exc.strerror or exc}") from None
        sockname = self._server.sockets[0].getsockname()
        shown = f"[{sockname[0]}]" if ":" in sockname[0] else sockname[0]
        self._spec = replace(self._spec, listen=f"{shown}:{sockname[1]}")
        log.info(
            "proxy %s listening on %s -> %s", self.name, self._spec.listen, self._spec.upstream
        )

    async def stop(self) -> None:
        """Stop listening and drop every live connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in list(self._connections):
            conn.close()
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        if handlers:
            await asyncio.wait(handlers, timeout=5)

    async def update(self, spec: ProxySpec) -> None:
        """Apply a new configuration; restarts the listener when needed."""
        if spec.name != self.name:
            raise BadRequestError("a proxy cannot be renamed")
        restart = (spec.listen, spec.upstream) != (self._spec.listen, self._spec.upstream)
        if restart or not spec.enabled:
            await self.stop()
        await self._start_as(spec)

    async def _start_as(self, spec: ProxySpec) -> None:
        """Starts with `spec`; when its address is taken, starts again as it was and raises."""
        old, self._spec = self._spec, spec
        try:
            await self.start()
        except ConflictError:
            self._spec = old
            await self.start()
            raise

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._spec.enabled or not self.budget.admit(self.name, len(self._connections)):
            writer.close()
            return
        conn = Connection(
            self.next_connection_id(), (reader, writer), self.toxics_for, self.connection_seed()
        )
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(conn)
        self._handlers.add(task)
        try:
            host, port = parse_address(self._spec.upstream, "upstream")
            await conn.run(host, port)
        finally:
            self._connections.discard(conn)
            self._handlers.discard(task)
            self.budget.release()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    # -- toxics ----------------------------------------------------------------------

    def toxics_for(self, direction: Direction) -> Sequence[ToxicSpec]:
        return [t for t in self._toxics.values() if t.stream is direction]

    def toxics(self) -> list[ToxicSpec]:
        return list(self._toxics.values())

    def get_toxic(self, name: str) -> ToxicSpec:
        try:
            return self._toxics[name]
        except KeyError:
            raise NotFoundError("toxic not found") from None

    def add_toxic(self, spec: ToxicSpec) -> ToxicSpec:
        if spec.name in self._toxics:
            raise ConflictError("toxic already exists")
        if len(self._toxics) >= MAX_TOXICS:
            raise BadRequestError(f"at most {MAX_TOXICS} toxics on one proxy; remove one first")
        self._toxics[spec.name] = spec
        self._changed()
        return spec

    def update_toxic(self, name: str, raw: object) -> ToxicSpec:
        spec = self.get_toxic(name).updated(raw)
        self._toxics[name] = spec
        self._changed()
        return spec

    def remove_toxic(self, name: str) -> None:
        self.get_toxic(name)
        del self._toxics[name]
        self._changed()

    def reset_toxics(self) -> None:
        self._toxics.clear()
        self._changed()

    def _changed(self) -> None:
        for conn in self._connections:
            conn.toxics_changed()

    async def settle(self) -> None:
        """Until a change of toxics has reached every connection (at once for TCP proxies)."""
        return None
