"""A server that starts while the ca is unreachable: it must wait, then enroll and serve.

Locally the runner starts a second server process whose links to the ca and the responder
go through the same proxies; under compose it restarts the server container.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from tlssim import rpcutil
from tlssim.faults import containers
from tlssim.faults.rest_client import FaultsApi
from tlssim.harness.localstack import free_ports
from tlssim.report.model import Report
from tlssim.topology.endpoints import Endpoints

UNHEALTHY_FOR_S = 3.0
HEALTHY_WITHIN_S = 30.0
RECONNECT_WITHIN_S = 3.0


async def _wait_serving(address: str, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if await rpcutil.is_serving(address, timeout=0.5):
            return True
        await asyncio.sleep(0.2)
    return False


@contextlib.asynccontextmanager
async def restarted_server(api: FaultsApi, endpoints: Endpoints) -> AsyncIterator[dict[str, Any]]:
    """Starts (or restarts) a server; yields its gRPC address and the HandshakeRequest fields
    that reach it."""
    proxies = await api.acall("GET", "/proxies")
    ca_link, ocsp_link = proxies["server_ca"]["listen"], proxies["server_ocsp"]["listen"]
    if ca_link.startswith("0.0.0.0:"):  # the proxies live inside the compose network
        await asyncio.to_thread(containers.apply, "restart", "server")
        yield {"address": endpoints.server, "request": {}}
        return
    grpc_port, tcp_port = free_ports(2)
    env = os.environ | {
        "TLSSIM_CA_ADDR": ca_link,
        "TLSSIM_OCSP_ADDR": ocsp_link,
        "TLSSIM_LISTEN": f"127.0.0.1:{grpc_port}",
        "TLSSIM_TCP_LISTEN": f"127.0.0.1:{tcp_port}",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tlssim",
        "serve",
        "server",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield {
            "address": f"127.0.0.1:{grpc_port}",
            "request": {"tcp_address": f"127.0.0.1:{tcp_port}"},
        }
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            process.kill()
            await process.wait()


async def ca_down_while_server_starts(
    api: FaultsApi,
    endpoints: Endpoints,
    handshake: Callable[[dict[str, Any]], Awaitable[Report]],
) -> tuple[bool, str]:
    """(passed, what happened)"""
    await api.acall("POST", "/proxies/server_ca", {"enabled": False})
    async with restarted_server(api, endpoints) as server:
        if await _wait_serving(server["address"], UNHEALTHY_FOR_S):
            return False, "the server reported healthy without its certificates"
        await api.acall("POST", "/proxies/server_ca", {"enabled": True})
        started = time.monotonic()
        if not await _wait_serving(server["address"], HEALTHY_WITHIN_S):
            return (
                False,
                f"the server was not healthy {HEALTHY_WITHIN_S:g} s after the ca came back",
            )
        ready_s = time.monotonic() - started
        # Callers' channels to the restarted server reconnect within their backoff (2 s at
        # most); a transport failure in that window is retried, a TLS alert never is.
        reconnect_by = time.monotonic() + RECONNECT_WITHIN_S
        while True:
            report = await handshake(server["request"] | {"revocation": "hard"})
            if report.ok or report.alert or time.monotonic() > reconnect_by:
                break
            await asyncio.sleep(0.3)
        why = f"alert {report.alert.description}" if report.alert else report.error
        verdict = "success" if report.ok else f"failure: {why}"
        return report.ok, (
            f"not healthy while the ca was down; healthy {ready_s:.1f} s after it came back; "
            f"handshake {verdict}"
        )
