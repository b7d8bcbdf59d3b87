"""The tlssim-grpc proxy: the real engine's handshakes relayed through TlsServer.Connect."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from tlssim import rpcutil
from tlssim.client.run import ClientRun, run_client
from tlssim.faults import ConflictError, FaultsServer, GrpcRelayProxy, ProxySpec
from tlssim.net.drive import serve_connection
from tlssim.net.transport import GrpcClientTransport, GrpcServerTransport
from tlssim.rpc.v1 import server_pb2_grpc
from tlssim.tls import (
    AlertDescription,
    CertifiedKey,
    ClientConfig,
    ClientConnection,
    ProtocolVersion,
    ServerConfig,
    ServerConnection,
    events,
)

from .helpers import run, toxic
from .tlsfixtures import HOST, server_cert


class EngineServer(server_pb2_grpc.TlsServerServicer):
    """The real TlsServer wiring (as services/server.py) with the test certificate."""

    def __init__(self) -> None:
        cert = server_cert()
        self.key = CertifiedKey(chain=cert.chain, private_key=cert.key)
        self.trace_ids: list[str] = []

    # Streams back through context.write() rather than by yielding, hence the override.

    async def Connect(self, request_iterator: Any, context: Any) -> None:  # type: ignore[override]
        metadata = dict(context.invocation_metadata() or ())
        self.trace_ids.append(metadata.get(rpcutil.TRACE_METADATA_KEY, ""))
        conn = ServerConnection(
            ServerConfig(entropy=os.urandom, certificate_selector=lambda *_: self.key)
        )
        await serve_connection(conn, GrpcServerTransport(context))


@dataclass
class Relay:
    faults: FaultsServer
    proxy: GrpcRelayProxy
    upstream: EngineServer
    channel: grpc.aio.Channel
    calls: list[Any] = field(default_factory=list)

    async def handshake(
        self,
        data: bytes = b"hello",
        trace_id: str = "",
        versions: tuple[ProtocolVersion, ...] = (ProtocolVersion.TLSv1_3,),
    ) -> ClientRun:
        stub = server_pb2_grpc.TlsServerStub(self.channel)
        metadata = ((rpcutil.TRACE_METADATA_KEY, trace_id),) if trace_id else None
        call = stub.Connect(metadata=metadata)
        self.calls.append(call)
        transport = GrpcClientTransport(call)
        conn = ClientConnection(
            ClientConfig(server_name=HOST, entropy=os.urandom, versions=versions)
        )

        async def accept(_: events.CertificateReceived) -> AlertDescription | None:
            return None

        try:
            return await run_client(conn, transport, accept, data, deadline_s=5)
        finally:
            await transport.close()


async def with_relay(body: Callable[[Relay], Awaitable[None]]) -> None:
    upstream = EngineServer()
    server = rpcutil.create_server()
    server_pb2_grpc.add_TlsServerServicer_to_server(upstream, server)
    # As the real server service: a health service (a link without toxics passes it through).
    serving = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(serving, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await serving.set("tlssim.rpc.v1.TlsServer", health_pb2.HealthCheckResponse.SERVING)
    faults = FaultsServer("127.0.0.1:0", seed=3)
    await faults.start()
    proxy = await faults.registry.create(
        ProxySpec(
            name="server",
            listen="127.0.0.1:0",
            upstream=f"127.0.0.1:{port}",
            protocol="tlssim-grpc",
        )
    )
    assert isinstance(proxy, GrpcRelayProxy)
    channel = rpcutil.open_channel(proxy.spec.listen, own_connection=True)
    try:
        await body(Relay(faults, proxy, upstream, channel))
    finally:
        await channel.close()
        await faults.close()
        await server.stop(grace=None)


def alerts_sent(result: ClientRun) -> list[AlertDescription]:
    return [t.event.description for t in result.timeline if isinstance(t.event, events.AlertSent)]


def handshake_ms(result: ClientRun) -> float:
    done = result.first(events.HandshakeComplete)
    assert done is not None, (result.failure, alerts_sent(result))
    return done.at_ms


def test_handshake_completes_through_the_relay_and_trace_id_travels() -> None:
    async def body(relay: Relay) -> None:
        assert not relay.proxy.spec.listen.endswith(":0")
        result = await relay.handshake(b"through the relay", trace_id="feedc0de")
        assert result.completed and result.failure is None
        assert result.echoed == b"through the relay"
        assert relay.upstream.trace_ids == ["feedc0de"]
        again = await relay.handshake()
        assert again.completed
        assert relay.upstream.trace_ids[1]  # a new trace id when the caller sent none
        for _ in range(100):  # the relay notices the client's cancel asynchronously
            if relay.proxy.connections == 0:
                break
            await asyncio.sleep(0.01)
        assert relay.proxy.connections == 0

    run(with_relay(body))


def test_downstream_latency_costs_one_round_trip() -> None:
    async def body(relay: Relay) -> None:
        handshake_ms(await relay.handshake())  # warm the channels
        fast = handshake_ms(await relay.handshake())
        relay.proxy.add_toxic(toxic("latency", "downstream", latency=100))
        await relay.proxy.settle()
        slow = handshake_ms(await relay.handshake())
        assert slow >= 100
        assert slow < fast + 190  # TLS 1.3: one round trip, not two

    run(with_relay(body))


def test_a_relayed_call_leaves_no_task_behind(caplog: pytest.LogCaptureFixture) -> None:
    """Whoever ends the call, the relay ends its upstream call's request stream: nothing is
    left pending ("Task was destroyed but it is pending!" in the faults log, once per
    re-terminated call). The client ends it after its close_notify; the server, after the
    alert for a tampered Finished."""

    async def body(relay: Relay) -> None:
        relay.proxy.add_toxic(toxic("latency", "downstream", latency=0))
        await relay.proxy.settle()
        for _ in range(5):
            assert (await relay.handshake()).completed
        relay.proxy.add_toxic(toxic("tls_tamper", "upstream", content_type="application_data"))
        await relay.proxy.settle()
        for _ in range(5):
            failed = await relay.handshake()
            assert failed.error is not None  # the server's bad_record_mac
        for _ in range(100):  # the relay notices the end of each call asynchronously
            if relay.proxy.connections == 0:
                break
            await asyncio.sleep(0.02)
        gc.collect()
        await asyncio.sleep(0)

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        run(with_relay(body))
        gc.collect()
    assert not [r for r in caplog.records if "Task was destroyed" in r.getMessage()]


def test_tampered_server_finished_record_ends_in_bad_record_mac() -> None:
    async def body(relay: Relay) -> None:
        # The engine coalesces EncryptedExtensions..Finished into the first encrypted record.
        relay.proxy.add_toxic(toxic("tls_tamper", "downstream", content_type="application_data"))
        await relay.proxy.settle()
        result = await relay.handshake()
        assert not result.completed
        assert alerts_sent(result) == [AlertDescription.bad_record_mac]

    run(with_relay(body))


def test_tls_toxics_and_slicer_apply_to_the_relayed_stream() -> None:
    async def body(relay: Relay) -> None:
        relay.proxy.add_toxic(toxic("slicer", "upstream", average_size=7, size_variation=3))
        relay.proxy.add_toxic(toxic("slicer", "downstream", average_size=11))
        await relay.proxy.settle()
        sliced = await relay.handshake(b"x" * 3000)
        assert sliced.completed and sliced.echoed == b"x" * 3000
        relay.proxy.add_toxic(toxic("tls_downgrade", "upstream"))
        await relay.proxy.settle()
        # A 1.3+1.2 client pushed to 1.2 by a 1.3-capable server sees the downgrade sentinel.
        both = (ProtocolVersion.TLSv1_3, ProtocolVersion.TLSv1_2)
        downgraded = await relay.handshake(versions=both)
        assert not downgraded.completed
        assert alerts_sent(downgraded) == [AlertDescription.illegal_parameter]

    run(with_relay(body))


def test_reset_peer_aborts_the_call() -> None:
    async def body(relay: Relay) -> None:
        relay.proxy.add_toxic(toxic("reset_peer", "downstream", timeout=0))
        await relay.proxy.settle()
        failed = await relay.handshake()
        assert failed.failure and "UNAVAILABLE" in failed.failure, failed.failure
        relay.proxy.remove_toxic("reset_peer_downstream")
        await relay.proxy.settle()
        assert (await relay.handshake()).completed

    run(with_relay(body))


def test_timeout_toxic_ends_the_call_cleanly() -> None:
    async def body(relay: Relay) -> None:
        relay.proxy.add_toxic(toxic("timeout", "downstream", timeout=200))
        await relay.proxy.settle()
        result = await relay.handshake()
        assert not result.completed
        assert result.first(events.ConnectionClosed) is not None
        assert await relay.calls[-1].code() == grpc.StatusCode.OK

    run(with_relay(body))


def test_disabled_relay_refuses_with_unavailable_and_reports_not_serving() -> None:
    async def body(relay: Relay) -> None:
        health = health_pb2_grpc.HealthStub(relay.channel)
        check = health_pb2.HealthCheckRequest(service="tlssim.rpc.v1.TlsServer")
        assert (await health.Check(check)).status == health_pb2.HealthCheckResponse.SERVING
        await relay.faults.registry.update("server", {"enabled": False})
        failed = await relay.handshake()
        assert failed.failure and "UNAVAILABLE" in failed.failure, failed.failure
        assert (await health.Check(check)).status == health_pb2.HealthCheckResponse.NOT_SERVING
        await relay.faults.registry.update("server", {"enabled": True})
        assert (await relay.handshake()).completed

    run(with_relay(body))


def test_upstream_down_gives_unavailable() -> None:
    async def body(relay: Relay) -> None:
        await relay.faults.registry.update("server", {"upstream": "127.0.0.1:1"})
        channel = rpcutil.open_channel(relay.proxy.spec.listen, own_connection=True)
        relay.channel, old = channel, relay.channel
        try:
            failed = await relay.handshake()
            assert failed.failure and "UNAVAILABLE" in failed.failure, failed.failure
        finally:
            await old.close()

    run(with_relay(body))


def test_rest_api_creates_and_lists_relays() -> None:
    async def body(relay: Relay) -> None:
        base = f"http://{relay.faults.api_address}"

        async def call(method: str, path: str, payload: Any = None) -> tuple[int, Any]:
            raw = b"" if payload is None else json.dumps(payload).encode()
            async with (
                aiohttp.ClientSession() as session,
                session.request(
                    method, base + path, data=raw, headers={"Content-Type": "application/json"}
                ) as response,
            ):
                body = await response.read()
                return response.status, json.loads(body) if body else None

        status, shown = await call("GET", "/proxies")
        assert shown["server"]["protocol"] == "tlssim-grpc"
        upstream = relay.proxy.spec.upstream
        spec = {"name": "r2", "upstream": upstream, "protocol": "tlssim-grpc"}
        status, created = await call("POST", "/proxies", spec)
        assert status == 201 and created["protocol"] == "tlssim-grpc"
        assert not created["listen"].endswith(":0")
        status, populated = await call(
            "POST", "/populate", [{**spec, "name": "r3", "listen": "127.0.0.1:0"}]
        )
        assert status == 201 and populated["proxies"][0]["protocol"] == "tlssim-grpc"
        bad = {"name": "r4", "upstream": upstream, "protocol": "udp"}
        assert (await call("POST", "/proxies", bad))[0] == 400
        status, tcp = await call("POST", "/proxies/r2", {"protocol": "tcp"})
        assert status == 200 and tcp["protocol"] == "tcp"
        assert type(relay.faults.registry.get("r2")).__name__ == "Proxy"

    run(with_relay(body))


def test_a_link_without_toxics_passes_connections_straight_through() -> None:
    async def body(relay: Relay) -> None:
        assert (await relay.handshake()).completed
        assert relay.proxy.passthrough_connections == 1
        assert relay.proxy.connections == 0  # no call was re-terminated

    run(with_relay(body))


def test_a_toxic_reaches_the_very_next_call_on_a_long_lived_channel() -> None:
    async def body(relay: Relay) -> None:
        # The very next call is delayed (a lower bound, whatever the machine's load) and the
        # very next one after removal passes through whole (the relay's own count); its time
        # is judged on the fastest of three, as a busy machine only adds time.
        for _ in range(15):
            relay.proxy.add_toxic(toxic("latency", "downstream", latency=100))
            await relay.proxy.settle()
            assert handshake_ms(await relay.handshake()) >= 100
            assert relay.proxy.passthrough_connections == 0
            relay.proxy.remove_toxic("latency_downstream")
            await relay.proxy.settle()
            times = [handshake_ms(await relay.handshake())]
            assert relay.proxy.passthrough_connections == 1
            times += [handshake_ms(await relay.handshake()) for _ in range(2)]
            assert min(times) < 100, times

    run(with_relay(body))


def test_calls_in_flight_when_a_toxic_arrives_finish() -> None:
    async def body(relay: Relay) -> None:
        await relay.handshake()
        running = [asyncio.ensure_future(relay.handshake(b"x" * 20_000)) for _ in range(8)]
        await asyncio.sleep(0.005)
        relay.proxy.add_toxic(toxic("latency", "downstream", latency=5))
        await relay.proxy.settle()
        results = await asyncio.gather(*running)
        assert all(r.completed and r.echoed == b"x" * 20_000 for r in results)

    run(with_relay(body))


def test_moving_a_relay_onto_a_taken_address_is_refused_and_it_stays_where_it_was() -> None:
    async def body(relay: Relay) -> None:
        with socket.create_server(("127.0.0.1", 0)) as taken:
            before = relay.proxy.spec
            moved = dataclasses.replace(before, listen=f"127.0.0.1:{taken.getsockname()[1]}")
            with pytest.raises(ConflictError):
                await relay.proxy.update(moved)
        assert relay.proxy.spec == before
        result = await relay.handshake(b"still here")
        handshake_ms(result)

    run(with_relay(body))
