"""``python scripts/bench.py [--quick]``: every benchmark, each against its baseline, as
one table. See docs/performance.md for what each line includes."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cryptography
import grpc

from tlssim.bench import certs, clients, engine, stack, tcp


def _machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{cpu}, {os.cpu_count()} cores, load {load}; Python {platform.python_version()}, "
        f"{ssl.OPENSSL_VERSION}, cryptography {cryptography.__version__}, grpcio {grpc.__version__}"
    )


def _row(label: str, ours: str, base: str, ratio: str, goal: str = "") -> None:
    print(f"  {label:<44} {ours:>14} {base:>14} {ratio:>8}  {goal}")


def bench_engine(pki: certs.BenchPKI, n: int) -> None:
    print("\n1. Engine CPU per handshake, client+server in one process (µs, best of 3 batches)")
    _row("", "tlssim", "OpenSSL", "ratio", "goal")
    for r in engine.run(pki, n):
        label = r.case + (" + chain check" if r.chain_check else "")
        _row(
            label + " [cpu]",
            f"{r.ours.cpu_us:.0f}",
            f"{r.openssl.cpu_us:.0f}",
            f"{r.ours.cpu_us / r.openssl.cpu_us:.2f}x",
            "<= 1.5x" if "1.3" in r.case else "",
        )
        _row("    [wall]", f"{r.ours.wall_us:.0f}", f"{r.openssl.wall_us:.0f}", "")


def bench_tcp(pki: certs.BenchPKI, seconds: float, threads: int) -> None:
    print(
        f"\n2. TCP server: full TLS 1.3 handshakes/s from OpenSSL clients"
        f" ({threads} threads, one process, {seconds:g} s per server)"
    )
    results = tcp.run(pki, seconds, threads)
    best = max(r.rate for r in results if r.server != "tlssim")
    print(
        f"  {'server':<28} {'hs/s':>8} {'p50 ms':>8} {'server CPU/hs':>14} {'vs best OpenSSL':>16}"
    )
    for r in results:
        per = r.server_cpu_s / (r.rate * seconds) * 1000 if r.rate else 0.0
        print(
            f"  {r.server:<28} {r.rate:8.0f} {r.p50_ms:8.2f} {per:11.2f} ms"
            f" {r.rate / best:15.0%}"
            + ("   goal >= 80%" if r.server == "tlssim" else "")
            + (f"  ({r.failures} failures)" if r.failures else "")
        )


def bench_clients(pki: certs.BenchPKI, n: int) -> None:
    print(f"\n4. Client handshake against the same tlssim TCP server (median of {n}, ms)")
    port = tcp.free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tlssim.bench.servers", "tlssim", str(port), str(pki.directory)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        server.stdout.readline()
        results = clients.run(port, n)
    finally:
        server.terminate()
        server.wait(timeout=10)
    ours = next(r.ms for r in results if r.client.startswith("tlssim")) or 1.0
    for r in results:
        if r.ms is None:
            print(f"  {r.client:<34} skipped ({r.note})")
            continue
        speedup = f"tlssim is {r.ms / ours:.1f}x faster" if r.client == "tlslite-ng" else ""
        goal = "  goal >= 10x" if r.client == "tlslite-ng" else ""
        print(f"  {r.client:<34} {r.ms:8.2f} ms  {speedup}{goal}")


def bench_stack(tmp: Path, n: int, seconds: float, levels: tuple[int, ...]) -> None:
    print(
        "\n3. Distributed path: RunHandshake on the client service over one gRPC channel"
        " (TLS 1.3, valid.tlssim.test, staple + soft revocation)"
    )
    started = time.monotonic()
    with stack.running_stack(tmp) as up:
        print(f"  (tlssim up took {time.monotonic() - started:.1f} s)")
        pids = {name: up.service_pid(name) for name in stack.SERVICES}
        relay = up.env["TLSSIM_CLIENT_ADDR"]
        with stack.direct_client(up.env, tmp) as (direct, direct_pid):
            paths: list[tuple[str, str, dict[str, int], contextlib.AbstractContextManager[None]]]
            paths = [
                ("relay, re-terminating", relay, pids, stack.relay_reterminating(up)),
                ("relay, pass-through", relay, pids, contextlib.nullcontext()),
                (
                    "direct (no relay)",
                    direct,
                    pids | {"client": direct_pid},
                    contextlib.nullcontext(),
                ),
            ]
            print(f"  {'path':<22} {'handshake_ms p50/p90/p99':>26} {'RPC ms p50/p90/p99':>22}")
            cpu_rows = []
            for label, address, path_pids, toxic in paths:
                with toxic:
                    lat = asyncio.run(stack.sequential(address, label, n))
                    hs = "/".join(f"{x:.2f}" for x in lat.handshake_ms)
                    rpc = "/".join(f"{x:.2f}" for x in lat.rpc_ms)
                    print(f"  {label:<22} {hs:>26} {rpc:>22}   goal p50 <= 2.5 ms")
                    for level in levels:
                        meter = stack.CpuMeter(path_pids)
                        meter.start()
                        thr = asyncio.run(stack.concurrent(address, label, level, seconds))
                        meter.stop()
                        fails = f", {thr.failures} failed" if thr.failures else ""
                        print(
                            f"  {label:<22} {level:>3} in flight: {thr.rate:7.0f} handshakes/s"
                            f" (RPC p50 {thr.rpc_p50_ms:.1f} ms{fails})   goal >= 800/s"
                        )
                        cpu_rows.append((label, level, thr.rate * seconds, meter.used))
        _print_cpu(cpu_rows)


def _print_cpu(rows: list[tuple[str, int, float, dict[str, float]]]) -> None:
    """CPU ms per handshake in each process: the capacity model's input."""
    names = [*stack.SERVICES, "bench"]
    print("\n  CPU ms per handshake, by process (the capacity model in docs/performance.md)")
    print(f"  {'path':<22} {'':>4}" + "".join(f"{n:>8}" for n in names) + f"{'total':>8}")
    for label, level, done, used in rows:
        per = {name: 1000 * used.get(name, 0.0) / max(done, 1) for name in names}
        cells = "".join(f"{per[name]:8.2f}" for name in names)
        total = sum(per.values())
        print(f"  {label:<22} {level:>4}{cells}{total:8.2f}  -> {2000 / total:.0f}/s on 2 cores")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (about 1 min)")
    parser.add_argument(
        "--only", choices=["engine", "tcp", "stack", "clients"], action="append", default=None
    )
    args = parser.parse_args(argv)
    quick = args.quick
    only = set(args.only or ["engine", "tcp", "stack", "clients"])
    print("tlssim benchmark" + (" (quick)" if quick else ""))
    print("machine:", _machine())
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tlssim-bench-") as tmp:
        pki = certs.create(Path(tmp) / "pki")
        if "engine" in only:
            bench_engine(pki, 60 if quick else 200)
        if "tcp" in only:
            bench_tcp(pki, 2.0 if quick else 5.0, 8)
        if "stack" in only:
            bench_stack(Path(tmp), 100 if quick else 300, 3.0 if quick else 10.0, (16, 64))
        if "clients" in only:
            bench_clients(pki, 30 if quick else 100)
    print(f"\n(finished in {time.monotonic() - t0:.0f} s)")
    return 0
