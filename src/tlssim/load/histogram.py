"""A log-bucketed latency histogram in the manner of HdrHistogram: bounded memory, bounded
relative error, mergeable.

Values are whole microseconds. Below 2**SUB_BITS every value has a bucket of its own; above,
each power of two is split into 2**SUB_BITS equal buckets, so a bucket is never wider than
1/2**SUB_BITS of its lower bound. A percentile is reported as the highest value its bucket
can hold (never below the true value, at most 1/128 above it with SUB_BITS = 7), capped by
the largest value recorded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

SUB_BITS = 7
SUB_COUNT = 1 << SUB_BITS
#: Larger values are counted as this (and the true maximum is still kept): one hour.
HIGHEST_US = 3_600_000_000


def bucket_index(value_us: int) -> int:
    if value_us < SUB_COUNT:
        return value_us
    shift = value_us.bit_length() - 1 - SUB_BITS
    return shift * SUB_COUNT + (value_us >> shift)


def bucket_bounds(index: int) -> tuple[int, int]:
    """The lowest and highest value that fall in bucket `index`."""
    shift = max(index >> SUB_BITS, 1) - 1
    low = (index - shift * SUB_COUNT) << shift
    return low, low + (1 << shift) - 1


BUCKETS = bucket_index(HIGHEST_US) + 1


@dataclass(kw_only=True, slots=True)
class Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * BUCKETS)
    count: int = 0
    total_us: int = 0
    min_us: int = 0
    max_us: int = 0

    def record_seconds(self, seconds: float) -> None:
        self.record_us(round(seconds * 1_000_000))

    def record_us(self, value_us: int) -> None:
        value_us = max(value_us, 0)
        self.counts[bucket_index(min(value_us, HIGHEST_US))] += 1
        self.min_us = value_us if self.count == 0 else min(self.min_us, value_us)
        self.max_us = max(self.max_us, value_us)
        self.count += 1
        self.total_us += value_us

    def merge(self, other: Histogram) -> None:
        """Adds `other`'s values to this histogram, as if they had been recorded here."""
        if other.count == 0:
            return
        for i, n in enumerate(other.counts):
            if n:
                self.counts[i] += n
        self.min_us = other.min_us if self.count == 0 else min(self.min_us, other.min_us)
        self.max_us = max(self.max_us, other.max_us)
        self.count += other.count
        self.total_us += other.total_us

    def percentile_us(self, percent: float) -> int:
        """The value at `percent` (0..100): the smallest v with at least that share <= v."""
        if self.count == 0:
            return 0
        if not 0 <= percent <= 100:
            raise ValueError(f"percentile {percent} is not within 0..100")
        rank = max(1, math.ceil(percent / 100 * self.count))
        seen = 0
        for i, n in enumerate(self.counts):
            seen += n
            if seen >= rank:
                return max(min(bucket_bounds(i)[1], self.max_us), self.min_us)
        return self.max_us

    def percentile_ms(self, percent: float) -> float:
        return self.percentile_us(percent) / 1000

    @property
    def mean_ms(self) -> float:
        return self.total_us / self.count / 1000 if self.count else 0.0
