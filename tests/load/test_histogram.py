"""The load histogram against exact percentiles of known data."""

from __future__ import annotations

import math
import random

import pytest

from tlssim.load.histogram import (
    BUCKETS,
    HIGHEST_US,
    SUB_COUNT,
    Histogram,
    bucket_bounds,
    bucket_index,
)

PERCENTS = (0, 1, 50, 90, 99, 99.9, 100)


def exact(values: list[int], percent: float) -> int:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(percent / 100 * len(ordered))) - 1]


def filled(values: list[int]) -> Histogram:
    h = Histogram()
    for v in values:
        h.record_us(v)
    return h


def test_buckets_tile_the_range_without_gaps_or_overlaps() -> None:
    previous_high = -1
    for i in range(BUCKETS):
        low, high = bucket_bounds(i)
        assert low == previous_high + 1
        assert bucket_index(low) == i and bucket_index(high) == i
        assert high - low + 1 <= max(1, low / SUB_COUNT)  # the relative error bound
        previous_high = high
    assert previous_high >= HIGHEST_US
    assert BUCKETS < 4000  # bounded memory


def test_small_values_are_exact() -> None:
    values = list(range(SUB_COUNT)) * 3
    h = filled(values)
    for p in PERCENTS:
        assert h.percentile_us(p) == exact(values, p)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_percentiles_are_within_the_relative_error_of_the_exact_ones(seed: int) -> None:
    rng = random.Random(seed)
    # Log-normal latencies around 5 ms with a long tail, in microseconds.
    values = [int(rng.lognormvariate(math.log(5000), 1.0)) for _ in range(20_000)]
    h = filled(values)
    for p in PERCENTS:
        want = exact(values, p)
        got = h.percentile_us(p)
        assert want <= got <= want * (1 + 1 / SUB_COUNT), (p, want, got)
    assert h.count == len(values)
    assert h.min_us == min(values) and h.max_us == max(values)
    assert h.mean_ms == pytest.approx(sum(values) / len(values) / 1000)


def test_a_known_distribution_gives_its_percentiles() -> None:
    h = filled(list(range(1, 10_001)))  # 1 us .. 10 ms, uniform
    assert h.percentile_us(50) == pytest.approx(5000, rel=1 / SUB_COUNT)
    assert h.percentile_us(99) == pytest.approx(9900, rel=1 / SUB_COUNT)
    assert h.percentile_us(100) == 10_000


def test_merging_equals_recording_everything_in_one() -> None:
    rng = random.Random(7)
    a = [rng.randrange(1, 2_000_000) for _ in range(3000)]
    b = [rng.randrange(1, 50_000) for _ in range(5000)]
    merged = filled(a)
    merged.merge(filled(b))
    together = filled(a + b)
    assert merged.counts == together.counts
    assert (merged.count, merged.min_us, merged.max_us, merged.total_us) == (
        together.count,
        together.min_us,
        together.max_us,
        together.total_us,
    )
    empty = Histogram()
    empty.merge(filled(b))
    assert empty.min_us == min(b)


def test_values_beyond_the_highest_still_count_and_keep_the_true_maximum() -> None:
    h = filled([10, HIGHEST_US * 5])
    assert h.count == 2
    assert h.max_us == HIGHEST_US * 5
    assert h.percentile_us(50) == 10


def test_empty_and_bad_percentiles() -> None:
    assert Histogram().percentile_us(99) == 0
    with pytest.raises(ValueError, match=r"within 0\.\.100"):
        filled([1]).percentile_us(101)
