"""The container health check answers for a real service and fails for a silent port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import LocalStack
from tlssim.harness.localstack import free_ports


def _health(address: str, env: dict[str, str] | None = None, *options: str) -> int:
    done = subprocess.run(
        [sys.executable, "-m", "tlssim.health", *options, address],
        env=env,
        capture_output=True,
        timeout=30,
        check=False,
    )
    return done.returncode


@pytest.mark.integration
def test_health_of_a_running_service_and_of_a_silent_port(stack: LocalStack) -> None:
    assert _health(stack.env["TLSSIM_CA_ADDR"]) == 0
    assert _health("127.0.0.1:9") == 1


def test_a_service_failing_its_check_long_enough_is_killed_to_be_restarted(
    tmp_path: Path,
) -> None:
    """Docker restarts containers that exit, not unhealthy ones: with --restart-after the
    check itself ends the stopped (alive, not answering) service it checks, and only it."""
    api, metrics = free_ports(2)
    env = os.environ | {
        "TLSSIM_LISTEN": f"127.0.0.1:{api}",
        "TLSSIM_FAULTS_METRICS_ADDR": f"127.0.0.1:{metrics}",
        "TMPDIR": str(tmp_path),
    }
    service = subprocess.Popen(
        [sys.executable, "-m", "tlssim", "serve", "faults"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{api}/version"
    try:
        deadline = time.monotonic() + 30
        while _health(url, env) != 0:
            assert time.monotonic() < deadline and service.poll() is None
            time.sleep(0.2)
        service.send_signal(signal.SIGSTOP)
        # The first failure starts the count; the service lives on.
        assert _health(url, env, "--restart-after", "3600") == 1
        assert service.poll() is None
        # Failing for longer than allowed: the process listening there is killed.
        assert _health(url, env, "--restart-after", "0") == 1
        assert service.wait(timeout=10) == -signal.SIGKILL
    finally:
        if service.poll() is None:
            service.kill()
            service.wait()
