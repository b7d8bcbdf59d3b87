"""HTTP/2 connections piped unchanged from the gRPC relay's port to where they belong.

A link with no toxic has nothing to do to the TLS bytes inside its gRPC calls, so the
relay hands the client's HTTP/2 connection straight to the upstream server (one copy per
read, no gRPC re-termination); a link with a toxic, or a disabled one, is piped into the
relay's own gRPC server, which re-terminates each call so toxics act on the TLS stream.

gRPC keeps one HTTP/2 connection per channel for as long as it can, so when a link's
toxics change, connections that went the other way must move. Each pipe tracks frame
boundaries in both directions and, asked to drain, injects at a boundary what a server
says before shutting down (RFC 9113 §6.8): GOAWAY with the highest stream id (streams in
flight finish, new calls open a new connection) followed by a PING. The client's PING ACK,
dropped here, proves it has read the GOAWAY: from then on its new calls take the new path.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable

CLIENT_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_FRAME_HEADER_BYTES = 9
_PING, _GOAWAY = 0x6, 0x7
_ACK = 0x1
_MAX_STREAM_ID = 0x7FFFFFFF
# Stop reading one side while the other has this much unsent (flow control of the pipe).
_HIGH_WATER = 256 * 1024


def _frame(kind: int, flags: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "big") + bytes((kind, flags)) + bytes(4) + payload


def drain_frames(ping_opaque: bytes) -> bytes:
    """GOAWAY (NO_ERROR, every stream may finish) and a PING whose ACK tells it was read."""
    goaway = _frame(_GOAWAY, 0, _MAX_STREAM_ID.to_bytes(4, "big") + bytes(4))
    return goaway + _frame(_PING, 0, ping_opaque)


class FrameCursor:
    """Follows one direction of an HTTP/2 connection frame by frame, passing bytes on.

    `drop_ack` names the opaque data of a PING ACK to take out of the stream (the answer
    to our own PING, which the other end never sent); `inject` is written at the next
    frame boundary."""

    def __init__(self, preface: int = 0) -> None:
        self._left = preface  # bytes of the current frame (or the preface) still to pass
        self._head = bytearray()  # a frame header split across reads
        self._ping: bytearray | None = None  # a PING ACK held back until it is whole
        self.frames = 0  # whole frame headers seen
        self.drop_ack: bytes | None = None
        self.on_dropped: Callable[[], None] | None = None
        self.inject = b""

    @property
    def at_boundary(self) -> bool:
        return self.frames > 0 and not self._left and not self._head and self._ping is None

    def take_injection(self) -> bytes:
        out, self.inject = self.inject, b""
        return out

    def feed(self, data: bytes) -> bytes:
        """The bytes to pass on for `data`."""
        if self._left >= len(data) and not self.inject:
            self._left -= len(data)  # inside a frame: the common case, no copy
            return data
        out = bytearray()
        view = memoryview(data)
        i, n = 0, len(data)
        while i < n:
            if self._left:
                take = min(self._left, n - i)
                out += view[i : i + take]
                i += take
                self._left -= take
            elif self._ping is not None:
                take = min(_FRAME_HEADER_BYTES + 8 - len(self._ping), n - i)
                self._ping += view[i : i + take]
                i += take
                if len(self._ping) == _FRAME_HEADER_BYTES + 8:
                    self._end_ping(out)
            else:
                take = min(_FRAME_HEADER_BYTES - len(self._head), n - i)
                self._head += view[i : i + take]
                i += take
                if len(self._head) == _FRAME_HEADER_BYTES:
                    self._start_frame(out)
            if self.inject and self.at_boundary:
                out += self.take_injection()
        return bytes(out)

    def _start_frame(self, out: bytearray) -> None:
        head, self._head = bytes(self._head), bytearray()
        self.frames += 1
        length = int.from_bytes(head[:3], "big")
        kind, flags = head[3], head[4]
        if self.drop_ack is not None and kind == _PING and flags & _ACK and length == 8:
            self._ping = bytearray(head)
            return
        out += head
        self._left = length

    def _end_ping(self, out: bytearray) -> None:
        ping, self._ping = bytes(self._ping or b""), None
        if ping[_FRAME_HEADER_BYTES:] == self.drop_ack:
            self.drop_ack = None
            if self.on_dropped is not None:
                self.on_dropped()
            return
        out += ping


class _End(asyncio.Protocol):
    """One TCP end of a pipe; what it reads goes to the other end."""

    def __init__(self, pipe: H2Pipe, cursor: FrameCursor) -> None:
        self.pipe = pipe
        self.cursor = cursor
        self.transport: asyncio.Transport | None = None
        self.peer: _End | None = None
        self._pending = bytearray()  # read before the other end was connected

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=_HIGH_WATER)

    def data_received(self, data: bytes) -> None:
        out = self.cursor.feed(data)
        peer = self.peer
        if peer is None or peer.transport is None:
            self._pending += out
            return
        if out:
            peer.transport.write(out)

    def flush_pending(self) -> None:
        if self._pending and self.peer is not None and self.peer.transport is not None:
            self.peer.transport.write(bytes(self._pending))
        self._pending.clear()

    def eof_received(self) -> bool | None:
        self.pipe.close()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.pipe.close()

    # The other end's writes back up: stop reading here until they drain.
    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()


class H2Pipe:
    """A client's HTTP/2 connection piped to one backend (`mode` says which)."""

    def __init__(self, mode: str, on_closed: Callable[[H2Pipe], None]) -> None:
        self.mode = mode
        self._on_closed = on_closed
        # Each end's cursor follows what that end reads: the client starts with its preface.
        self.client = _End(self, FrameCursor(preface=len(CLIENT_PREFACE)))
        self.backend = _End(self, FrameCursor())
        self.client.peer, self.backend.peer = self.backend, self.client
        self.drained = asyncio.Event()
        self._draining = False
        self._closed = False

    async def connect(self, host: str, port: int) -> None:
        """Dial the backend and start passing bytes; OSError when it cannot be reached."""
        loop = asyncio.get_running_loop()
        await loop.create_connection(lambda: self.backend, host, port)
        self.client.flush_pending()

    @property
    def draining(self) -> bool:
        return self._draining

    def drain(self) -> None:
        """Ask the client to move its new calls to a new connection (see the module doc)."""
        if self._draining or self._closed:
            return
        self._draining = True
        opaque = os.urandom(8)
        upstream = self.client.cursor  # what the client sends, on its way to the backend
        upstream.drop_ack = opaque
        upstream.on_dropped = self.drained.set
        downstream = self.backend.cursor  # what the backend sends, on its way to the client
        downstream.inject = drain_frames(opaque)
        if downstream.at_boundary and self.client.transport is not None:
            self.client.transport.write(downstream.take_injection())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.drained.set()
        for end in (self.client, self.backend):
            if end.transport is not None:
                end.transport.close()
        self._on_closed(self)

    def abort(self) -> None:
        """Cut the connection at once (a disabled link): calls in flight fail."""
        for end in (self.client, self.backend):
            if end.transport is not None:
                end.transport.abort()
        self.close()

    async def wait_drained(self, timeout: float) -> None:
        """Until the client has read the GOAWAY; a client that never says so is cut."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.drained.wait()
                return
        self.abort()
