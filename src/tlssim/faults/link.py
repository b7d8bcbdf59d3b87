"""One proxied TCP connection: two directions, each piping chunks through its toxics."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import socket
import struct
from collections.abc import Awaitable, Callable, Sequence

from tlssim.faults.toxics import TOXIC_TYPES, Chunk, Direction, Toxic, ToxicSpec

log = logging.getLogger(__name__)

READ_SIZE = 32 * 1024
QUEUE_CHUNKS = 64

ToxicSource = Callable[[Direction], Sequence[ToxicSpec]]


class Link:
    """One direction of a connection: reads the source, runs the toxics, writes the sink."""

    def __init__(
        self,
        conn: Connection,
        direction: Direction,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
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
            while data := await self.source.read(READ_SIZE):
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
            if self.sink.can_write_eof() and not self.sink.is_closing():
                self.sink.write_eof()
        except OSError:
            self.conn.close()

    async def _through(self, chain: tuple[Toxic, ...], index: int, chunk: Chunk) -> None:
        if index == len(chain):
            if chunk.data:
                self.sink.write(chunk.data)
                await self.sink.drain()
            return
        await chain[index].on_data(chunk, functools.partial(self._through, chain, index + 1))


class Connection:
    """A client connection accepted by a proxy and its upstream connection."""

    def __init__(
        self,
        conn_id: str,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        toxic_source: ToxicSource,
        rng_seed: str | None,
    ) -> None:
        self.id = conn_id
        self.client_reader, self.client_writer = client
        self.toxic_source = toxic_source
        self._rng_seed = rng_seed
        self._writers: list[asyncio.StreamWriter] = [self.client_writer]
        self._links: list[Link] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._main: asyncio.Task[None] | None = None
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

    async def run(self, upstream_host: str, upstream_port: int) -> None:
        """Dial upstream and pipe both ways until both directions end or the proxy closes."""
        self._main = asyncio.current_task()
        try:
            try:
                up_reader, up_writer = await asyncio.wait_for(
                    asyncio.open_connection(upstream_host, upstream_port), 10
                )
            except (OSError, TimeoutError) as exc:
                log.info("connection %s: upstream unreachable: %s", self.id, exc)
                return
            self._writers.append(up_writer)
            self._links = [
                Link(self, Direction.UPSTREAM, self.client_reader, up_writer),
                Link(self, Direction.DOWNSTREAM, up_reader, self.client_writer),
            ]
            for link in self._links:
                link.sync_toxics()
            loops = [self.spawn(link.read_loop()) for link in self._links]
            loops += [self.spawn(link.write_loop()) for link in self._links]
            await asyncio.gather(*loops)
        except asyncio.CancelledError:
            pass
        finally:
            self._finish(abort=False)

    def toxics_changed(self) -> None:
        for link in self._links:
            link.sync_toxics()

    def close(self) -> None:
        """Close both sides with FIN (data already written is still delivered)."""
        self._cancel()

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
        for link in self._links:
            link.stop_toxics()
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        for writer in self._writers:
            if abort:
                writer.transport.abort()
            else:
                writer.close()
        self.closed.set()
