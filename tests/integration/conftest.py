"""Starts the real stack (`tlssim up`: ca, ocsp, server, client as separate processes)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

STARTUP_TIMEOUT_S = 90


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@dataclass(frozen=True)
class LocalStack:
    env: dict[str, str]
    data_dir: Path
    log: Path

    @property
    def server_tcp(self) -> tuple[str, int]:
        host, port = self.env["TLSSIM_SERVER_TCP_ADDR"].rsplit(":", 1)
        return host, int(port)

    def tlssim(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tlssim", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def logs(self) -> str:
        return self.log.read_text(errors="replace")


def stack_env(tmp: Path) -> dict[str, str]:
    ca, ocsp, http, server, tcp, client, faults = free_ports(7)
    env = dict(os.environ)
    env.update(
        TLSSIM_CA_ADDR=f"127.0.0.1:{ca}",
        TLSSIM_OCSP_ADDR=f"127.0.0.1:{ocsp}",
        TLSSIM_OCSP_URL=f"http://127.0.0.1:{http}",
        TLSSIM_SERVER_ADDR=f"127.0.0.1:{server}",
        TLSSIM_SERVER_TCP_ADDR=f"127.0.0.1:{tcp}",
        TLSSIM_CLIENT_ADDR=f"127.0.0.1:{client}",
        TLSSIM_FAULTS_API=f"127.0.0.1:{faults}",
        TLSSIM_DATA_DIR=str(tmp / "data"),
        TLSSIM_ADMIN_TOKEN="integration-test-token",
        # A short freshness bound keeps the partition scenario quick.
        TLSSIM_FEED_MAX_AGE_S="4",
    )
    return env


@contextlib.contextmanager
def running_stack(tmp: Path) -> Iterator[LocalStack]:
    """`tlssim up` in a subprocess, on free ports, stopped with Ctrl-C (SIGINT) afterwards."""
    env = stack_env(tmp)
    log = tmp / "up.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tlssim", "up"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    started = LocalStack(env, tmp / "data", log)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while "tlssim is up" not in started.logs():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("tlssim up did not come up:\n" + started.logs())
            time.sleep(0.2)
        yield started
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """One stack shared by the tests that leave it as they found it."""
    with running_stack(tmp_path_factory.mktemp("stack")) as started:
        yield started
