"""The server follows the ca's status feed, as the responders do: a certificate it serves
that gets revoked loses its staple at once, instead of being stapled as good until the next
refresh (or, with the responders cut off from the ca, until the staple's nextUpdate)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

import grpc

from tlssim.rpc.v1 import ca_pb2
from tlssim.services.backoff import Backoff

log = logging.getLogger("tlssim.server")


class RevocationListener(Protocol):
    async def revoked(self, serial_hex: str) -> None: ...


async def follow_revocations(ca: Any, listener: RevocationListener) -> None:
    """Follows WatchStatus forever (resuming after the last sequence seen), telling
    `listener` of every revocation; the first pass replays the feed from its start."""
    after = 0
    backoff = Backoff()
    handling: set[asyncio.Task[None]] = set()
    while True:
        try:
            async for event in ca.WatchStatus(ca_pb2.WatchStatusRequest(after_sequence=after)):
                backoff.reset()
                if event.heartbeat:
                    continue
                after = max(after, int(event.sequence))
                if event.kind == ca_pb2.StatusEvent.REVOKED:
                    # Handled beside the feed: fetching a revoked staple may take retries.
                    task = asyncio.create_task(listener.revoked(str(event.serial_hex)))
                    handling.add(task)
                    task.add_done_callback(handling.discard)
        except grpc.aio.AioRpcError as exc:
            log.info(
                "status feed lost at %d (%s); again in %.1fs", after, exc.code().name, backoff.delay
            )
        await backoff.wait()
