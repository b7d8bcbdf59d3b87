"""``python scripts/bench.py [--quick]``: every benchmark, each against its baseline, as
one table. See docs/performance.md for what each line includes."""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import cryptography
import grpc

from tlssim.bench import (
    against,
    ceiling,
    certs,
    clients,
    engine,
    floor,
    pq,
    servers,
    stack,
    tcp,
)
from tlssim.tls import NamedGroup

SECTIONS = ("engine", "tcp", "stack", "clients", "pq")


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


@dataclass(frozen=True)
class Goal:
    """One of the performance goals (docs/performance.md), as a ratio measured in this run."""

    name: str
    value: float
    target: float
    at_least: bool  # the value must be >= target (else <=)

    @property
    def met(self) -> bool:
        return self.value >= self.target if self.at_least else self.value <= self.target


def _print_goals(goals: list[Goal]) -> None:
    if not goals:
        return
    print("\nGoals, each a ratio measured in this run")
    for g in goals:
        want = f"{'>=' if g.at_least else '<='} {g.target:g}"
        print(f"  {g.name:<58} {g.value:6.2f}  goal {want:<8} {'met' if g.met else 'NOT met'}")


def _row(label: str, ours: str, base: str, ratio: str, goal: str = "") -> None:
    print(f"  {label:<44} {ours:>14} {base:>14} {ratio:>8}  {goal}")


def bench_engine(pki: certs.BenchPKI, n: int, goals: list[Goal]) -> None:
    print("\n1. Engine CPU per handshake, client+server in one process (µs, best of 3 batches)")
    _row("", "tlssim", "OpenSSL", "ratio", "goal")
    for r in engine.run(pki, n):
        label = r.case + (" + chain check" if r.chain_check else "")
        _row(
            label + " [cpu]",
            f"{r.ours.cpu_us:.0f}",
            f"{r.openssl.cpu_us:.0f}",
            f"{r.ours.cpu_us / r.openssl.cpu_us:.2f}x",
            "<= 1.0x" if "1.3" in r.case and not r.chain_check else "",
        )
        if "1.3" in r.case and not r.chain_check:
            ratio = r.ours.cpu_us / r.openssl.cpu_us
            goals.append(Goal(f"engine, {r.case}: tlssim / OpenSSL 3", ratio, 1.0, False))
        _row("    [wall]", f"{r.ours.wall_us:.0f}", f"{r.openssl.wall_us:.0f}", "")
        if "1.3" in r.case and not r.chain_check:
            # What this row's Python costs: its cryptographic calls with nothing between.
            alone = engine.measure(engine.tls13_crypto_calls(pki), n)
            _row("  its crypto calls alone [cpu]", f"{alone.cpu_us:.0f}", "-", "-")


def bench_tcp(
    pki: certs.BenchPKI, seconds: float, thread_counts: tuple[int, ...], goals: list[Goal]
) -> None:
    print(
        "\n2. TCP server: full TLS 1.3 handshakes/s from OpenSSL clients"
        f" (one load process, {seconds:g} s per server)"
    )
    for threads in thread_counts:
        results = tcp.run(pki, seconds, threads)
        best = max(r.rate for r in results if r.server != "tlssim")
        s_server = next(r.rate for r in results if r.server == "openssl-s_server") or 1.0
        print(
            f"  ({threads} thread{'s' if threads > 1 else ''})"
            f" {'hs/s':>20} {'p50 ms':>8} {'server CPU/hs':>14} {'vs best OpenSSL':>16}"
        )
        for r in results:
            per = r.server_cpu_s / (r.rate * seconds) * 1000 if r.rate else 0.0
            goal = ""
            if r.server == "tlssim" and threads == 1:
                goal = f"   {r.rate / s_server:.2f}x openssl s_server"
            elif r.server == "tlssim":
                goal = "   goal >= 80%"
                name = f"TCP engine server, {threads} threads: / best OpenSSL server"
                goals.append(Goal(name, r.rate / best, 0.8, True))
            print(
                f"  {r.server:<28} {r.rate:8.0f} {r.p50_ms:8.2f} {per:11.2f} ms"
                f" {r.rate / best:15.0%}"
                + goal
                + (f"  ({r.failures} failures)" if r.failures else "")
            )


def bench_clients(pki: certs.BenchPKI, n: int, goals: list[Goal]) -> None:
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
        if r.client.startswith("OpenSSL"):
            goal = f"  tlssim / OpenSSL {ours / r.ms:.2f}x, goal <= 1.1x"
            goals.append(Goal("our client / OpenSSL's, same server", ours / r.ms, 1.1, False))
        print(f"  {r.client:<34} {r.ms:8.2f} ms  {speedup}{goal}")


def bench_stack(
    tmp: Path,
    pki: certs.BenchPKI,
    n: int,
    seconds: float,
    levels: tuple[int, ...],
    goals: list[Goal],
) -> None:
    print(
        "\n3. Distributed path: RunHandshake on the client service over one gRPC channel"
        " (TLS 1.3, valid.tlssim.test, staple + soft revocation)"
    )
    started = time.monotonic()
    rows: list[CpuRow] = []
    with stack.running_stack(tmp) as up:
        print(f"  (tlssim up took {time.monotonic() - started:.1f} s)")
        pids = {name: up.service_pid(name) for name in stack.SERVICES}
        _tcp_service(up.env["TLSSIM_SERVER_TCP_ADDR"], pids["server"], pki, seconds, goals)
        relay = up.env["TLSSIM_CLIENT_ADDR"]
        print(f"  {'path':<22} {'handshake_ms p50/p90/p99':>26} {'RPC ms p50/p90/p99':>22}")
        with stack.relay_reterminating(up):
            _measure("relay, re-terminating", relay, pids, n, seconds, levels, rows)
        _measure("relay, pass-through", relay, pids, n, seconds, levels, rows)
        with stack.direct_client(up.env, tmp) as (direct, client_pid):
            direct_pids = pids | {"client": client_pid}
            _measure("direct (no relay)", direct, direct_pids, n, seconds, levels, rows)
            report_json = asyncio.run(stack.one_report(direct))
            # What the default hybrid group costs the distributed path, in the same run.
            x25519 = ("x25519",)
            _measure("direct, x25519", direct, direct_pids, n, seconds, levels, rows, x25519)
        # The capacity model's check: a second server replica on the same two cores (a new
        # client service, so that its connections spread over both).
        with (
            stack.second_server(up.env, tmp) as second_pid,
            stack.direct_client(up.env, tmp) as (direct, client_pid),
        ):
            two_pids = pids | {"client": client_pid, "server-2": second_pid}
            _measure("direct, 2 servers", direct, two_pids, n, seconds, levels, rows)
    # The same calls with nothing in them, while the stack is down: what gRPC alone costs.
    with floor.running_floor(report_json, tmp) as (address, floor_pids):
        _measure(FLOOR, address, floor_pids, n, seconds, levels, rows)
        # gRPC's CPU per call grows as calls get fewer per wake-up: the same calls at the
        # direct path's own rate say how much of the path's CPU that is.
        for row in [r for r in rows if r.label == "direct (no relay)"]:
            _paced_floor(address, floor_pids, row, seconds, rows)
    _print_cpu(rows)
    pairs = {
        group: ceiling.engine_pair(report_json, pki, max(30, n // 2), group)
        for group in (None, NamedGroup.x25519)
    }
    _print_ceiling(rows, pairs, goals)


def _tcp_service(
    address: str, pid: int, pki: certs.BenchPKI, seconds: float, goals: list[Goal]
) -> None:
    """The server service's own TLS-over-TCP port (every feature on) against `openssl
    s_server` sending the one session ticket the service sends, the same OpenSSL clients on
    each, one at a time and eight at once."""
    port = int(address.rsplit(":", 1)[1])
    for threads in (1, 8):
        ours, cpu = tcp.load_port(port, pid, seconds, threads, stack.SERVER_NAME)
        rate = ours["handshakes"] / seconds
        theirs = tcp.measure_server(servers.S_SERVER_ONE_TICKET, pki, seconds, threads)
        ratio = rate / theirs.rate if theirs.rate else 0.0
        print(
            f"  server service TCP, {threads} thread{'s' if threads > 1 else ''}"
            f" {rate:6.0f} hs/s  p50 {ours['p50_ms']:.2f} ms"
            f"  server CPU {1000 * cpu / max(ours['handshakes'], 1):.2f} ms"
            f"  openssl s_server (1 ticket) {theirs.rate:.0f} hs/s  {ratio:.2f}x"
            + ("   goal >= 0.8x" if threads == 1 else "")
        )
        if threads == 1:
            goals.append(Goal("server service TCP, 1 client: / openssl s_server", ratio, 0.8, True))


class CpuRow(NamedTuple):
    label: str
    level: int  # calls in flight
    done: float  # handshakes in the window
    used: dict[str, float]  # CPU seconds by process
    rate: float  # handshakes per second


FLOOR = "gRPC floor (no TLS)"
FLOOR_PACED = "gRPC floor, paced"


def _measure(
    label: str,
    address: str,
    pids: dict[str, int],
    n: int,
    seconds: float,
    levels: tuple[int, ...],
    rows: list[CpuRow],
    groups: tuple[str, ...] = (),
) -> None:
    """Sequential latency (n handshakes), then each level of concurrency with the CPU each
    process spent."""
    lat = asyncio.run(stack.sequential(address, label, n, groups))
    # The floor's handshake_ms is its first exchange: a handshake's share of gRPC time.
    hs = "/".join(f"{x:.2f}" for x in lat.handshake_ms)
    rpc = "/".join(f"{x:.2f}" for x in lat.rpc_ms)
    print(f"  {label:<22} {hs:>26} {rpc:>22}")
    for level in levels:
        meter = stack.CpuMeter(pids)
        meter.start()
        thr = asyncio.run(stack.concurrent(address, label, level, seconds, groups))
        meter.stop()
        notes = f", {thr.failures} failed" if thr.failures else ""
        if "server-2" in pids:
            notes += f", {thr.second_replica_share:.0%} by the second server"
        print(
            f"  {label:<22} {level:>3} in flight: {thr.rate:7.0f} handshakes/s"
            f" (RPC p50 {thr.rpc_p50_ms:.1f} ms{notes})"
        )
        rows.append(CpuRow(label, level, thr.rate * seconds, meter.used, thr.rate))


def _paced_floor(
    address: str, pids: dict[str, int], like: CpuRow, seconds: float, rows: list[CpuRow]
) -> None:
    meter = stack.CpuMeter(pids)
    meter.start()
    thr = asyncio.run(stack.concurrent(address, FLOOR_PACED, like.level, seconds, pace=like.rate))
    meter.stop()
    print(
        f"  {FLOOR_PACED:<22} {like.level:>3} in flight: {thr.rate:7.0f} handshakes/s"
        f" (paced to the direct row's rate; RPC p50 {thr.rpc_p50_ms:.1f} ms)"
    )
    rows.append(CpuRow(FLOOR_PACED, like.level, thr.rate * seconds, meter.used, thr.rate))


def _cpu_ms(done: float, used: dict[str, float]) -> float:
    """CPU ms per handshake over every process measured."""
    return 1000 * sum(used.values()) / max(done, 1)


def _print_ceiling(
    rows: list[CpuRow], pairs: dict[NamedGroup | None, ceiling.EnginePair], goals: list[Goal]
) -> None:
    """Each distributed row against what the machine allows at the same concurrency."""
    floors = {r.level: _cpu_ms(r.done, r.used) for r in rows if r.label == FLOOR}
    cores = os.cpu_count() or 1
    print("\n  Ceiling: the gRPC floor's CPU per handshake + the engine pair's, on every core")
    for group, pair in pairs.items():
        rows_of = "the x25519 rows" if group else "the other rows"
        print(f"  engine pair for {rows_of}: {pair.cpu_ms:.2f} ms CPU ({pair.what})")
    print(f"  {cores} cores")
    print(
        f"  {'path':<22} {'':>4} {'hs/s':>7} {'ceiling':>8} {'of it':>6}"
        f" {'CPU ms':>7} {'floor+eng':>10} {'x':>6}   goal"
    )
    paced = {r.level: _cpu_ms(r.done, r.used) for r in rows if r.label == FLOOR_PACED}
    for label, level, done, used, rate in rows:
        if label in (FLOOR, FLOOR_PACED) or level not in floors:
            continue
        pair = pairs[NamedGroup.x25519 if "x25519" in label else None]
        top = ceiling.Ceiling(floors[level], pair.cpu_ms, cores)
        cpu = _cpu_ms(done, used)
        share = 0.65 if label.startswith("relay") else 0.75
        goal = f">= {share}, <= 1.4x"
        if label in ("direct (no relay)", "relay, pass-through"):
            goals.append(
                Goal(f"{label}, {level} in flight: / ceiling", rate / top.rate, share, True)
            )
        if label == "direct (no relay)":
            multiple = cpu / top.per_handshake_ms
            goals.append(Goal(f"{label}, {level}: CPU / (floor + engine)", multiple, 1.4, False))
        print(
            f"  {label:<22} {level:>4} {rate:7.0f} {top.rate:8.0f} {rate / top.rate:6.2f}"
            f" {cpu:7.2f} {top.per_handshake_ms:10.2f} {cpu / top.per_handshake_ms:5.2f}x   {goal}"
        )
        if label == "direct (no relay)" and level in paced:
            at_rate = paced[level] + pair.cpu_ms
            print(
                f"  {'':<22} {'':>4} the floor at this row's rate: {paced[level]:.2f} ms"
                f" (full speed {floors[level]:.2f}); floor + engine {at_rate:.2f} ms,"
                f" CPU {cpu / at_rate:.2f}x that"
            )


def _print_cpu(rows: list[CpuRow]) -> None:
    """CPU ms per handshake in each process: the capacity model's input (a second server
    replica's CPU counts under server)."""
    names = [*stack.SERVICES, "bench"]
    print("\n  CPU ms per handshake, by process (the capacity model in docs/performance.md)")
    print(f"  {'path':<22} {'':>4}" + "".join(f"{n:>8}" for n in names) + f"{'total':>8}")
    for label, level, done, used, _ in rows:
        used = used | {"server": used.get("server", 0.0) + used.get("server-2", 0.0)}
        per = {name: 1000 * used.get(name, 0.0) / max(done, 1) for name in names}
        cells = "".join(f"{per[name]:8.2f}" for name in names)
        total = sum(per.values())
        print(f"  {label:<22} {level:>4}{cells}{total:8.2f}  -> {2000 / total:.0f}/s on 2 cores")


def bench_pq(directory: Path, n: int, goals: list[Goal]) -> None:
    print(
        "\n5. Post-quantum: TLS 1.3 engine CPU per handshake and bytes on the wire,"
        f" tlssim against {pq.openssl_version()} via pyOpenSSL"
        " (µs, best of 3 batches; bytes up/down)"
    )
    _row("", "tlssim", "OpenSSL 4", "ratio", "bytes up/down (tlssim; OpenSSL 4)")
    for r in pq.run(directory, n):
        ours_bytes = f"{r.ours_wire.client_to_server}/{r.ours_wire.server_to_client}"
        if r.openssl is None or r.openssl_wire is None:
            _row(r.case + " [cpu]", f"{r.ours.cpu_us:.0f}", "-", "-", ours_bytes)
            continue
        theirs_bytes = f"{r.openssl_wire.client_to_server}/{r.openssl_wire.server_to_client}"
        _row(
            r.case + " [cpu]",
            f"{r.ours.cpu_us:.0f}",
            f"{r.openssl.cpu_us:.0f}",
            f"{r.ours.cpu_us / r.openssl.cpu_us:.2f}x",
            f"{ours_bytes}; {theirs_bytes}",
        )
        if r.case == pq.CLASSICAL:
            ratio = r.ours.cpu_us / r.openssl.cpu_us
            goals.append(Goal(f"engine, TLS 1.3 {r.case}: tlssim / OpenSSL 4", ratio, 1.25, False))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (about 1 min)")
    parser.add_argument(
        "--only",
        choices=SECTIONS,
        action="append",
        default=None,
    )
    parser.add_argument(
        "--against",
        metavar="REV",
        help="also run the git revision REV, alternately with this tree, and compare each row",
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="turns each tree takes with --against (default 2)"
    )
    args = parser.parse_args(argv)
    quick = args.quick
    only = set(args.only or SECTIONS)
    if args.against:
        if args.rounds < 1:
            parser.error("--rounds must be at least 1")
        return against.compare(args.against, [s for s in SECTIONS if s in only], args.rounds, quick)
    print("tlssim benchmark" + (" (quick)" if quick else ""))
    print("machine:", _machine())
    t0 = time.monotonic()
    goals: list[Goal] = []
    with tempfile.TemporaryDirectory(prefix="tlssim-bench-") as tmp:
        pki = certs.create(Path(tmp) / "pki")
        if "engine" in only:
            bench_engine(pki, 60 if quick else 200, goals)
        if "tcp" in only:
            bench_tcp(pki, 2.0 if quick else 5.0, (1, 8), goals)
        if "stack" in only:
            seconds = 3.0 if quick else 10.0
            bench_stack(Path(tmp), pki, 100 if quick else 300, seconds, (16, 64), goals)
        if "clients" in only:
            bench_clients(pki, 30 if quick else 100, goals)
        if "pq" in only:
            bench_pq(Path(tmp) / "pq", 60 if quick else 200, goals)
    _print_goals(goals)
    print(f"\n(finished in {time.monotonic() - t0:.0f} s)")
    return 0
