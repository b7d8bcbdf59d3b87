"""Byte pipes that carry TLS records: a gRPC bidirectional stream or a TCP connection."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Protocol

import grpc

from tlssim import rpcutil
from tlssim.rpc.v1 import server_pb2

# How long a client waits for the server to end a gRPC call before cancelling it.
CLOSE_GRACE_S = 1.0

# A single TLS record is at most 2^14 + 256 bytes; read a little more than that at a time.
READ_SIZE = 18 * 1024


class Transport(Protocol):
    async def send(self, data: bytes) -> None: ...

    async def receive(self) -> bytes:
        """The next bytes from the peer; b"" once the peer has finished sending."""
        ...

    async def finish(self) -> None:
        """Tells the peer nothing more will be sent (a TCP FIN / end of the request stream)."""
        ...

    async def close(self) -> None:
        """Releases the connection, whatever state it is in."""
        ...


class GrpcClientTransport:
    """The client's end of a TlsServer.Connect call; a failed call is a ConnectionError."""

    def __init__(self, call: Any) -> None:
        self._call = call
        # The server's status, even when a write racing its end turned the call's INTERNAL.
        self._status = rpcutil.FirstStatus(call)
        self._finished = False

    async def send(self, data: bytes) -> None:
        try:
            await self._call.write(server_pb2.TlsBytes(data=data))
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            raise ConnectionError(await self._status.describe()) from None

    async def receive(self) -> bytes:
        try:
            while True:
                message = await self._call.read()
                if message is grpc.aio.EOF:
                    return b""
                if message.data:
                    return bytes(message.data)
        except grpc.aio.AioRpcError:
            raise ConnectionError(await self._status.describe()) from None

    async def finish(self) -> None:
        if not self._finished:
            self._finished = True
            with contextlib.suppress(grpc.aio.AioRpcError):
                await self._call.done_writing()

    async def close(self) -> None:
        """Waits briefly for the server to end the call (so it finishes its side cleanly),
        then cancels whatever is left."""
        if not self._call.done():
            with contextlib.suppress(TimeoutError, grpc.aio.AioRpcError, ConnectionError):
                async with asyncio.timeout(CLOSE_GRACE_S):
                    while await self.receive():
                        pass
        self._call.cancel()


class GrpcServerTransport:
    """The server's end of a TlsServer.Connect call, read and written through its context."""

    def __init__(self, context: Any) -> None:
        self._context = context

    async def send(self, data: bytes) -> None:
        await self._context.write(server_pb2.TlsBytes(data=data))

    async def receive(self) -> bytes:
        while True:
            message = await self._context.read()
            if message is grpc.aio.EOF:
                return b""
            if isinstance(message, rpcutil.MalformedRequest):  # no coroutine per message
                await rpcutil.reject_malformed(message, self._context)
            if message.data:
                return bytes(message.data)

    async def finish(self) -> None:
        # The server's side of the stream ends when the handler returns.
        return None

    async def close(self) -> None:
        return None


class TcpTransport:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def connect(cls, host: str, port: int) -> TcpTransport:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    async def receive(self) -> bytes:
        try:
            return await self._reader.read(READ_SIZE)
        except ConnectionError:
            return b""

    async def finish(self) -> None:
        if self._writer.can_write_eof() and not self._writer.is_closing():
            with contextlib.suppress(OSError):
                self._writer.write_eof()

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()


class RecordingTransport:
    """Wraps a transport and keeps every byte in each direction, exactly as it travelled,
    and the order the chunks crossed in: ("sent" or "received", byte count) each."""

    def __init__(self, inner: Transport) -> None:
        self._inner = inner
        self.sent = bytearray()
        self.received = bytearray()
        self.order: list[tuple[str, int]] = []

    async def send(self, data: bytes) -> None:
        self.sent += data
        if data:
            self.order.append(("sent", len(data)))
        await self._inner.send(data)

    async def receive(self) -> bytes:
        data = await self._inner.receive()
        self.received += data
        if data:
            self.order.append(("received", len(data)))
        return data

    async def finish(self) -> None:
        await self._inner.finish()

    async def close(self) -> None:
        await self._inner.close()
