"""A WatchStatus stream cancelled at any point (replaying, waiting for news, as a heartbeat
or an event arrives) ends with CancelledError alone and leaves the ca's watch state usable."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path
from typing import Any

from tlssim.clock import SystemClock
from tlssim.pki.authority import Authority
from tlssim.pki.enrollment import AdminToken, EnrollmentCredentials
from tlssim.rpc.v1 import ca_pb2
from tlssim.services.ca import CertificateAuthorityService

WATCHERS = 200


async def _watch(service: CertificateAuthorityService, seen: list[Any]) -> None:
    async for event in service.WatchStatus(ca_pb2.WatchStatusRequest(after_sequence=0), None):
        seen.append(event)


async def _cancelled_at_every_point(service: CertificateAuthorityService) -> list[BaseException]:
    seen: list[Any] = []
    watchers = [asyncio.create_task(_watch(service, seen)) for _ in range(WATCHERS)]
    failures: list[BaseException] = []
    # Cancel them a few at a time, while news and heartbeats wake the others.
    for i, task in enumerate(watchers):
        if i % 10 == 0:
            # Bounded: a lock a cancelled watcher left held would block it for ever.
            await asyncio.wait_for(service._published(service._latest_sequence + 1), 5)
        if i % 25 == 0:
            await asyncio.sleep(0.01)  # past a heartbeat: some are yielding one
        task.cancel()
        await asyncio.sleep(0)
    for outcome in await asyncio.gather(*watchers, return_exceptions=True):
        if isinstance(outcome, BaseException) and not isinstance(outcome, asyncio.CancelledError):
            failures.append(outcome)
    assert seen  # they did watch before they were cancelled
    return failures


def test_cancelled_watchers_end_without_an_error(tmp_path: Path) -> None:
    authority = Authority.open(tmp_path / "ca", SystemClock())
    try:
        service = CertificateAuthorityService(
            authority,
            AdminToken(tmp_path / "ca", "token"),
            EnrollmentCredentials(tmp_path / "ca"),
            {},
            heartbeat_interval=0.005,
        )

        async def main() -> list[BaseException]:
            failures = []
            for _ in range(3):
                failures += await _cancelled_at_every_point(service)
            # A watcher after the flood still hears of the ca closing.
            last = asyncio.create_task(_watch(service, []))
            await asyncio.sleep(0.02)
            await asyncio.wait_for(service.close(), 5)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(last, 5)
            return failures

        # In a thread of its own: a loop whose watchers never end is left behind, failing.
        outcome: list[list[BaseException]] = []
        runner = threading.Thread(target=lambda: outcome.append(asyncio.run(main())), daemon=True)
        runner.start()
        runner.join(30)
        assert outcome == [[]], outcome or "the watchers never ended"
    finally:
        authority.close()
