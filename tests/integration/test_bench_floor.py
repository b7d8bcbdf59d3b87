"""The benchmark's gRPC floor: two real processes answer the distributed path's calls with
no TLS in them, and the benchmark's driver counts them like handshakes."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from tlssim.bench import floor, stack
from tlssim.report.model import Report

REPORT = Path(__file__).resolve().parents[1] / "vectors" / "reports" / "tls13.json"


def test_the_floor_answers_with_the_report_it_was_given_timed(tmp_path: Path) -> None:
    report_json = REPORT.read_text()
    with floor.running_floor(report_json, tmp_path) as (address, pids):
        assert set(pids) == {"client", "server"}
        meter = stack.CpuMeter(pids)
        meter.start()
        result = asyncio.run(stack.concurrent(address, "floor", 4, 0.5))
        meter.stop()
        answered = Report.from_json(asyncio.run(stack.one_report(address)))
    given = Report.from_json(report_json)
    # the same report, its handshake_ms the first exchange's time
    first_ms = answered.timings.handshake_ms
    assert first_ms is not None and 0 < first_ms < 1000
    assert dataclasses.replace(answered, timings=given.timings) == given
    assert result.failures == 0 and result.rate > 0
    assert meter.used["client"] > 0 and meter.used["server"] > 0
