"""The faults service's settings: its proxies' start, seed, hosts and connection limits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from tlssim.services.settings.declaring import (
    METRICS_PORTS,
    Environment,
    Setting,
    from_setting,
    integer,
    read_fields,
)
from tlssim.services.settings.shared import (
    CONSOLE_ADDR,
    FAULTS_API,
    HTTP_HOSTS,
    LISTEN,
    METRICS_LISTEN,
)

# Connections the faults service holds open at once: far above what a lab makes (a load
# run holds one per concurrent handshake), far below a process's file limit.
MAX_CONNECTIONS = 4000
MAX_CONNECTIONS_PER_PROXY = 1000
_DEFAULT_LISTEN_HOSTS = "127.0.0.1,::1,localhost"


def _hosts(text: str) -> frozenset[str] | None:
    if text == "*":
        return None
    return frozenset(h.strip().strip("[]") for h in text.split(",") if h.strip())


FAULTS_CONFIG: Final = Setting(
    name="TLSSIM_FAULTS_CONFIG",
    default="(none)",
    meaning="JSON file of proxies to create at start (Toxiproxy's config format)",
    services=("faults",),
    read=lambda e, _: Path(path) if (path := e.text("TLSSIM_FAULTS_CONFIG")) else None,
    value=None,
)
FAULTS_SEED: Final = Setting(
    name="TLSSIM_FAULTS_SEED",
    default="(random)",
    meaning="integer seed for every random choice of the toxics, for repeatable runs",
    services=("faults",),
    read=lambda e, _: e.optional_integer("TLSSIM_FAULTS_SEED"),
    value=None,
)
FAULTS_LISTEN_HOSTS: Final = Setting(
    name="TLSSIM_FAULTS_LISTEN_HOSTS",
    default=_DEFAULT_LISTEN_HOSTS,
    meaning="hosts the faults proxies may listen on (comma-separated; * for any)",
    services=("faults",),
    # None: any host (compose, where proxies listen on the container's network).
    read=lambda e, _: _hosts(e.text("TLSSIM_FAULTS_LISTEN_HOSTS", _DEFAULT_LISTEN_HOSTS)),
    value=_hosts(_DEFAULT_LISTEN_HOSTS),
)
FAULTS_UPSTREAM_HOSTS: Final[Setting[frozenset[str] | None]] = Setting(
    name="TLSSIM_FAULTS_UPSTREAM_HOSTS",
    default="(none: loopback and the lab's service names only)",
    meaning="hosts the faults proxies may dial besides loopback and ca, ocsp, server, "
    "client, console, faults (comma-separated; * for any)",
    services=("faults",),
    # None: any host
    read=lambda e, _: _hosts(e.text("TLSSIM_FAULTS_UPSTREAM_HOSTS").lower()),
    value=frozenset(),
)
FAULTS_MAX_CONNECTIONS: Final = integer(
    "TLSSIM_FAULTS_MAX_CONNECTIONS",
    MAX_CONNECTIONS,
    1,
    1_000_000,
    "connections the faults proxies hold open at once, all proxies together; more are "
    "closed at once and logged",
    ("faults",),
)
FAULTS_MAX_CONNECTIONS_PER_PROXY: Final = integer(
    "TLSSIM_FAULTS_MAX_CONNECTIONS_PER_PROXY",
    MAX_CONNECTIONS_PER_PROXY,
    1,
    1_000_000,
    "connections one faults proxy holds open at once (a gRPC relay: HTTP/2 connections); "
    "more are closed at once and logged",
    ("faults",),
)


def _reserved(e: Environment, _: str) -> tuple[str, ...]:
    """The lab's own HTTP surfaces: the faults API, the console, every metrics port."""
    return (
        FAULTS_API.read(e, "faults"),
        CONSOLE_ADDR.read(e, "console"),
        *(e.metrics_address(service) for service in METRICS_PORTS),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultsSettings:
    api_listen: str = from_setting(LISTEN)
    config: Path | None = from_setting(FAULTS_CONFIG)
    seed: int | None = from_setting(FAULTS_SEED)
    # None: any host (compose, where proxies listen on the container's network).
    listen_hosts: frozenset[str] | None = from_setting(FAULTS_LISTEN_HOSTS)
    metrics_listen: str = from_setting(METRICS_LISTEN)
    # Hosts proxies may dial besides loopback and the lab's services (None: any).
    upstream_hosts: frozenset[str] | None = from_setting(FAULTS_UPSTREAM_HOSTS)
    # The lab's own HTTP surfaces (faults API, console, metrics): never an upstream.
    reserved: tuple[str, ...] = from_setting(FAULTS_API, _reserved)
    max_connections: int = from_setting(FAULTS_MAX_CONNECTIONS)
    max_connections_per_proxy: int = from_setting(FAULTS_MAX_CONNECTIONS_PER_PROXY)
    # Host names its HTTP surfaces answer to besides addresses and localhost (None: any).
    http_hosts: frozenset[str] | None = from_setting(HTTP_HOSTS)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> FaultsSettings:
        return cls(**read_fields(cls, env, "faults"))
