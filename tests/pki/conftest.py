"""Shared fixtures: one authority per test module, in a temporary data directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pki.helpers import MovableClock
from tlssim.pki import Authority


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def authority(tmp_path: Path, clock: MovableClock) -> Iterator[Authority]:
    auth = Authority.open(tmp_path / "ca", clock, ocsp_url="http://127.0.0.1:8080")
    yield auth
    auth.close()
