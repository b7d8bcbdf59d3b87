"""The container health check answers for a real service and fails for a silent port."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.integration.conftest import LocalStack


def _health(address: str) -> int:
    done = subprocess.run(
        [sys.executable, "-m", "tlssim.health", address],
        capture_output=True,
        timeout=30,
        check=False,
    )
    return done.returncode


@pytest.mark.integration
def test_health_of_a_running_service_and_of_a_silent_port(stack: LocalStack) -> None:
    assert _health(stack.env["TLSSIM_CA_ADDR"]) == 0
    assert _health("127.0.0.1:9") == 1
