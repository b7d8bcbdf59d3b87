"""The tlssim-grpc proxy kind: a TlsServer that relays each Connect call to the real one.

A byte-level proxy on the client→server link would only see HTTP/2. This proxy speaks the
TlsServer service itself: for each incoming Connect call it opens a Connect call upstream
(over one long-lived channel) and pumps the TlsBytes payloads both ways through the same
`Link` and toxic chain as a TCP proxy, so every toxic — latency, slicer, the tls_* ones —
acts on the TLS byte stream. A half-close (done_writing) travels like a TCP FIN; a reset
or a disabled proxy ends the client's call with UNAVAILABLE; an upstream error status is
passed back to the client as it came.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
from dataclasses import replace
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from tlssim import rpcutil
from tlssim.faults.budget import ConnectionBudget
from tlssim.faults.errors import BadRequestError, ConflictError
from tlssim.faults.h2pipe import H2Pipe
from tlssim.faults.link import ConnectionBase, ToxicSource
from tlssim.faults.proxy import Proxy, ProxySpec, parse_address
from tlssim.rpc.v1 import server_pb2, server_pb2_grpc

log = logging.getLogger(__name__)

SERVICE_NAME = "tlssim.rpc.v1.TlsServer"
# As the server it stands in for: one message carries the records of a flight.
RELAY_MAX_REQUEST_BYTES = 256 * 1024
_CALL_ERRORS = (grpc.aio.AioRpcError, asyncio.InvalidStateError)
# Where a client's connection goes (h2pipe): straight to the upstream, or into the relay.
PASS, RELAY = "pass", "relay"
# How long a client has to read a GOAWAY before its connection is cut.
DRAIN_TIMEOUT_S = 1.0
# How long a call waits for a reconnecting upstream channel before trying it anyway.
UPSTREAM_READY_S = 2.0
# How long a replayed flight's connection waits for the server's answer.
REPLAY_ANSWER_S = 3.0


class _ContextSource:
    """The client's request stream, read through the servicer context."""

    def __init__(self, context: Any) -> None:
        self.context = context

    async def read(self) -> bytes:
        while True:
            try:
                message = await self.context.read()
            except _CALL_ERRORS as exc:
                raise ConnectionError(f"client call: {exc}") from None
            if message is grpc.aio.EOF:
                return b""
            await rpcutil.reject_malformed(message, self.context)
            if message.data:
                return bytes(message.data)


class _ContextSink:
    """The client's response stream; its end is the handler returning."""

    def __init__(self, context: Any, ended: asyncio.Event) -> None:
        self.context = context
        self.ended = ended

    async def write(self, data: bytes) -> None:
        try:
            await self.context.write(server_pb2.TlsBytes(data=data))
        except _CALL_ERRORS as exc:
            raise ConnectionError(f"client call: {exc}") from None

    async def write_eof(self) -> None:
        self.ended.set()


class _CallSource:
    """The upstream call's response stream; an error status is kept for the client."""

    def __init__(self, call: Any) -> None:
        self.call = call

    async def read(self) -> bytes:
        while True:
            try:
                message = await self.call.read()
            except _CALL_ERRORS as exc:
                raise ConnectionError(f"upstream call: {exc}") from None
            if message is grpc.aio.EOF:
                return b""
            if message.data:
                return bytes(message.data)


class _CallSink:
    """The upstream call's request stream; a half-close ends it."""

    def __init__(
        self, call: Any, status: rpcutil.FirstStatus, requests: rpcutil.RequestStream
    ) -> None:
        self.call = call
        self.status = status
        self.requests = requests

    async def write(self, data: bytes) -> None:
        if self.call.done():
            raise ConnectionError(f"upstream call: ended {(await self.status.get())[0].name}")
        await self.requests.put(server_pb2.TlsBytes(data=data))

    async def write_eof(self) -> None:
        self.requests.end()


class RelayConnection(ConnectionBase):
    """One relayed Connect call: the client's call and the upstream call it opened."""

    def __init__(
        self, conn_id: str, context: Any, toxic_source: ToxicSource, rng_seed: str | None
    ) -> None:
        super().__init__(conn_id, toxic_source, rng_seed)
        self.context = context
        self.was_reset = False
        # The upstream call's error status, if it ended with one, to pass on to the client.
        self.upstream_error: tuple[grpc.StatusCode, str] | None = None
        self._end = asyncio.Event()
        self._call: Any = None
        self._stub: Any = None

    async def replay_upstream(self, data: bytes) -> bytes:
        """A Connect call of its own carrying ``data`` (as a new client's would)."""
        call = self._stub.Connect(metadata=rpcutil.trace_metadata(), timeout=REPLAY_ANSWER_S)
        received = bytearray()
        try:
            await call.write(server_pb2.TlsBytes(data=data))
            async with asyncio.timeout(REPLAY_ANSWER_S):
                while (message := await call.read()) is not grpc.aio.EOF:
                    received += message.data
        except (TimeoutError, *_CALL_ERRORS):
            pass
        finally:
            call.cancel()
        return bytes(received)

    async def run(self, stub: Any) -> None:
        """Open the upstream call and pump both ways until the upstream's stream ends (or
        the connection is closed or reset)."""
        self._stub = stub
        incoming = dict(self.context.invocation_metadata() or ())
        trace_id = rpcutil.trace_id_from(incoming)
        requests = rpcutil.RequestStream()
        self._call = stub.Connect(
            requests.messages(),
            metadata=rpcutil.trace_metadata(trace_id),
            timeout=self.context.time_remaining(),
        )
        status = rpcutil.FirstStatus(self._call)
        downstream_ended = asyncio.Event()
        pump = self.spawn(
            self.pipe(
                (_ContextSource(self.context), _CallSink(self._call, status, requests)),
                (_CallSource(self._call), _ContextSink(self.context, downstream_ended)),
            )
        )
        waiters = [self.spawn(_wait(downstream_ended)), self.spawn(_wait(self._end))]
        try:
            await asyncio.wait([pump, *waiters], return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.stop_tasks()
            if self._call.done():
                code, details = await status.get()
                if code not in (grpc.StatusCode.OK, grpc.StatusCode.CANCELLED):
                    self.upstream_error = (code, details)
            requests.end()
            self._call.cancel()
            self.closed.set()

    def close(self) -> None:
        """End both calls cleanly: the client's with OK, the upstream's by cancelling it."""
        self._end.set()

    def reset(self) -> None:
        """Abort both calls: the client's ends with UNAVAILABLE."""
        self.was_reset = True
        self._end.set()


class _Refused(asyncio.Protocol):
    """A connection past the budget: closed as soon as it is accepted."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


async def _wait(event: asyncio.Event) -> None:
    await event.wait()


class _RelayServicer(server_pb2_grpc.TlsServerServicer):
    def __init__(self, proxy: GrpcRelayProxy) -> None:
        self.proxy = proxy

    # Streams back through context.write() rather than by yielding, hence the override.

    async def Connect(self, request_iterator: Any, context: Any) -> None:  # type: ignore[override]
        await self.proxy.relay(context)


class GrpcRelayProxy(Proxy):
    """A Proxy for TlsServer calls: its port takes HTTP/2 connections and pipes each one
    (h2pipe) either straight to the upstream, while the link is enabled and has no toxic,
    or into its own gRPC relay server, which re-terminates every call so that toxics act on
    the TLS bytes and a disabled link refuses calls with UNAVAILABLE (and reports
    NOT_SERVING) while clients' channels stay connected, so that re-enabling is instant.
    """

    def __init__(
        self, spec: ProxySpec, seed: int | None = None, budget: ConnectionBudget | None = None
    ) -> None:
        super().__init__(spec, seed, budget)
        self._grpc: grpc.aio.Server | None = None
        self._relay_address = ""
        self._health: health.aio.HealthServicer | None = None
        self._channel: grpc.aio.Channel | None = None
        self._stub: Any = None
        self._front: asyncio.Server | None = None
        self._pipes: set[H2Pipe] = set()
        self._moving: set[asyncio.Task[None]] = set()
        self._turn = itertools.count()

    @property
    def passthrough_connections(self) -> int:
        """Clients' HTTP/2 connections piped straight to the upstream (and staying so)."""
        return sum(p.mode == PASS and not p.draining for p in self._pipes)

    def held_connections(self) -> int:
        return len(self._pipes)

    def internal_addresses(self) -> tuple[str, ...]:
        return (self._relay_address,) if self._relay_address else ()

    def _mode(self) -> str:
        """Where a new connection goes: straight through, or into the relay server."""
        return PASS if self._spec.enabled and not self._toxics else RELAY

    async def start(self) -> None:
        if self._front is not None:
            return
        server = rpcutil.create_server(RELAY_MAX_REQUEST_BYTES)
        server_pb2_grpc.add_TlsServerServicer_to_server(_RelayServicer(self), server)
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        self._grpc, self._relay_address = server, f"127.0.0.1:{port}"
        host, port = parse_address(self._spec.listen, "listen")
        loop = asyncio.get_running_loop()
        try:
            self._front = await loop.create_server(self._accept_pipe, host, port)
        except OSError as exc:
            await self._stop_relay()
            raise ConflictError(f"listen {self._spec.listen}: {exc.strerror or exc}") from None
        bound = self._front.sockets[0].getsockname()[1]
        self._spec = replace(self._spec, listen=f"{self._spec.listen.rpartition(':')[0]}:{bound}")
        self._channel = rpcutil.open_channel(self._spec.upstream, traced=False)
        self._stub = server_pb2_grpc.TlsServerStub(self._channel)
        await self._set_health()
        log.info(
            "gRPC relay %s listening on %s -> %s",
            self.name,
            self._spec.listen,
            self._spec.upstream,
        )

    def _accept_pipe(self) -> asyncio.Protocol:
        if not self.budget.admit(self.name, len(self._pipes)):
            return _Refused()
        pipe = H2Pipe(self._mode(), self._pipe_closed)
        self._pipes.add(pipe)
        self._track(self._connect(pipe))
        return pipe.client

    def _pipe_closed(self, pipe: H2Pipe) -> None:
        if pipe in self._pipes:
            self._pipes.discard(pipe)
            self.budget.release()

    async def _connect(self, pipe: H2Pipe) -> None:
        if pipe.mode == PASS:
            for host, port in await self._upstreams():
                try:
                    await pipe.connect(host, port)
                    return
                except OSError:
                    continue
            # The relay server explains the failure to the client's call.
            pipe.mode = RELAY
        try:
            await pipe.connect(*parse_address(self._relay_address, "relay"))
        except OSError:
            pipe.close()

    async def _upstreams(self) -> list[tuple[str, int]]:
        """The upstream's addresses, from the next one in turn: behind a name with several
        (replicas), new connections take each in turn (and skip one that is down)."""
        host, port = parse_address(self._spec.upstream, "upstream")
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            return []
        addresses = sorted({(str(info[4][0]), port) for info in infos})
        if not addresses:
            return []
        start = next(self._turn) % len(addresses)
        return addresses[start:] + addresses[:start]

    def _track(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._moving.add(task)
        task.add_done_callback(self._moving.discard)

    async def _set_health(self) -> None:
        if self._health is None:
            return
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if self._spec.enabled
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", SERVICE_NAME):
            await self._health.set(name, status)

    def _drop_connections(self) -> None:
        for conn in list(self._connections):
            conn.reset()
        for pipe in list(self._pipes):
            if pipe.mode == PASS:
                pipe.abort()

    def _changed(self) -> None:
        super()._changed()
        mode = self._mode()
        for pipe in list(self._pipes):
            if pipe.mode != mode:
                pipe.drain()
                self._track(pipe.wait_drained(DRAIN_TIMEOUT_S))

    async def settle(self) -> None:
        """Until every client has moved its new calls to where the link's state sends them."""
        if self._moving:
            await asyncio.wait(list(self._moving), timeout=DRAIN_TIMEOUT_S + 1)

    async def _stop_relay(self) -> None:
        server, self._grpc = self._grpc, None
        if server is not None:
            await server.stop(grace=0.5)

    async def stop(self) -> None:
        front, self._front = self._front, None
        if front is not None:
            front.close()
        for pipe in list(self._pipes):
            pipe.abort()
        for conn in list(self._connections):
            conn.reset()
        for task in list(self._moving):
            task.cancel()
        await self._stop_relay()
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()

    async def update(self, spec: ProxySpec) -> None:
        if spec.name != self.name:
            raise BadRequestError("a proxy cannot be renamed")
        if (spec.listen, spec.upstream) != (self._spec.listen, self._spec.upstream):
            await self.stop()
            await self._start_as(spec)
            return
        self._spec = spec
        if not spec.enabled:
            self._drop_connections()
        self._changed()
        await self._set_health()
        await self.settle()

    async def _upstream_ready(self) -> None:
        """Give a reconnecting upstream channel a moment (a restarted server, perhaps at a
        new address) rather than fail the call at once; a server that stays down still
        fails it, a little later."""
        channel = self._channel
        if channel is None:
            return
        if channel.get_state(try_to_connect=True) is grpc.ChannelConnectivity.READY:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(channel.channel_ready(), UPSTREAM_READY_S)

    async def relay(self, context: Any) -> None:
        """Serve one Connect call (the servicer's body)."""
        if not self._spec.enabled or self._stub is None:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"proxy {self.name} is disabled")
        await self._upstream_ready()
        conn = RelayConnection(
            self.next_connection_id(), context, self.toxics_for, self.connection_seed()
        )
        self._connections.add(conn)
        try:
            await conn.run(self._stub)
        finally:
            self._connections.discard(conn)
        if conn.was_reset:
            await context.abort(
                grpc.StatusCode.UNAVAILABLE, f"connection reset by faults proxy {self.name}"
            )
        if conn.upstream_error is not None:
            code, details = conn.upstream_error
            await context.abort(code, f"upstream {self._spec.upstream}: {details}")
