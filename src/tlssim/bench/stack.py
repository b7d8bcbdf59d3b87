"""The distributed path: a real `tlssim up` stack, driven through the client service.

Every RunHandshake goes bench -> client service -(gRPC Connect, through the faults relay)->
server service, and the client checks the chain, the stapled OCSP response and (cached for
a few seconds) the intermediate's status at the ocsp service. "direct" is a second client
service process whose links point straight at the server, ocsp and ca (no faults hop).
"re-terminating" puts a do-nothing toxic (0 ms latency) on the relay's link, which makes the
relay re-terminate every call as it does for any toxic (the path before pass-through).
CPU per handshake is read from /proc for each service process over the same runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc

from tlssim import rpcutil
from tlssim.faults.rest_client import FaultsApi
from tlssim.harness import localstack
from tlssim.report.model import Report
from tlssim.rpc.v1 import client_pb2, client_pb2_grpc

STARTUP_TIMEOUT_S = 90
SERVER_NAME = "valid.tlssim.test"


def _wait_for(process: subprocess.Popen[bytes], log: Path, address: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not asyncio.run(rpcutil.is_serving(address, timeout=0.5)):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the stack did not come up:\n" + log.read_text(errors="replace"))
        time.sleep(0.2)


SERVICES = ("client", "server", "ocsp", "ca", "faults", "console")


@contextlib.contextmanager
def running_stack(tmp: Path) -> Iterator[localstack.LocalStack]:
    """`tlssim up` on free ports."""
    with localstack.running_stack(
        tmp, TLSSIM_ADMIN_TOKEN="bench-token", TLSSIM_LOG_LEVEL="WARNING"
    ) as stack:
        yield stack


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds each named process (and this one) spends between start() and stop()."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._start: dict[str, float] = {}
        self.used: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        now = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        return now | {"bench": time.process_time()}

    def start(self) -> None:
        self._start = self._now()

    def stop(self) -> None:
        self.used = {name: t - self._start[name] for name, t in self._now().items()}


@contextlib.contextmanager
def relay_reterminating(stack: localstack.LocalStack) -> Iterator[None]:
    """A toxic that changes nothing but makes the relay re-terminate every call."""
    api = FaultsApi(stack.env["TLSSIM_FAULTS_API"])
    api.add_toxic(
        "client_server",
        {
            "name": "bench_noop",
            "type": "latency",
            "stream": "downstream",
            "attributes": {"latency": 0},
        },
    )
    try:
        yield
    finally:
        api.call("DELETE", "/proxies/client_server/toxics/bench_noop")


@contextlib.contextmanager
def _serving(service: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`tlssim serve SERVICE` with its output in `log`, stopped with Ctrl-C (SIGINT)."""
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tlssim", "serve", service],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    with localstack.stopped_with_sigint(process):
        yield process


@contextlib.contextmanager
def direct_client(env: dict[str, str], tmp: Path) -> Iterator[tuple[str, int]]:
    """An extra client service whose links go straight to the services (no faults hop);
    yields its address and pid."""
    (port,) = localstack.free_ports(1)
    address = f"127.0.0.1:{port}"
    direct = env | {"TLSSIM_LISTEN": address, "TLSSIM_CLIENT_ADDR": address}
    log = tmp / "direct-client.log"
    with _serving("client", direct, log) as process:
        _wait_for(process, log, address)
        yield address, process.pid


SECOND_REPLICA = "bench-second-server"


@contextlib.contextmanager
def second_server(env: dict[str, str], tmp: Path) -> Iterator[int]:
    """Another server replica listening on the same gRPC address (gRPC sets SO_REUSEPORT, so
    the kernel spreads new connections over both); yields its pid once it serves."""
    tcp, metrics = localstack.free_ports(2)
    replica = env | {
        "TLSSIM_TCP_LISTEN": f"127.0.0.1:{tcp}",
        "TLSSIM_METRICS_LISTEN": f"127.0.0.1:{metrics}",
        "TLSSIM_REPLICA": SECOND_REPLICA,
        "TLSSIM_LOG_LEVEL": "INFO",
    }
    log = tmp / "second-server.log"
    with _serving("server", replica, log) as process:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while "server ready" not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("a second server did not start:\n" + log.read_text())
            time.sleep(0.2)
        yield process.pid


@dataclass(frozen=True)
class Latency:
    label: str
    n: int
    handshake_ms: tuple[float, float, float]  # p50, p90, p99 of the report's handshake_ms
    rpc_ms: tuple[float, float, float]  # p50, p90, p99 of the RunHandshake wall time


@dataclass(frozen=True)
class Throughput:
    label: str
    concurrency: int
    rate: float
    failures: int
    rpc_p50_ms: float
    second_replica_share: float  # of the handshakes, those the second server replica served


def _percentiles(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return q[49], q[89], q[98]


@dataclass(frozen=True)
class _Answer:
    ok: bool
    handshake_ms: float
    rpc_ms: float
    server_replica: str | None


async def _one(stub: client_pb2_grpc.TlsClientAsyncStub, groups: Sequence[str] = ()) -> _Answer:
    started = time.perf_counter()
    request = client_pb2.HandshakeRequest(
        server_name=SERVER_NAME, tls_version="1.3", groups=list(groups)
    )
    reply = await stub.RunHandshake(request, timeout=15)
    rpc_ms = (time.perf_counter() - started) * 1000
    report = Report.from_json(reply.report_json)
    replica = report.replicas.server if report.replicas else None
    return _Answer(bool(reply.ok), report.timings.handshake_ms or 0.0, rpc_ms, replica)


async def one_report(address: str) -> str:
    """The report JSON of one handshake (after a warm-up one)."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = client_pb2_grpc.TlsClientStub(channel)
        await _one(stub)
        reply = await stub.RunHandshake(
            client_pb2.HandshakeRequest(server_name=SERVER_NAME, tls_version="1.3"), timeout=15
        )
        return str(reply.report_json)


async def sequential(address: str, label: str, n: int, groups: Sequence[str] = ()) -> Latency:
    """`n` handshakes one after another (`groups`: offered instead of the default)."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = client_pb2_grpc.TlsClientStub(channel)
        for _ in range(10):
            await _one(stub, groups)  # warm up (trust bundle, channels, intermediate status)
        handshake, rpc = [], []
        for _ in range(n):
            answer = await _one(stub, groups)
            if not answer.ok:
                raise RuntimeError(f"handshake failed through {label}")
            handshake.append(answer.handshake_ms)
            rpc.append(answer.rpc_ms)
    return Latency(label, n, _percentiles(handshake), _percentiles(rpc))


async def concurrent(
    address: str,
    label: str,
    concurrency: int,
    seconds: float,
    groups: Sequence[str] = (),
    *,
    pace: float | None = None,
) -> Throughput:
    """Up to `concurrency` calls in flight for `seconds`; with `pace`, no more than that
    many calls start per second (evenly spaced)."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = client_pb2_grpc.TlsClientStub(channel)
        await _one(stub, groups)
        begun = time.perf_counter()
        stop = begun + seconds
        done, failures, second, slots = 0, 0, 0, 0
        rpc: list[float] = []

        async def worker() -> None:
            nonlocal done, failures, second, slots
            while time.perf_counter() < stop:
                if pace:
                    slot = begun + slots / pace
                    slots += 1
                    await asyncio.sleep(max(0.0, slot - time.perf_counter()))
                try:
                    answer = await _one(stub, groups)
                except grpc.aio.AioRpcError:
                    failures += 1
                    continue
                if answer.ok:
                    done += 1
                    second += answer.server_replica == SECOND_REPLICA
                    rpc.append(answer.rpc_ms)
                else:
                    failures += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return Throughput(
        label,
        concurrency,
        done / elapsed,
        failures,
        statistics.median(rpc) if rpc else 0.0,
        second / done if done else 0.0,
    )
