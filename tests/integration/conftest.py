"""Starts the real stack (`tlssim up`: faults, ca, ocsp, server, client as separate processes)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tlssim.harness.localstack import LocalStack
from tlssim.harness.localstack import running_stack as _running_stack

__all__ = ["LocalStack", "running_stack"]

TEST_SETTINGS = {
    "TLSSIM_ADMIN_TOKEN": "integration-test-token",
    # A short freshness bound keeps the partition scenario quick.
    "TLSSIM_FEED_MAX_AGE_S": "4",
}


@contextlib.contextmanager
def running_stack(tmp: Path, **settings: str) -> Iterator[LocalStack]:
    """A stack of the test's own (``settings`` added to the test settings), failing the test
    (not erroring) when it cannot start."""
    try:
        with _running_stack(tmp, **(TEST_SETTINGS | settings)) as started:
            yield started
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def bundle(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared stack's trust anchors (`tlssim ca bundle`) as a PEM file."""
    done = stack.tlssim("ca", "bundle")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("-----BEGIN CERTIFICATE-----"), done.stdout
    path = tmp_path_factory.mktemp("bundle") / "bundle.pem"
    path.write_text(done.stdout)
    return path


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """One stack shared by the tests that leave it as they found it."""
    with running_stack(tmp_path_factory.mktemp("stack")) as started:
        yield started
