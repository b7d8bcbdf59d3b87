"""A peer that is slow to say hello is still a peer: a channel from `rpcutil.open_channel`
waits for a busy server's HTTP/2 SETTINGS instead of giving the connection up after a
fraction of a second, and still fails at once where nothing listens.

(gRPC takes `grpc.min_reconnect_backoff_ms` as the least time it gives a connection attempt;
set to the 0.2 s of a fast reconnect, a server whose first bytes took longer, busy or just
started, failed calls with "timed out before receiving SETTINGS frame".)"""

from __future__ import annotations

import asyncio
import contextlib

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tlssim import rpcutil
from tlssim.harness.localstack import free_ports

SLOW_S = 0.6  # well above the 0.2 s the channel once allowed, well below a call's deadline


async def _slow_hello_proxy(upstream_port: int, delay_s: float) -> asyncio.Server:
    """Passes bytes both ways, but holds the server's first bytes (its SETTINGS) for `delay_s`."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, hold: float) -> None:
        try:
            first = True
            while chunk := await reader.read(65536):
                if first and hold:
                    await asyncio.sleep(hold)
                first = False
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        with contextlib.suppress(asyncio.CancelledError):  # the proxy closing under it
            await asyncio.gather(pipe(reader, up_writer, 0), pipe(up_reader, writer, delay_s))

    return await asyncio.start_server(serve, "127.0.0.1", 0)


async def _check_through(delay_s: float) -> int:
    server = rpcutil.create_server()
    port = free_ports(1)[0]
    await rpcutil.start_server(server, f"127.0.0.1:{port}", [])
    proxy = await _slow_hello_proxy(port, delay_s)
    proxy_port = proxy.sockets[0].getsockname()[1]
    channel = rpcutil.open_channel(f"127.0.0.1:{proxy_port}")
    try:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=10
        )
        return int(reply.status)
    finally:
        await channel.close()
        proxy.close()
        await server.stop(None)


def test_a_server_slow_to_send_its_settings_is_waited_for() -> None:
    assert asyncio.run(_check_through(SLOW_S)) == health_pb2.HealthCheckResponse.SERVING


async def _call_nobody() -> grpc.StatusCode:
    channel = rpcutil.open_channel(f"127.0.0.1:{free_ports(1)[0]}")
    try:
        await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=30
        )
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    finally:
        await channel.close()
    raise AssertionError("a call to a closed port answered")


def test_a_closed_port_still_fails_the_call_at_once() -> None:
    # Refused, not waited out: UNAVAILABLE, not the 30 s deadline.
    assert asyncio.run(_call_nobody()) == grpc.StatusCode.UNAVAILABLE
