"""Helpers for the faults tests: an echo server and a proxy in front of it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from tlssim.faults import FaultsServer, Proxy, ProxySpec, ToxicSpec

T = TypeVar("T")
LIMIT = 20.0


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a test coroutine with a hard time limit."""
    return asyncio.run(asyncio.wait_for(coro, LIMIT))


async def start_echo() -> tuple[asyncio.Server, str]:
    """A TCP echo server that half-closes back when the client half-closes."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            writer.write_eof()
            await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    return server, f"127.0.0.1:{server.sockets[0].getsockname()[1]}"


def toxic(type_: str, stream: str = "downstream", toxicity: float = 1.0, **attrs: Any) -> ToxicSpec:
    return ToxicSpec.from_json(
        {"type": type_, "stream": stream, "toxicity": toxicity, "attributes": attrs}
    )


@dataclass
class Bench:
    """An echo server behind one proxy, inside the running loop."""

    faults: FaultsServer
    proxy: Proxy

    @property
    def address(self) -> tuple[str, int]:
        host, _, port = self.proxy.spec.listen.rpartition(":")
        return host, int(port)

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(*self.address)


async def with_bench(body: Callable[[Bench], Awaitable[T]], seed: int | None = None) -> T:
    echo, upstream = await start_echo()
    faults = FaultsServer("127.0.0.1:0", seed)
    await faults.start()
    proxy = await faults.registry.create(
        ProxySpec(name="echo", listen="127.0.0.1:0", upstream=upstream)
    )
    try:
        return await body(Bench(faults, proxy))
    finally:
        await faults.close()
        echo.close()


async def round_trip(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes
) -> tuple[bytes, float]:
    """Send payload, read the same number of bytes back; returns (bytes, seconds)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    writer.write(payload)
    await writer.drain()
    data = await reader.readexactly(len(payload))
    return data, loop.time() - start
