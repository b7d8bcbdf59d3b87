#!/usr/bin/env python3
"""Fuzz every parser: structure-aware hypothesis strategies from tests/fuzz/targets.py.

    .venv/bin/python -m tests.fuzz --cases 1000000          # spread over all targets
    .venv/bin/python -m tests.fuzz --cases 20000 --target engine:server

Runs the targets in batches, round robin, so progress shows early and a stop leaves a
table of what ran. A crash (any exception but the parser's own error, an internal_error
alert) is printed with its input as it happens and counted; the exit status is 1 if there was one.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, given, settings

from tests.fuzz.targets import TARGETS, Target

BATCH = 2000


@dataclass
class Tally:
    cases: int = 0
    seconds: float = 0.0
    crashes: list[str] = field(default_factory=list)


def run_batch(target: Target, examples: int, tally: Tally) -> None:
    """``examples`` fresh random cases (no shrinking: the first failing input is reported)."""

    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(target.strategy)
    def run(case: object) -> None:
        tally.cases += 1
        try:
            target.check(case)
        except Exception:
            report = f"{target.name}: {case!r}\n{traceback.format_exc()}"
            if report not in tally.crashes:  # hypothesis replays a failing case once more
                tally.crashes.append(report)
                print("\n" + report, file=sys.stderr, flush=True)
            raise

    start = time.perf_counter()
    try:
        run()
    except Exception:  # recorded above; hypothesis re-raises it at the end of the run
        pass
    finally:
        tally.seconds += time.perf_counter() - start


def campaign(
    names: list[str], tallies: dict[str, Tally], cases: int, per_target: int, started: float
) -> int:
    """Round robin over the targets, one batch each, until ``cases`` ran."""
    done = 0
    while done < cases:
        progressed = False
        for name in names:
            tally = tallies[name]
            if tally.cases >= per_target or done >= cases:
                continue
            before = tally.cases
            run_batch(TARGETS[name], min(BATCH, per_target - tally.cases), tally)
            done += tally.cases - before
            progressed = progressed or tally.cases > before
        elapsed = time.perf_counter() - started
        crashes = sum(len(t.crashes) for t in tallies.values())
        print(
            f"{done:>9} cases  {elapsed:7.0f} s  {done / max(elapsed, 1e-9):6.0f}/s  "
            f"crashes {crashes}",
            flush=True,
        )
        if not progressed:
            break  # every target exhausted what its strategy can generate
    return done


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000, help="total cases, all targets")
    parser.add_argument("--target", action="append", help="only these targets (repeatable)")
    args = parser.parse_args()
    names = args.target or list(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {unknown}; known: {', '.join(TARGETS)}")
    tallies = {name: Tally() for name in names}
    per_target = -(-args.cases // len(names))
    started = time.perf_counter()
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        done = campaign(names, tallies, args.cases, per_target, started)
    except KeyboardInterrupt:  # a stop still prints the table of what ran
        done = sum(t.cases for t in tallies.values())
        print("stopped")
    print()
    print(f"{'target':<34}{'cases':>10}{'time (s)':>10}{'crashes':>9}")
    for name, tally in tallies.items():
        print(f"{name:<34}{tally.cases:>10}{tally.seconds:>10.1f}{len(tally.crashes):>9}")
    total = sum(len(t.crashes) for t in tallies.values())
    print(f"{'total':<34}{done:>10}{time.perf_counter() - started:>10.1f}{total:>9}")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
