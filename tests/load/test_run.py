"""The load loop's schedule, bounds and coordinated-omission correction, with in-process
attempts whose timing is known."""

from __future__ import annotations

import asyncio
import time

import pytest

from tlssim.load.run import Attempt, Failure, Plan, Tally, run, validate
from tlssim.load.summary import as_dict


def plan(**kw: object) -> Plan:
    base: dict[str, object] = {
        "rate": None,
        "concurrency": 4,
        "duration_s": None,
        "count": None,
        "timeout_s": 5.0,
    }
    return validate(Plan(**(base | kw)))  # type: ignore[arg-type]


def sleeper(seconds: float, fail_every: int = 0) -> Attempt:
    calls = 0

    async def attempt() -> Failure | None:
        nonlocal calls
        calls += 1
        mine = calls
        await asyncio.sleep(seconds)
        if fail_every and mine % fail_every == 0:
            return Failure(kind="alert", description="handshake_failure", sent_by="server")
        return None

    return attempt


def go(p: Plan, attempt: Attempt) -> Tally:
    async def main() -> Tally:
        return await run(p, attempt, Tally(), asyncio.Event())

    return asyncio.run(main())


def test_rate_mode_issues_rate_times_duration_and_stops_on_time() -> None:
    p = plan(rate=50.0, duration_s=1.0)
    began = time.monotonic()
    tally = go(p, sleeper(0.01))
    assert time.monotonic() - began < 1.5
    assert tally.issued == 50 and tally.completed == 50 and tally.succeeded == 50
    figures = as_dict(p, tally, "test")
    assert 40 <= figures["achieved_rate"] <= 50.0


def test_concurrency_mode_counts_add_up_with_failures() -> None:
    p = plan(concurrency=3, count=30)
    tally = go(p, sleeper(0.005, fail_every=3))
    figures = as_dict(p, tally, "test")
    assert figures["completed"] == 30 == figures["succeeded"] + figures["failed"]
    assert figures["errors"] == [
        {"kind": "alert", "description": "handshake_failure", "sent_by": "server", "count": 10}
    ]


def test_rate_mode_charges_a_stall_to_the_requests_it_delayed() -> None:
    """One in flight, 100/s, the first handshake takes 0.5 s: the 50 due meanwhile wait, and
    their latency counts from when they were due (coordinated omission corrected)."""
    calls = 0

    async def stalls_once() -> Failure | None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.5 if calls == 1 else 0.001)
        return None

    p = plan(rate=100.0, count=100, concurrency=1)
    tally = go(p, stalls_once)
    # Request i, due at 10*i ms, starts about 500 ms in: some 45 of them wait over 100 ms.
    # Measured from their actual start, only the first would be slow (p60 about 1 ms).
    assert tally.latency.percentile_ms(60) > 100
    assert tally.latency.percentile_ms(30) < 50
    assert tally.latency.max_us >= 500_000


def test_timeouts_are_a_kind_of_failure() -> None:
    tally = go(plan(concurrency=2, count=2, timeout_s=0.05), sleeper(1.0))
    assert [f.kind for f in tally.failures] == ["timeout"]
    assert tally.failures.total() == 2


def test_stop_ends_the_run_early_with_the_tally_so_far() -> None:
    async def main() -> Tally:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.3, stop.set)
        return await run(plan(concurrency=2, duration_s=30.0), sleeper(0.01), Tally(), stop)

    began = time.monotonic()
    tally = asyncio.run(main())
    assert time.monotonic() - began < 1.0
    assert tally.interrupted and tally.succeeded > 10


def test_no_duration_or_count_means_the_default_duration() -> None:
    assert plan().duration_s == 10.0
    assert plan(count=5).duration_s is None


@pytest.mark.parametrize(
    "bad",
    [
        {"rate": 0.0},
        {"concurrency": 0},
        {"concurrency": 100_000},
        {"count": 0},
        {"duration_s": -1.0},
    ],
)
def test_bad_plans_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must be"):
        plan(**bad)


def test_an_overloaded_rate_run_still_ends_on_time_and_counts_what_it_could_not_send() -> None:
    """100/s offered, 2 in flight, 0.1 s each: 20/s at most. Nothing starts after the
    deadline; the requests that were due but found no free slot are counted as unsent."""
    p = plan(rate=100.0, duration_s=1.0, concurrency=2)
    began = time.monotonic()
    tally = go(p, sleeper(0.1))
    assert time.monotonic() - began < 1.3
    assert 16 <= tally.issued <= 22
    assert tally.issued + tally.unsent == 100
    assert as_dict(p, tally, "test")["achieved_rate"] <= 22
