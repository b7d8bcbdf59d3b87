"""The faults service in one object: a registry of proxies plus the REST API serving it."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable

from tlssim.faults.api import Api
from tlssim.faults.budget import ConnectionBudget
from tlssim.faults.proxy import ProxySpec, parse_address
from tlssim.faults.registry import LOOPBACK, Registry, UpstreamPolicy
from tlssim.web import HttpLimits, WebServer

log = logging.getLogger(__name__)


class FaultsServer:
    """Start with `start()`, stop with `close()`; `api_address` is the bound HOST:PORT."""

    def __init__(
        self,
        api_listen: str = "127.0.0.1:8474",
        seed: int | None = None,
        *,
        http_limits: HttpLimits | None = None,
        listen_hosts: frozenset[str] | None = LOOPBACK,
        upstreams: UpstreamPolicy | None = None,
        budget: ConnectionBudget | None = None,
        http_hosts: frozenset[str] | None = frozenset(),
    ) -> None:
        self.api_listen = api_listen
        upstreams = upstreams or UpstreamPolicy()
        # The API's own address is never an upstream, even before it is bound.
        reserved = (*upstreams.reserved, api_listen)
        self.registry = Registry(
            seed, listen_hosts, dataclasses.replace(upstreams, reserved=reserved), budget
        )
        #: Host header names the API answers besides loopback and its own address.
        self.http_hosts = http_hosts
        self.http_limits = http_limits or HttpLimits()
        self._http: WebServer | None = None
        self.api_address = api_listen

    async def start(self, proxies: Iterable[ProxySpec] = ()) -> None:
        """Create the initial proxies, then open the API."""
        await self.registry.populate(proxies)
        host, port = parse_address(self.api_listen, "api listen")
        self._http = WebServer(Api(self.registry, self.http_limits, self.http_hosts).application())
        await self._http.start(host, port)
        self.api_address = f"{host}:{self._http.port}"
        upstreams = self.registry.upstreams
        self.registry.upstreams = dataclasses.replace(
            upstreams, reserved=(*upstreams.reserved, self.api_address)
        )
        log.info("faults API listening on %s", self.api_address)

    def open_connections(self) -> dict[tuple[str, ...], float]:
        """(proxy name,) -> connections it holds now (a gRPC relay: HTTP/2 connections)."""
        return {(p.name,): float(p.held_connections()) for p in self.registry.proxies()}

    def active_toxics(self) -> dict[tuple[str, ...], float]:
        """(toxic type, proxy name) -> how many such toxics that proxy has now."""
        counts: dict[tuple[str, ...], float] = {}
        for proxy in self.registry.proxies():
            for toxic in proxy.toxics():
                key = (toxic.type, proxy.name)
                counts[key] = counts.get(key, 0) + 1
        return counts

    async def close(self) -> None:
        if self._http is not None:
            await self._http.stop()
            self._http = None
        await self.registry.close()

    async def __aenter__(self) -> FaultsServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
