"""Client handshake latency against one server: tlslite-ng (pure Python), tlssim, OpenSSL.

Each is a sequential loop of fresh TCP connections to the same tlssim TCP server process:
connect, full TLS 1.3 handshake (X25519, ECDSA P-256 certificate, no certificate check in
any of them), 4 bytes echoed, close. Wall time per connection.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tlssim.bench.certs import HOST
from tlssim.bench.load import client_context, one_handshake
from tlssim.client.run import run_client
from tlssim.net.transport import TcpTransport
from tlssim.tls import AlertDescription, ClientConfig, ClientConnection, NamedGroup, events


@dataclass(frozen=True)
class ClientResult:
    client: str
    ms: float | None  # median wall time per connection; None when the client is absent
    note: str = ""


def _median_ms(samples: list[float]) -> float:
    samples.sort()
    return samples[len(samples) // 2] * 1000


def _loop(once: Callable[[], None], n: int) -> float:
    once()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        once()
        samples.append(time.perf_counter() - t0)
    return _median_ms(samples)


def tlslite_client(port: int) -> Callable[[], None] | None:
    try:
        from tlslite.api import HandshakeSettings, TLSConnection
    except ImportError:
        return None
    settings: Any = HandshakeSettings()
    settings.minVersion = (3, 4)
    settings.maxVersion = (3, 4)
    settings.keyShares = ["x25519"]

    def once() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn: Any = TLSConnection(sock)
            conn.handshakeClientCert(serverName=HOST, settings=settings)
            conn.write(b"ping")
            if conn.read(max=4, min=4) != b"ping":
                raise RuntimeError("tlslite-ng: no echo")
            conn.close()

    return once


async def _tlssim_loop(port: int, n: int) -> float:
    # What OpenSSL 3.0's client offers (the baseline): x25519's share alone, no hybrid.
    config = ClientConfig(
        server_name=HOST,
        entropy=os.urandom,
        request_ocsp=False,
        supported_groups=(NamedGroup.x25519, NamedGroup.secp256r1),
        key_share_groups=(NamedGroup.x25519,),
    )

    async def accept(_: events.CertificateReceived) -> AlertDescription | None:
        return None

    async def once() -> None:
        transport = await TcpTransport.connect("127.0.0.1", port)
        try:
            run = await run_client(ClientConnection(config), transport, accept, b"ping", 10)
        finally:
            await transport.close()
        if not run.completed or run.echoed != b"ping":
            raise RuntimeError(f"tlssim client: {run.failure}")

    await once()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        await once()
        samples.append(time.perf_counter() - t0)
    return _median_ms(samples)


def run(port: int, n: int) -> list[ClientResult]:
    results = []
    ctx: ssl.SSLContext = client_context()
    results.append(ClientResult("OpenSSL (Python ssl)", _loop(lambda: one_handshake(ctx, port), n)))
    results.append(
        ClientResult("tlssim (asyncio, TcpTransport)", asyncio.run(_tlssim_loop(port, n)))
    )
    tlslite = tlslite_client(port)
    if tlslite is None:
        results.append(ClientResult("tlslite-ng", None, "not installed: pip install tlslite-ng"))
    else:
        results.append(ClientResult("tlslite-ng", _loop(tlslite, max(5, n // 5))))
    return results
