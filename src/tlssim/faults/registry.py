"""The set of proxies a faults service runs, and its Toxiproxy config file format."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from pathlib import Path

from tlssim.faults.errors import BadRequestError, ConflictError, NotFoundError
from tlssim.faults.grpcrelay import GrpcRelayProxy
from tlssim.faults.proxy import TLSSIM_GRPC, Proxy, ProxySpec, parse_address

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def parse_config(text: str) -> list[ProxySpec]:
    """Parse a Toxiproxy config: a JSON list of {name, listen, upstream, enabled}."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequestError(f"bad request body: {exc}") from None
    if not isinstance(raw, list):
        raise BadRequestError("bad request body: expected a JSON list of proxies")
    return [ProxySpec.from_json(item) for item in raw]


def load_config(path: str | Path) -> list[ProxySpec]:
    return parse_config(Path(path).read_text(encoding="utf-8"))


def new_proxy(spec: ProxySpec, seed: int | None) -> Proxy:
    """The proxy kind the spec's protocol asks for."""
    if spec.protocol == TLSSIM_GRPC:
        return GrpcRelayProxy(spec, seed)
    return Proxy(spec, seed)


class Registry:
    """All proxies by name; every change goes through here (the API is a thin shell)."""

    def __init__(
        self, seed: int | None = None, listen_hosts: frozenset[str] | None = LOOPBACK
    ) -> None:
        self.seed = seed
        #: Hosts a proxy may listen on (None: any); loopback unless the operator says more.
        self.listen_hosts = listen_hosts
        self._proxies: dict[str, Proxy] = {}
        self._lock = asyncio.Lock()

    def _check_listen(self, spec: ProxySpec) -> None:
        host, _ = parse_address(spec.listen, "listen")
        if self.listen_hosts is not None and host not in self.listen_hosts:
            allowed = ", ".join(sorted(self.listen_hosts))
            raise BadRequestError(
                f"proxies may listen on {allowed} only (TLSSIM_FAULTS_LISTEN_HOSTS), not {host}"
            )

    def proxies(self) -> list[Proxy]:
        return list(self._proxies.values())

    def get(self, name: str) -> Proxy:
        try:
            return self._proxies[name]
        except KeyError:
            raise NotFoundError("proxy not found") from None

    async def create(self, spec: ProxySpec) -> Proxy:
        async with self._lock:
            return await self._create(spec)

    async def _create(self, spec: ProxySpec) -> Proxy:
        if spec.name in self._proxies:
            raise ConflictError("proxy already exists")
        proxy = await self._create_unlisted(spec)
        self._proxies[spec.name] = proxy
        return proxy

    async def _create_unlisted(self, spec: ProxySpec) -> Proxy:
        self._check_listen(spec)
        proxy = new_proxy(spec, self.seed)
        await proxy.start()
        return proxy

    async def update(self, name: str, raw: object) -> Proxy:
        async with self._lock:
            proxy = self.get(name)
            spec = proxy.spec.updated(raw)
            self._check_listen(spec)
            if spec.protocol == proxy.spec.protocol:
                await proxy.update(spec)
                return proxy
            await proxy.stop()  # another kind of proxy: replace it
            try:
                replacement = await self._create_unlisted(spec)
            except ConflictError:
                await proxy.start()
                raise
            self._proxies[name] = replacement
            return replacement

    async def delete(self, name: str) -> None:
        async with self._lock:
            proxy = self.get(name)
            del self._proxies[name]
            await proxy.stop()

    async def populate(self, specs: Iterable[ProxySpec]) -> list[Proxy]:
        """Create or replace each proxy; one whose listen and upstream are unchanged stays."""
        async with self._lock:
            result = []
            for spec in specs:
                existing = self._proxies.get(spec.name)
                if existing is not None:
                    same = (
                        existing.spec.listen,
                        existing.spec.upstream,
                        existing.spec.protocol,
                    ) == (spec.listen, spec.upstream, spec.protocol)
                    if same:
                        await existing.update(spec)
                        result.append(existing)
                        continue
                    del self._proxies[spec.name]
                    await existing.stop()
                result.append(await self._create(spec))
            return result

    async def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        async with self._lock:
            for proxy in self._proxies.values():
                proxy.reset_toxics()
                if not proxy.enabled:
                    await proxy.update(proxy.spec.updated({"enabled": True}))
                await proxy.settle()

    async def close(self) -> None:
        async with self._lock:
            proxies, self._proxies = list(self._proxies.values()), {}
            for proxy in proxies:
                await proxy.stop()
