"""tlssim.health's probe (HTTP/2 and HTTP/1.1 written by hand) judged by real servers: gRPC's
own health service in each state, a server without one, silent and closed ports, HTTP."""

from __future__ import annotations

import asyncio
import http.server
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from tlssim import health as probe

NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@asynccontextmanager
async def grpc_server(
    with_health: bool = True,
) -> AsyncIterator[tuple[str, health.aio.HealthServicer]]:
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    if with_health:
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}", servicer
    finally:
        await server.stop(None)


async def probed(address: str, timeout: float = 2.0) -> bool:
    # The probe blocks: run it beside the loop that serves the call.
    return await asyncio.to_thread(probe.serving, address, timeout)


def test_serving_then_not_serving_then_serving_again() -> None:
    async def body() -> None:
        async with grpc_server() as (address, servicer):
            assert await probed(address)
            await servicer.set("", NOT_SERVING)
            assert not await probed(address)
            await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
            assert await probed(address)

    asyncio.run(body())


def test_a_grpc_server_without_the_health_service_is_not_healthy() -> None:
    async def body() -> None:
        async with grpc_server(with_health=False) as (address, _):
            assert not await probed(address)  # a trailers-only UNIMPLEMENTED

    asyncio.run(body())


@contextmanager
def listener(answer: bytes | None) -> Iterator[str]:
    """A TCP port that sends `answer` to whoever connects and closes, or (None) says nothing."""
    sock = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            if answer is None:
                held.append(conn)
            else:
                conn.sendall(answer)
                conn.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()
        for conn in held:
            conn.close()


def test_silent_garbled_and_closed_ports_are_not_healthy() -> None:
    with listener(None) as silent:
        assert not probe.serving(silent, timeout=0.5)
    with listener(b"HTTP/1.1 400 Bad Request\r\n\r\n") as http1:
        assert not probe.serving(http1)
    with listener(b"\x15\x03\x03\x00\x02\x02\x28") as tls_alert:
        assert not probe.serving(tls_alert)
    with listener(b"") as closing:
        assert not probe.serving(closing)
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    assert not probe.serving(f"127.0.0.1:{port}")


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/version" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


def test_http_targets_answer_200_or_not() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert probe.answers(f"{base}/version")
        assert not probe.answers(f"{base}/missing")
    finally:
        server.shutdown()
        server.server_close()
    assert not probe.answers(f"{base}/version")  # closed


def test_the_check_loads_neither_grpc_nor_urllib() -> None:
    """Every container runs it every few seconds: importing gRPC cost ~0.3 s of CPU a check."""
    code = (
        "import sys, tlssim.health as h; h.main(['127.0.0.1:9']); "
        "heavy = ('grpc', 'asyncio', 'urllib.request', 'http.client'); "
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout


def test_a_malformed_target_is_a_usage_error_not_an_unhealthy_service(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for target in ("nonsense", "host:notaport", "127.0.0.1:99999", "http://nohost/version"):
        assert probe.main([target]) == 2, target
        assert "not HOST:PORT" in capsys.readouterr().err
    assert probe.main(["--restart-after", "soon", "127.0.0.1:9"]) == 2
    assert probe.main(["[::1]:9"]) == 1  # well formed, nothing answers
