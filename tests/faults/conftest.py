"""Fixtures for the faults tests: the service running on a loop in another thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tlssim.faults import FaultsServer

from .helpers import start_echo


@dataclass
class ThreadedService:
    """A FaultsServer and an echo server running on a loop in another thread."""

    api: str
    echo: str
    loop: asyncio.AbstractEventLoop

    @property
    def api_host_port(self) -> tuple[str, int]:
        host, _, port = self.api.rpartition(":")
        return host, int(port)


@pytest.fixture
def service() -> Iterator[ThreadedService]:
    loop = asyncio.new_event_loop()
    ready: dict[str, str] = {}
    started = threading.Event()
    stop = asyncio.Event()

    async def main() -> None:
        echo, upstream = await start_echo()
        faults = FaultsServer("127.0.0.1:0", seed=7)
        await faults.start()
        ready.update(api=faults.api_address, echo=upstream)
        started.set()
        await stop.wait()
        await faults.close()
        echo.close()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield ThreadedService(ready["api"], ready["echo"], loop)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
