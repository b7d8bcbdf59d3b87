"""The gRPC floor of the distributed path: the same calls with no TLS in them.

    python -m tlssim.bench.floor server PORT
    python -m tlssim.bench.floor client PORT SERVER_ADDRESS REPORT_FILE

A "server" process answers TlsServer.Connect and a "client" process answers
TlsClient.RunHandshake by opening Connect on its own channel, exactly as the services do:
three messages each way with the sizes a TLS 1.3 handshake to valid.tlssim.test puts on the
wire (ClientHello; Finished + data; close_notify, and the server's flight; ticket + echo;
close_notify), then it answers with a real report (REPORT_FILE) so the caller parses what it
parses on the real path. No TLS engine, PKI, trace, console or metrics: what is left is the
CPU gRPC's Python costs per handshake, which no work in the services can remove.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc

from tlssim.harness import localstack
from tlssim.rpc.v1 import client_pb2, client_pb2_grpc, server_pb2, server_pb2_grpc

# Bytes of each gRPC message, from a TLS 1.3 X25519MLKEM768 + ECDSA handshake with a staple.
CLIENT_MESSAGES = (1442, 120, 24)
SERVER_MESSAGES = (3700, 200, 24)
_PLACEHOLDER = "floor-first-exchange-ms"


class FloorServer(server_pb2_grpc.TlsServerServicer):
    async def Connect(self, request_iterator: Any, context: Any) -> None:  # type: ignore[override]
        replies = iter(SERVER_MESSAGES)
        while (message := await context.read()) is not grpc.aio.EOF:
            size = next(replies, 0)
            if size and message.data:
                await context.write(server_pb2.TlsBytes(data=bytes(size)))


class FloorClient(client_pb2_grpc.TlsClientServicer):
    """Answers with the given report, its handshake_ms replaced by the time of the first
    exchange (opening Connect, the ClientHello's bytes up, the server flight's down): the
    part of a handshake's time that is gRPC's."""

    def __init__(self, server: str, report_json: str) -> None:
        self._server = server
        self._stub: server_pb2_grpc.TlsServerAsyncStub | None = None
        report = json.loads(report_json)
        report["timings"]["handshake_ms"] = _PLACEHOLDER
        # Cut around the value once, so that each answer costs a concatenation, not a dump.
        self._before, self._after = json.dumps(report).split(json.dumps(_PLACEHOLDER), 1)

    async def RunHandshake(
        self, request: client_pb2.HandshakeRequest, context: Any
    ) -> client_pb2.HandshakeResult:
        if self._stub is None:  # the channel belongs to the running event loop
            channel = grpc.aio.insecure_channel(
                self._server, options=[("grpc.use_local_subchannel_pool", 1)]
            )
            self._stub = server_pb2_grpc.TlsServerStub(channel)
        started = time.perf_counter()
        call = self._stub.Connect()
        first_ms = 0.0
        for size in CLIENT_MESSAGES:
            await call.write(server_pb2.TlsBytes(data=bytes(size)))
            await call.read()
            first_ms = first_ms or (time.perf_counter() - started) * 1000
        await call.done_writing()
        await call.read()  # the end of the call
        report_json = f"{self._before}{first_ms:.3f}{self._after}"
        return client_pb2.HandshakeResult(ok=True, report_json=report_json)

    async def WatchReports(self, request: Any, context: Any) -> None:  # type: ignore[override]
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "the floor publishes no reports")

    async def WatchReportBatches(self, request: Any, context: Any) -> None:  # type: ignore[override]
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "the floor publishes no reports")


async def _serve(port: int, servicer: Any, add: Any) -> None:
    server = grpc.aio.server()
    add(servicer, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set)
    print("ready", flush=True)
    await stop.wait()
    await server.stop(None)


@contextlib.contextmanager
def running_floor(report_json: str, tmp: Path) -> Iterator[tuple[str, dict[str, int]]]:
    """Both floor processes; yields the client's address and the pids by role."""
    server_port, client_port = localstack.free_ports(2)
    report_file = tmp / "floor-report.json"
    report_file.write_text(report_json)
    module = [sys.executable, "-m", "tlssim.bench.floor"]
    server = subprocess.Popen([*module, "server", str(server_port)], stdout=subprocess.PIPE)
    client = subprocess.Popen(
        [*module, "client", str(client_port), f"127.0.0.1:{server_port}", str(report_file)],
        stdout=subprocess.PIPE,
    )
    with localstack.stopped_with_sigint(server), localstack.stopped_with_sigint(client):
        for process in (server, client):
            assert process.stdout is not None
            if process.stdout.readline().strip() != b"ready":
                raise RuntimeError("a floor process did not start")
        yield f"127.0.0.1:{client_port}", {"client": client.pid, "server": server.pid}


def main(argv: list[str]) -> int:
    if argv[:1] == ["server"] and len(argv) == 2:
        servicer: Any = FloorServer()
        add: Any = server_pb2_grpc.add_TlsServerServicer_to_server
    elif argv[:1] == ["client"] and len(argv) == 4:
        servicer = FloorClient(argv[2], Path(argv[3]).read_text())
        add = client_pb2_grpc.add_TlsClientServicer_to_server
    else:
        print(__doc__, file=sys.stderr)
        return 2
    asyncio.run(_serve(int(argv[1]), servicer, add))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
