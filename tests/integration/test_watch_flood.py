"""Watch streams opened by the hundred and cancelled: every service ends them quietly (no
traceback, no error line per stream) and gives back what they held (memory stays bounded)."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.integration.conftest import LocalStack, running_stack
from tlssim.rpc.v1 import (
    ca_pb2,
    ca_pb2_grpc,
    client_pb2,
    client_pb2_grpc,
    server_pb2,
    server_pb2_grpc,
    trace_pb2,
    trace_pb2_grpc,
)

pytestmark = pytest.mark.integration

STREAMS = 300
ROUNDS = 3
# RSS a service may have above its first round's peak after the last round.
GROWTH_ALLOWED_MB = 30


def _trace(channel: grpc.aio.Channel) -> Any:
    return trace_pb2_grpc.TraceEventsStub(channel).WatchEvents(
        trace_pb2.WatchEventsRequest(after_sequence=0)
    )


WATCHES: dict[str, list[Callable[[grpc.aio.Channel], Any]]] = {
    "ca": [
        lambda c: ca_pb2_grpc.CertificateAuthorityStub(c).WatchStatus(
            ca_pb2.WatchStatusRequest(after_sequence=0)
        ),
        _trace,
    ],
    "ocsp": [_trace],
    "server": [
        lambda c: server_pb2_grpc.ServerWatchStub(c).WatchConnections(
            server_pb2.WatchConnectionsRequest(after_sequence=0)
        ),
        lambda c: server_pb2_grpc.ServerWatchStub(c).WatchConnectionBatches(
            server_pb2.WatchConnectionsRequest(after_sequence=0)
        ),
        _trace,
    ],
    "client": [
        lambda c: client_pb2_grpc.TlsClientStub(c).WatchReports(
            client_pb2.WatchReportsRequest(after_sequence=0)
        ),
        lambda c: client_pb2_grpc.TlsClientStub(c).WatchReportBatches(
            client_pb2.WatchReportsRequest(after_sequence=0)
        ),
        _trace,
    ],
}


async def flood(address: str, watches: list[Callable[[grpc.aio.Channel], Any]], n: int) -> None:
    """Opens `n` streams of each watch on `address`, lets them start, then cancels them."""
    async with grpc.aio.insecure_channel(address) as channel:
        calls = [watch(channel) for watch in watches for _ in range(n)]

        async def first(call: Any) -> None:
            async for _ in call:
                return

        reading = [asyncio.ensure_future(first(call)) for call in calls]
        await asyncio.wait(reading, timeout=1.0)
        for call in calls:
            call.cancel()
        await asyncio.gather(*reading, return_exceptions=True)


async def held_open(addresses: list[str], n: int, opened: threading.Event) -> None:
    """`n` streams of each watch on each service, open until the services stop."""
    channels = [grpc.aio.insecure_channel(address) for address in addresses]
    calls = [
        watch(channel)
        for channel, name in zip(channels, WATCHES, strict=True)
        for watch in WATCHES[name]
        for _ in range(n)
    ]

    async def drain(call: Any) -> None:
        async for _ in call:
            pass

    draining = asyncio.gather(*(drain(call) for call in calls), return_exceptions=True)
    await asyncio.sleep(1.0)
    opened.set()
    await draining
    for channel in channels:
        await channel.close()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise LookupError(f"no VmRSS for {pid}")


def flood_rounds(stack: LocalStack, rounds: int, streams: int) -> dict[str, list[float]]:
    """RSS (MB) of each service after each round of floods on every service."""
    pids = {name: stack.service_pid(name) for name in WATCHES}
    figures: dict[str, list[float]] = {name: [] for name in WATCHES}
    for _ in range(rounds):
        for name, watches in WATCHES.items():
            address = stack.env[f"TLSSIM_{name.upper()}_ADDR"]
            asyncio.run(flood(address, watches, streams))
        for name, pid in pids.items():
            figures[name].append(rss_mb(pid))
    return figures


FORBIDDEN = ("Traceback", "Lock is not acquired", "Failed sending error status", "Exception")


def test_cancelled_watch_streams_end_quietly_and_give_back_memory(tmp_path: Path) -> None:
    with running_stack(tmp_path) as stack:
        assert stack.tlssim("handshake").returncode == 0  # something in every feed
        before = len(stack.logs())
        figures = flood_rounds(stack, ROUNDS, STREAMS)
        # Stopping the stack with streams open on every service must be quiet too.
        opened = threading.Event()
        addresses = [stack.env[f"TLSSIM_{name.upper()}_ADDR"] for name in WATCHES]
        holder = threading.Thread(
            target=asyncio.run, args=(held_open(addresses, 50, opened),), daemon=True
        )
        holder.start()
        assert opened.wait(30)
        stack.process.send_signal(signal.SIGINT)
        stack.process.wait(timeout=30)
        holder.join(30)
        logged = stack.logs()[before:]
    noisy = [line for line in logged.splitlines() if any(w in line for w in FORBIDDEN)]
    assert noisy == [], "\n".join(noisy[:40])
    assert len(logged.splitlines()) < 200, logged[-4000:]
    for name, rss in figures.items():
        assert rss[-1] - rss[0] < GROWTH_ALLOWED_MB, f"{name}: {rss}"
