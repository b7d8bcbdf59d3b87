"""Injected time: every component that reads the clock takes one of these."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class FixedClock:
    at: dt.datetime

    def now(self) -> dt.datetime:
        return self.at


@dataclass(frozen=True)
class SkewedClock:
    """Another clock shifted by a fixed amount (the client's --clock-skew)."""

    base: Clock
    skew: dt.timedelta

    def now(self) -> dt.datetime:
        return self.base.now() + self.skew


def monotonic_ms() -> float:
    return time.perf_counter() * 1000.0
