"""The load loop: attempts at a fixed rate (open loop) or a fixed concurrency (closed loop),
bounded in time, count and in-flight, tallied into a histogram and error counts.

Every handshake has a timeout, and no request starts after the deadline, so a duration run
ends within its duration plus one timeout.

In rate mode request i is due at start + i/rate, and its latency is measured from that
intended time, not from when it actually started: when the target stalls, the requests that
should have gone out meanwhile are charged the stall (coordinated omission corrected, as in
wrk2). A request waiting for an in-flight slot keeps its intended time too.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tlssim.load.histogram import Histogram

#: Hard caps, whatever the command line says.
MAX_REQUESTS = 1_000_000
MAX_IN_FLIGHT = 512
MAX_DURATION_S = 3600.0
DEFAULT_DURATION_S = 10.0
DEFAULT_TIMEOUT_S = 10.0


@dataclass(frozen=True, kw_only=True, slots=True)
class Failure:
    """Why one handshake failed; equal failures are counted together."""

    kind: str  # alert, transport, grpc, timeout, failed
    description: str
    sent_by: str | None = None  # alerts only: client or server


#: One handshake: None when it succeeded, else why it failed.
Attempt = Callable[[], Awaitable[Failure | None]]


@dataclass(frozen=True, kw_only=True, slots=True)
class Plan:
    rate: float | None  # per second; None: closed loop at `concurrency`
    concurrency: int
    duration_s: float | None
    count: int | None
    timeout_s: float


@dataclass(kw_only=True, slots=True)
class Tally:
    """What happened so far; read by the progress line while the run goes on."""

    started_at: float = field(default_factory=time.monotonic)
    last_done_at: float = 0.0
    issued: int = 0
    unsent: int = 0  # rate mode: due before the deadline, but every in-flight slot was busy
    succeeded: int = 0
    failures: Counter[Failure] = field(default_factory=Counter)
    latency: Histogram = field(default_factory=Histogram)
    interrupted: bool = False
    # Handshakes by (role, replica name) as the reports named them: ("server", "server.2").
    replicas: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def completed(self) -> int:
        return self.succeeded + sum(self.failures.values())


def validate(plan: Plan) -> Plan:
    """The plan with its defaults and caps applied; ValueError for one that cannot run."""
    if plan.rate is not None and not 0 < plan.rate <= 100_000:
        raise ValueError("--rate must be above 0 and at most 100000 per second")
    if not 1 <= plan.concurrency <= MAX_IN_FLIGHT:
        raise ValueError(f"--concurrency must be 1..{MAX_IN_FLIGHT}")
    if plan.duration_s is not None and not 0 < plan.duration_s <= MAX_DURATION_S:
        raise ValueError(f"--duration must be above 0 and at most {MAX_DURATION_S:.0f} s")
    if plan.count is not None and not 1 <= plan.count <= MAX_REQUESTS:
        raise ValueError(f"--count must be 1..{MAX_REQUESTS}")
    if not plan.timeout_s > 0:
        raise ValueError("--timeout must be above 0")
    duration = plan.duration_s
    if duration is None and plan.count is None:
        duration = DEFAULT_DURATION_S
    return Plan(
        rate=plan.rate,
        concurrency=plan.concurrency,
        duration_s=duration,
        count=plan.count,
        timeout_s=plan.timeout_s,
    )


async def _timed(attempt: Attempt, timeout_s: float) -> Failure | None:
    try:
        return await asyncio.wait_for(attempt(), timeout_s)
    except TimeoutError:
        return Failure(kind="timeout", description=f"no answer within {timeout_s:g} s")


def _settle(tally: Tally, outcome: Failure | None, since: float) -> None:
    now = time.monotonic()
    tally.last_done_at = now
    tally.latency.record_seconds(now - since)
    if outcome is None:
        tally.succeeded += 1
    else:
        tally.failures[outcome] += 1


async def run(plan: Plan, attempt: Attempt, tally: Tally, stop: asyncio.Event) -> Tally:
    """Runs `plan` until its duration or count is reached or `stop` is set."""
    tally.started_at = time.monotonic()
    deadline = tally.started_at + (plan.duration_s or MAX_DURATION_S)
    limit = min(plan.count or MAX_REQUESTS, MAX_REQUESTS)
    if plan.rate is None:
        await _closed_loop(plan, attempt, tally, stop, deadline, limit)
    else:
        await _open_loop(plan, plan.rate, attempt, tally, stop, deadline, limit)
    tally.interrupted = stop.is_set()
    return tally


async def _closed_loop(
    plan: Plan, attempt: Attempt, tally: Tally, stop: asyncio.Event, deadline: float, limit: int
) -> None:
    async def worker() -> None:
        while not stop.is_set() and tally.issued < limit and time.monotonic() < deadline:
            tally.issued += 1
            began = time.monotonic()
            _settle(tally, await _timed(attempt, plan.timeout_s), began)

    workers = [asyncio.create_task(worker()) for _ in range(plan.concurrency)]
    await _until_done_or_stopped(workers, stop)


async def _open_loop(
    plan: Plan,
    rate: float,
    attempt: Attempt,
    tally: Tally,
    stop: asyncio.Event,
    deadline: float,
    limit: int,
) -> None:
    slots = asyncio.Semaphore(plan.concurrency)
    in_flight: set[asyncio.Task[None]] = set()

    async def one(intended: float) -> None:
        try:
            _settle(tally, await _timed(attempt, plan.timeout_s), intended)
        finally:
            slots.release()

    while not stop.is_set() and tally.issued < limit:
        intended = tally.started_at + tally.issued / rate
        if intended >= deadline:
            break
        delay = intended - time.monotonic()
        if delay > 0 and await _stopped_within(stop, delay):
            break
        if not await _slot_before(slots, stop, deadline):
            if not stop.is_set():
                tally.unsent = math.ceil((deadline - tally.started_at) * rate) - tally.issued
            break
        tally.issued += 1
        task = asyncio.create_task(one(intended))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    await _until_done_or_stopped(list(in_flight), stop)


async def _slot_before(slots: asyncio.Semaphore, stop: asyncio.Event, deadline: float) -> bool:
    """Takes an in-flight slot, unless the deadline passes or `stop` is set first."""
    if not slots.locked():
        await slots.acquire()
        return True
    acquiring = asyncio.create_task(slots.acquire())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait(
        {acquiring, stopping},
        timeout=max(deadline - time.monotonic(), 0),
        return_when=asyncio.FIRST_COMPLETED,
    )
    stopping.cancel()
    if acquiring.done() and not stop.is_set():
        return True
    acquiring.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await acquiring
    if not acquiring.cancelled() and acquiring.done():
        slots.release()  # it got the slot just as the run ended
    return False


async def _stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True


async def _until_done_or_stopped(tasks: list[asyncio.Task[None]], stop: asyncio.Event) -> None:
    """Waits for the tasks; on `stop`, cancels those still running (they are not counted)."""
    if not tasks:
        return
    stopper: asyncio.Task[Any] = asyncio.create_task(stop.wait())
    pending: set[asyncio.Task[Any]] = set(tasks)
    while pending and not stop.is_set():
        _, pending = await asyncio.wait(pending | {stopper}, return_when=asyncio.FIRST_COMPLETED)
        pending.discard(stopper)
    stopper.cancel()
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
