"""The set of proxies a faults service runs, and its Toxiproxy config file format."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tlssim.faults.budget import ConnectionBudget
from tlssim.faults.errors import BadRequestError, ConflictError, NotFoundError
from tlssim.faults.grpcrelay import GrpcRelayProxy
from tlssim.faults.proxy import TLSSIM_GRPC, Proxy, ProxySpec, parse_address

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
# The lab's services by their compose (and Swarm) names: upstreams a proxy may always dial.
LAB_SERVICES = frozenset({"ca", "ocsp", "server", "client", "console"})
# This service's own name there: a proxy dialing it dials the faults service itself.
SELF_NAME = "faults"
_WILDCARD = frozenset({"0.0.0.0", "::", ""})
# How long a check may wait to learn where an operator-allowed upstream name points.
RESOLVE_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True, kw_only=True)
class UpstreamPolicy:
    """Where proxies may send their connections.

    `hosts`: names or addresses allowed besides loopback and the lab's own services (None:
    any host). `reserved`: HOST:PORT addresses of the lab's own HTTP surfaces (the faults
    API, the console, every metrics endpoint), never an upstream.
    """

    hosts: frozenset[str] | None = frozenset()
    reserved: tuple[str, ...] = ()


# Proxies one service holds: far above the lab's eight links; each costs a listening
# socket (a gRPC relay: a server and a channel of its own).
MAX_PROXIES = 200


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address `host` spells, an IPv4-mapped IPv6 one as the IPv4 address it maps."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    address = _address(host)
    return address is not None and address.is_loopback


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


def new_proxy(spec: ProxySpec, seed: int | None, budget: ConnectionBudget | None = None) -> Proxy:
    """The proxy kind the spec's protocol asks for."""
    if spec.protocol == TLSSIM_GRPC:
        return GrpcRelayProxy(spec, seed, budget)
    return Proxy(spec, seed, budget)


class Registry:
    """All proxies by name; every change goes through here (the API is a thin shell)."""

    def __init__(
        self,
        seed: int | None = None,
        listen_hosts: frozenset[str] | None = LOOPBACK,
        upstreams: UpstreamPolicy | None = None,
        budget: ConnectionBudget | None = None,
    ) -> None:
        self.seed = seed
        #: Hosts a proxy may listen on (None: any); loopback unless the operator says more.
        self.listen_hosts = listen_hosts
        self.upstreams = upstreams or UpstreamPolicy()
        self.budget = budget or ConnectionBudget()
        self._proxies: dict[str, Proxy] = {}
        self._lock = asyncio.Lock()
        self._own_addresses: frozenset[str] | None = None
        self.max_proxies = MAX_PROXIES

    # -- where a proxy may point ----------------------------------------------------

    def _check_upstream_host(self, spec: ProxySpec) -> None:
        host, _ = parse_address(spec.upstream, "upstream")
        allowed = self.upstreams.hosts
        if allowed is None or _is_loopback(host) or host in LAB_SERVICES | {SELF_NAME}:
            return
        if host in allowed or host.lower() in allowed:
            return
        raise BadRequestError(
            f"upstream {host} is not allowed: proxies dial loopback and the lab's services "
            "only (TLSSIM_FAULTS_UPSTREAM_HOSTS allows more)"
        )

    async def _own(self) -> frozenset[str]:
        """The addresses this machine (container) answers on, besides loopback."""
        if self._own_addresses is None:
            self._own_addresses = await self._resolve(socket.gethostname())
        return self._own_addresses

    async def _resolve(self, host: str) -> frozenset[str]:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(RESOLVE_TIMEOUT_S):
                infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError):
            return frozenset()
        return frozenset(str(info[4][0]) for info in infos)

    async def _is_self(self, host: str) -> bool:
        """Whether `host` reaches this faults service: loopback, its own name or address,
        or an allowed name that resolves to one of them. The lab's other services are
        elsewhere by construction."""
        address = _address(host)
        if _is_loopback(host) or host == SELF_NAME or (address and address.is_unspecified):
            return True
        if host in LAB_SERVICES:
            return False
        own = await self._own()
        if host in own or host == socket.gethostname():
            return True
        addresses = {str(address)} if address else await self._resolve(host)
        return any(a in own or _is_loopback(a) or a in _WILDCARD for a in addresses)

    async def _check_loops(self, proxies: dict[str, ProxySpec], internal: list[str]) -> None:
        """400 unless no proxy's upstream is a proxy's listen address (its own included)
        or one of the lab's own HTTP surfaces: so there is no loop, of any length."""
        own_ports: dict[int, str] = {}
        for spec in proxies.values():
            host, port = parse_address(spec.listen, "listen")
            if port:
                own_ports[port] = f"the listen address of proxy {spec.name}"
        for address in internal:
            own_ports.setdefault(parse_address(address, "relay")[1], "a relay's own server")
        # The lab's HTTP surfaces, wherever they run: here, or in the lab's other services.
        surfaces: dict[int, str] = {}
        for address in self.upstreams.reserved:
            _, port = parse_address(address, "reserved address")
            if port:
                surfaces.setdefault(port, f"the lab's own endpoint {address}")
        for spec in proxies.values():
            host, port = parse_address(spec.upstream, "upstream")
            if port not in own_ports and port not in surfaces:
                continue
            here = await self._is_self(host)
            what = own_ports.get(port) if here else None
            if what is None and (here or host in LAB_SERVICES):
                what = surfaces.get(port)
            if what is not None:
                raise BadRequestError(
                    f"upstream {spec.upstream} of proxy {spec.name} is {what}: "
                    "a proxy may not dial the faults service or the lab's own APIs (a loop)"
                )

    async def _check(self, spec: ProxySpec) -> None:
        """Every check of a proxy about to be created or changed."""
        self._check_listen(spec)
        self._check_upstream_host(spec)
        prospective = {name: p.spec for name, p in self._proxies.items() if name != spec.name}
        prospective[spec.name] = spec
        internal = [a for p in self._proxies.values() for a in p.internal_addresses()]
        await self._check_loops(prospective, internal)

    async def _started(self, proxy: Proxy) -> Proxy:
        """Check a proxy again once bound (port 0 became a real port); stop it if the
        port it got closes a loop."""
        try:
            await self._check(proxy.spec)
        except BadRequestError:
            await proxy.stop()
            raise
        return proxy

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
        if len(self._proxies) >= self.max_proxies:
            raise BadRequestError(f"at most {self.max_proxies} proxies; delete one first")
        proxy = await self._create_unlisted(spec)
        self._proxies[spec.name] = proxy
        return proxy

    async def _create_unlisted(self, spec: ProxySpec) -> Proxy:
        await self._check(spec)
        proxy = new_proxy(spec, self.seed, self.budget)
        await proxy.start()
        return await self._started(proxy)

    async def update(self, name: str, raw: object) -> Proxy:
        async with self._lock:
            proxy = self.get(name)
            spec = proxy.spec.updated(raw)
            await self._check(spec)
            if spec.protocol == proxy.spec.protocol:
                old = proxy.spec
                await proxy.update(spec)
                try:
                    await self._check(proxy.spec)
                except BadRequestError:
                    await proxy.update(old)
                    raise
                return proxy
            await proxy.stop()  # another kind of proxy: replace it
            try:
                replacement = await self._create_unlisted(spec)
            except (ConflictError, BadRequestError):
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
                    await self._check(spec)
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
