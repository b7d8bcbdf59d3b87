"""A quick slice of every fuzz target (`python -m tests.fuzz` runs the long campaign)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from tests.fuzz.targets import TARGETS, Target

#: Examples per target in the normal suite: a few seconds for all of them together.
QUICK = 150


@pytest.mark.parametrize("target", list(TARGETS.values()), ids=list(TARGETS))
def test_fuzz_target_quick_slice(target: Target) -> None:
    @settings(
        max_examples=QUICK,
        database=None,
        deadline=None,
        derandomize=True,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(target.strategy)
    def run(case: object) -> None:
        target.check(case)

    run()
