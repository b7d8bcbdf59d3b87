"""Where the services listen and where each one finds the others.

Every address can be overridden by an environment variable, which is how `tlssim up`
and compose route each link through the faults proxy.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

DEFAULT_HOST = "127.0.0.1"

CA_PORT = 50051
OCSP_GRPC_PORT = 50052
OCSP_HTTP_PORT = 8080
SERVER_GRPC_PORT = 50053
SERVER_TCP_PORT = 8443
CLIENT_GRPC_PORT = 50054
FAULTS_API_PORT = 8474
SERVER_METRICS_PORT = 9153


@dataclass(frozen=True)
class Endpoints:
    """Addresses (HOST:PORT) a process uses to reach the other services."""

    ca: str
    ocsp: str
    ocsp_url: str
    server: str
    server_tcp: str
    client: str
    faults_api: str
    #: The server's Prometheus endpoint (what the replayed-0rtt scenario reads).
    server_metrics: str = f"{DEFAULT_HOST}:{SERVER_METRICS_PORT}"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Endpoints:
        e = os.environ if env is None else env
        host = e.get("TLSSIM_HOST", DEFAULT_HOST)
        return cls(
            ca=e.get("TLSSIM_CA_ADDR", f"{host}:{CA_PORT}"),
            ocsp=e.get("TLSSIM_OCSP_ADDR", f"{host}:{OCSP_GRPC_PORT}"),
            ocsp_url=e.get("TLSSIM_OCSP_URL", f"http://{host}:{OCSP_HTTP_PORT}"),
            server=e.get("TLSSIM_SERVER_ADDR", f"{host}:{SERVER_GRPC_PORT}"),
            server_tcp=e.get("TLSSIM_SERVER_TCP_ADDR", f"{host}:{SERVER_TCP_PORT}"),
            client=e.get("TLSSIM_CLIENT_ADDR", f"{host}:{CLIENT_GRPC_PORT}"),
            faults_api=e.get("TLSSIM_FAULTS_API", f"{host}:{FAULTS_API_PORT}"),
            server_metrics=e.get("TLSSIM_SERVER_METRICS_ADDR", f"{host}:{SERVER_METRICS_PORT}"),
        )


def split_host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {address!r}")
    return host.strip("[]"), int(port)


def replica_addresses(address: str) -> list[str]:
    """Every address the name in HOST:PORT resolves to, as HOST:PORT: one per replica of a
    service behind a round-robin name (Swarm's dnsrr). Raises OSError when it does not
    resolve, ValueError when it is not HOST:PORT."""
    host, port = split_host_port(address)
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    ips = sorted({str(info[4][0]) for info in found})
    return [f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}" for ip in ips]


async def replicas_of(address: str) -> list[str]:
    """`replica_addresses` without blocking the event loop."""
    return await asyncio.to_thread(replica_addresses, address)


#: What looks up a service's replicas (tests put a fixed answer in its place).
Resolver = Callable[[str], Awaitable[list[str]]]
