"""TCP server handshake rate: the same OpenSSL client load against each server process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tlssim.bench.certs import BenchPKI
from tlssim.bench.servers import KINDS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class RateResult:
    server: str
    rate: float  # handshakes per second
    failures: int
    p50_ms: float
    server_cpu_s: float


def _cpu_seconds(pid: int) -> float:
    """User+system CPU of a process so far, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_port(
    port: int, pid: int, seconds: float, threads: int, server_name: str | None = None
) -> tuple[dict[str, float], float]:
    """OpenSSL clients' load on a listening port: their figures, and the CPU seconds the
    serving process `pid` spent meanwhile."""
    argv = [sys.executable, "-m", "tlssim.bench.load", str(port), str(seconds), str(threads)]
    cpu0 = _cpu_seconds(pid)
    load = subprocess.run(
        argv + ([server_name] if server_name else []),
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    figures: dict[str, float] = json.loads(load.stdout)
    return figures, _cpu_seconds(pid) - cpu0


def measure_server(kind: str, pki: BenchPKI, seconds: float, threads: int) -> RateResult:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tlssim.bench.servers", kind, str(port), str(pki.directory)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        ready = server.stdout.readline().split()
        if not ready or ready[0] != "ready":
            raise RuntimeError(f"the {kind} server did not start")
        serving = int(ready[1]) if len(ready) > 1 else server.pid  # "ready PID": a child serves
        figures, cpu = load_port(port, serving, seconds, threads)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return RateResult(
        kind, figures["handshakes"] / seconds, int(figures["failures"]), figures["p50_ms"], cpu
    )


def run(pki: BenchPKI, seconds: float, threads: int) -> list[RateResult]:
    return [measure_server(kind, pki, seconds, threads) for kind in KINDS]
