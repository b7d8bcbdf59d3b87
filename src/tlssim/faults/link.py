"""One proxied connection: two directions, each piping chunks through its toxics.

A direction reads from a `Source` and writes to a `Sink`; TCP streams and gRPC calls
(see `grpcrelay`) both fit, so every toxic works the same on either kind of proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import socket
import struct
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from tlssim.faults.toxics import TOXIC_TYPES, Chunk, Direction, Toxic, ToxicSpec

log = logging.getLogger(__name__)

READ_SIZE = 32 * 1024
QUEUE_CHUNKS = 64
# How long a replayed flight's connection waits for the upstream's answer.
REPLAY_ANSWER_S = 3.0

ToxicSource = Callable[[Direction], Sequence[ToxicSpec]]


class Source(Protocol):
    async def read(self) -> bytes:
        """The next bytes; b"" at the end of the stream. OSError ends the connection."""
        ...


class Sink(Protocol):
    async def write(self, data: bytes) -> None: ...

    async def write_eof(self) -> None:
        """Half-close: nothing more will be written."""
        ...


class StreamSource:
    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader

    async def read(self) -> bytes:
        return await self.reader.read(READ_SIZE)


class StreamSink:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def write_eof(self) -> None:
        if self.writer.can_write_eof() and not self.writer.is_closing():
            self.writer.write_eof()


class Link:
    """One direction of a connection: reads the source, runs the toxics, writes the sink."""

    def __init__(
        self,
        conn: ConnectionBase,
        direction: Direction,
        source: Source,
        sink: Sink,
    ) -> None:
        self.conn = conn
        self.direction = direction
        self.source = source
        self.sink = sink
        self._queue: asyncio.Queue[Chunk | None] = asyncio.Queue(QUEUE_CHUNKS)
        self._toxics: dict[str, tuple[ToxicSpec, Toxic | None]] = {}
        self._chain: list[Toxic] = []

    @property
    def connection_id(self) -> str:
        return self.conn.id

    def close(self) -> None:
        self.conn.close()

    def reset(self) -> None:
        self.conn.reset()

    def spawn(self, coro: Awaitable[None]) -> asyncio.Task[None]:
        return self.conn.spawn(coro)

    async def replay_upstream(self, data: bytes) -> bytes:
        return await self.conn.replay_upstream(data)

    def sync_toxics(self) -> None:
        """Bring the live toxics in line with the proxy's current list for this direction."""
        wanted = self.conn.toxic_source(self.direction)
        names = {spec.name for spec in wanted}
        for name in list(self._toxics):
            if name not in names:
                _, toxic = self._toxics.pop(name)
                if toxic is not None:
                    toxic.stop()
        chain: list[Toxic] = []
        for spec in wanted:
            current = self._toxics.get(spec.name)
            if current is None or current[0] != spec:
                if current is not None and current[1] is not None:
                    current[1].stop()
                current = (spec, self._instantiate(spec))
                self._toxics[spec.name] = current
            if current[1] is not None:
                chain.append(current[1])
        self._chain = chain

    def _instantiate(self, spec: ToxicSpec) -> Toxic | None:
        rng = self.conn.rng_for(f"{self.direction.value}:{spec.name}:{spec.type}")
        if not rng.random() < spec.toxicity:
            return None
        toxic = TOXIC_TYPES[spec.type](spec, self, rng)
        toxic.start()
        return toxic

    def stop_toxics(self) -> None:
        for _, toxic in self._toxics.values():
            if toxic is not None:
                toxic.stop()
        self._toxics.clear()
        self._chain = []

    async def read_loop(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while data := await self.source.read():
                await self._queue.put(Chunk(data, loop.time()))
        except OSError:
            self.conn.close()
        await self._queue.put(None)

    async def write_loop(self) -> None:
        """Forward chunks through the toxics; then propagate the half-close."""
        try:
            while (chunk := await self._queue.get()) is not None:
                self.sync_toxics()
                await self._through(tuple(self._chain), 0, chunk)
            self.sync_toxics()
            for toxic in tuple(self._chain):
                await toxic.on_eof()
            await self.sink.write_eof()
        except OSError:
            self.conn.close()

    async def _through(self, chain: tuple[Toxic, ...], index: int, chunk: Chunk) -> None:
        if index == len(chain):
            if chunk.data:
                await self.sink.write(chunk.data)
            return
        await chain[index].on_data(chunk, functools.partial(self._through, chain, index + 1))


class ConnectionBase:
    """A client connection (or call) and its upstream: ids, randomness, tasks, toxics."""

    def __init__(self, conn_id: str, toxic_source: ToxicSource, rng_seed: str | None) -> None:
        self.id = conn_id
        self.toxic_source = toxic_source
        self._rng_seed = rng_seed
        self._links: list[Link] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.closed = asyncio.Event()

    def rng_for(self, label: str) -> random.Random:
        """A random source for one toxic on this connection, repeatable under a seed."""
        if self._rng_seed is None:
            return random.Random()
        return random.Random(f"{self._rng_seed}:{self.id}:{label}")

    def spawn(self, coro: Awaitable[None]) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def pipe(self, upstream: tuple[Source, Sink], downstream: tuple[Source, Sink]) -> None:
        """Run both directions until both end: (client source, upstream sink) and back."""
        self._links = [
            Link(self, Direction.UPSTREAM, upstream[0], upstream[1]),
            Link(self, Direction.DOWNSTREAM, downstream[0], downstream[1]),
        ]
        for link in self._links:
            link.sync_toxics()
        loops = [self.spawn(link.read_loop()) for link in self._links]
        loops += [self.spawn(link.write_loop()) for link in self._links]
        await asyncio.gather(*loops)

    def link(self, direction: Direction) -> Link | None:
        return next((link for link in self._links if link.direction is direction), None)

    def toxics_changed(self) -> None:
        for link in self._links:
            link.sync_toxics()

    def close(self) -> None:
        """End both sides cleanly (data already written is still delivered)."""
        raise NotImplementedError

    def reset(self) -> None:
        """Abort both sides."""
        raise NotImplementedError

    async def replay_upstream(self, data: bytes) -> bytes:
        """``data`` on a new upstream connection of its own (see LinkContext)."""
        raise NotImplementedError

    def stop_tasks(self) -> None:
        for link in self._links:
            link.stop_toxics()
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()


class Connection(ConnectionBase):
    """A TCP client connection accepted by a proxy and its upstream connection."""

    def __init__(
        self,
        conn_id: str,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        toxic_source: ToxicSource,
        rng_seed: str | None,
    ) -> None:
        super().__init__(conn_id, toxic_source, rng_seed)
        self.client_reader, self.client_writer = client
        self._writers: list[asyncio.StreamWriter] = [self.client_writer]
        self._main: asyncio.Task[None] | None = None
        self._upstream: tuple[str, int] = ("", 0)

    async def run(self, upstream_host: str, upstream_port: int) -> None:
        """Dial upstream and pipe both ways until both directions end or the proxy closes."""
        self._main = asyncio.current_task()
        self._upstream = (upstream_host, upstream_port)
        try:
            try:
                up_reader, up_writer = await asyncio.wait_for(
                    asyncio.open_connection(upstream_host, upstream_port), 10
                )
            except (OSError, TimeoutError) as exc:
                log.info("connection %s: upstream unreachable: %s", self.id, exc)
                return
            self._writers.append(up_writer)
            await self.pipe(
                (StreamSource(self.client_reader), StreamSink(up_writer)),
                (StreamSource(up_reader), StreamSink(self.client_writer)),
            )
        except asyncio.CancelledError:
            pass
        finally:
            self._finish(abort=False)

    def close(self) -> None:
        """Close both sides with FIN (data already written is still delivered)."""
        self._cancel()

    async def replay_upstream(self, data: bytes) -> bytes:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(*self._upstream), 10)
        received = bytearray()
        try:
            writer.write(data)
            await writer.drain()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(REPLAY_ANSWER_S):
                    while chunk := await reader.read(65536):
                        received += chunk
        finally:
            writer.close()
        return bytes(received)

    def reset(self) -> None:
        """Abort both sides with RST."""
        for writer in self._writers:
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        self._cancel()

    def _cancel(self) -> None:
        if self._main is not None and not self._main.done():
            self._main.cancel()
        else:
            self._finish(abort=False)

    def _finish(self, abort: bool) -> None:
        self.stop_tasks()
        for writer in self._writers:
            if abort:
                writer.transport.abort()
            else:
                writer.close()
        self.closed.set()
