"""``scripts/bench.py --against REV``: this tree and another revision measured alternately in
one run, each row side by side with the ratio.

REV is installed into a temporary directory (``git archive`` of the revision, then ``pip
install --no-deps --target``, which generates its gRPC code as any install does) and runs on
this environment's interpreter and libraries, so the two trees differ only in their own
code. Each section of the benchmark runs as its own process, the two trees taking turns
(this, REV, REV, this, ...) so that a drift of the machine's speed falls on both. Rows are
read from each tree's printed table, so any revision whose ``scripts/bench.py`` prints the
same row shapes can be compared; a row one tree lacks shows as "-".
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

SECTION_NAMES = {"1": "engine", "2": "tcp", "3": "stack", "4": "clients", "5": "pq"}


@dataclass(frozen=True)
class Figure:
    """One number a row prints, and which way is better."""

    key: str
    value: float
    unit: str
    higher_is_better: bool


_ENGINE = re.compile(
    r"^  (?P<label>\S.*?) \[cpu\]\s+(?P<ours>\d+)\s+(?P<base>\d+|-)\s+(?P<ratio>[\d.]+x|-)"
)
_TCP = re.compile(r"^  (?P<server>[\w-]+)\s+(?P<rate>\d+)\s+[\d.]+\s+(?P<cpu>[\d.]+) ms")
_TCP_THREADS = re.compile(r"\((?P<threads>\d+) threads?")
_STACK_RATE = re.compile(r"^  (?P<label>\S.*?)\s+(?P<level>\d+) in flight:\s+(?P<rate>\d+) hand")
_STACK_LATENCY = re.compile(
    r"^  (?P<label>\S.*?)\s+(?P<hs>[\d.]+)/[\d.]+/[\d.]+\s+(?P<rpc>[\d.]+)/"
)
_STACK_CPU = re.compile(
    r"^  (?P<label>\S.*?)\s+(?P<level>\d+)(?:\s+[\d.]+)*\s+(?P<total>[\d.]+)\s+->"
)
_STACK_TCP = re.compile(
    r"^  server service TCP, (?P<threads>\d+) threads?\s+(?P<rate>\d+) hs/s.*?"
    r"server CPU (?P<cpu>[\d.]+) ms.*?s_server (?:\(1 ticket\) )?(?P<base>\d+) hs/s"
    r"\s+(?P<ratio>[\d.]+)x"
)
_CLIENT = re.compile(r"^  (?P<client>\S.*?)\s+(?P<ms>[\d.]+) ms")
_HEADER = re.compile(r"^(?P<number>\d)\. ")


def parse(text: str) -> list[Figure]:
    """The figures of a benchmark's printed table, keyed by section and row."""
    figures: list[Figure] = []
    section, tcp_threads = "", ""
    for line in text.splitlines():
        if header := _HEADER.match(line):
            section = SECTION_NAMES.get(header["number"], "")
        # "(8 threads" on the section's header (older trees) or above each table
        if section == "tcp" and (threads := _TCP_THREADS.search(line)):
            count = threads["threads"]
            tcp_threads = f", {count} thread" + ("s" if count != "1" else "")
        if header:
            continue
        figures.extend(_figures_of(section, tcp_threads, line))
    return figures


def _figures_of(section: str, tcp_threads: str, line: str) -> Iterable[Figure]:
    if section in ("engine", "pq") and (m := _ENGINE.match(line)):
        yield Figure(f"{section}: {m['label']}", float(m["ours"]), "µs CPU", False)
        if m["base"] != "-":
            yield Figure(f"{section}: {m['label']} (OpenSSL)", float(m["base"]), "µs CPU", False)
            # Measured side by side in one process: the ratio shrugs off the machine's drift.
            ratio = float(m["ratio"].rstrip("x"))
            yield Figure(f"{section}: {m['label']}, tlssim/OpenSSL", ratio, "ratio", False)
    elif section == "tcp" and (m := _TCP.match(line)):
        name = f"tcp: {m['server']}{tcp_threads}"
        yield Figure(name, float(m["rate"]), "hs/s", True)
        yield Figure(f"{name}, server CPU", float(m["cpu"]), "ms/hs", False)
    elif section == "stack":
        if m := _STACK_TCP.match(line):
            name = f"stack: server service TCP, {m['threads']} thread(s)"
            yield Figure(name, float(m["rate"]), "hs/s", True)
            yield Figure(f"{name}, server CPU", float(m["cpu"]), "ms/hs", False)
            yield Figure(f"{name}, tlssim/s_server", float(m["ratio"]), "ratio", True)
        elif m := _STACK_CPU.match(line):
            yield Figure(
                f"stack: {m['label']}, {m['level']}, CPU", float(m["total"]), "ms/hs", False
            )
        elif m := _STACK_RATE.match(line):
            yield Figure(
                f"stack: {m['label']}, {m['level']} in flight", float(m["rate"]), "hs/s", True
            )
        elif m := _STACK_LATENCY.match(line):
            yield Figure(f"stack: {m['label']}, handshake p50", float(m["hs"]), "ms", False)
            yield Figure(f"stack: {m['label']}, RPC p50", float(m["rpc"]), "ms", False)
    elif section == "clients" and (m := _CLIENT.match(line)):
        yield Figure(f"client: {m['client']}", float(m["ms"]), "ms", False)


#: The checkout this benchmark belongs to (src/tlssim/bench/ is three levels below it).
_REPOSITORY = Path(__file__).resolve().parents[3]


def install(revision: str, directory: Path) -> Path:
    """REV's package, installed under `directory`; returns what goes on PYTHONPATH."""
    tree, site = directory / "tree", directory / "site"
    tree.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision],
        capture_output=True,
        check=False,
        cwd=_REPOSITORY,  # the revision is this checkout's, wherever the bench is run from
    )
    if archive.returncode != 0:
        raise SystemExit(f"--against {revision}: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    # An older setup.py finds protoc's plugins on PATH only: put this interpreter's first.
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
    built = subprocess.run(
        [*pip, "--target", str(site), str(tree)], env=env, capture_output=True, text=True
    )
    if built.returncode != 0:
        raise SystemExit(f"--against {revision}: cannot install it:\n{built.stdout}{built.stderr}")
    return site


def _run_section(site: Path | None, section: str, quick: bool) -> str:
    """One section of one tree's benchmark, as the text it prints."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if site is not None:
        env["PYTHONPATH"] = str(site)
    main = "import sys; from tlssim.bench.main import main; sys.exit(main())"
    argv = [sys.executable, "-c", main, "--only", section]
    done = subprocess.run(
        argv + (["--quick"] if quick else []),
        env=env,
        capture_output=True,
        text=True,
        cwd=tempfile.gettempdir(),  # never this tree's src/ by accident
        check=False,
    )
    if done.returncode != 0 or not done.stdout:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        print(f"    ({'REV' if site else 'this tree'} {section}: exit {done.returncode}: {last})",
              file=sys.stderr)  # fmt: skip
    return done.stdout


@dataclass
class Side:
    name: str
    values: dict[str, list[float]]


def _record(side: Side, text: str, units: dict[str, Figure]) -> None:
    for figure in parse(text):
        side.values.setdefault(figure.key, []).append(figure.value)
        units.setdefault(figure.key, figure)


def _cell(values: Sequence[float]) -> str:
    if not values:
        return "-"
    middle = statistics.median(values)
    if len(values) == 1:
        return f"{middle:.4g}"
    return f"{middle:.4g} ({min(values):.4g}-{max(values):.4g})"


def compare(revision: str, sections: Sequence[str], rounds: int, quick: bool) -> int:
    with tempfile.TemporaryDirectory(prefix="tlssim-against-") as tmp:
        print(f"installing {revision} into a temporary environment ...", file=sys.stderr)
        site = install(revision, Path(tmp))
        this, other = Side("this tree", {}), Side(revision, {})
        units: dict[str, Figure] = {}
        started = time.monotonic()
        for round_ in range(rounds):
            for section in sections:
                # Turns alternate from round to round: this, REV | REV, this | ...
                order = [(this, None), (other, site)]
                if round_ % 2:
                    order.reverse()
                for side, path in order:
                    print(
                        f"  round {round_ + 1}/{rounds}, {section}: {side.name}"
                        f" ({time.monotonic() - started:.0f} s)",
                        file=sys.stderr,
                    )
                    _record(side, _run_section(path, section, quick), units)
    print(f"\nThis tree against {revision}, alternately in one run ({rounds} rounds;"
          " median, range in brackets)")  # fmt: skip
    width = max((len(f"{k} [{f.unit}]") for k, f in units.items()), default=10)
    print(f"  {'row':<{width}} {'this tree':>22} {revision[:12]:>22} {'ratio':>7}")
    for key, figure in units.items():
        ours, theirs = this.values.get(key, []), other.values.get(key, [])
        ratio, verdict = "", ""
        if ours and theirs and statistics.median(theirs):
            r = statistics.median(ours) / statistics.median(theirs)
            ratio = f"{r:.2f}x"
            better = r > 1 if figure.higher_is_better else r < 1
            verdict = "" if abs(r - 1) < 0.05 else ("better" if better else "WORSE")
        label = f"{key} [{figure.unit}]"
        print(f"  {label:<{width}} {_cell(ours):>22} {_cell(theirs):>22} {ratio:>7} {verdict}")
    return 0
