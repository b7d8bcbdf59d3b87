"""The compose stack as a fixture of this package (down before other packages, e.g. the Swarm
tests, need its ports): build the image, `up -d`, wait healthy, `down -v`.

Needs a Docker engine (scripts/start-dockerd.sh starts one here). Without one the tests
skip, unless TLSSIM_REQUIRE_DOCKER=1, where a missing engine is a failure.

Environment:
  TLSSIM_COMPOSE_NO_BUILD=1  use the existing image instead of running scripts/build-image.sh
  TLSSIM_COMPOSE_PROJECT     compose project name (default tlssim-compose-test)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
LONG_RUNNING = ("faults", "ca", "ocsp", "server", "client")
HEALTHY_WITHIN_S = 240.0
ADMIN_TOKEN = "tlssim-compose-test-admin"
# Published on 127.0.0.1 by compose.yaml (the default ports).
HOST_ENDPOINTS = {
    "TLSSIM_CA_ADDR": "127.0.0.1:50051",
    "TLSSIM_OCSP_ADDR": "127.0.0.1:50052",
    "TLSSIM_OCSP_URL": "http://127.0.0.1:8080",
    "TLSSIM_SERVER_ADDR": "127.0.0.1:50053",
    "TLSSIM_SERVER_TCP_ADDR": "127.0.0.1:8443",
    "TLSSIM_CLIENT_ADDR": "127.0.0.1:50054",
    "TLSSIM_FAULTS_API": "127.0.0.1:8474",
}


def _no_engine(reason: str) -> None:
    if os.environ.get("TLSSIM_REQUIRE_DOCKER") == "1":
        pytest.fail(f"TLSSIM_REQUIRE_DOCKER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def _compose_command() -> list[str]:
    """`docker-compose` (1.29, Debian) or the `docker compose` v2 plugin, whichever exists."""
    if exe := shutil.which("docker-compose"):
        return [exe]
    if shutil.which("docker"):
        probe = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, text=True, check=False
        )
        if probe.returncode == 0:
            return ["docker", "compose"]
    _no_engine("neither docker-compose nor `docker compose` is installed")
    raise AssertionError("unreachable")


def tlssim_command() -> list[str]:
    """The host's `tlssim`: the one installed next to this Python, else on PATH."""
    beside = Path(sys.executable).with_name("tlssim")
    if beside.exists():
        return [str(beside)]
    if exe := shutil.which("tlssim"):
        return [exe]
    return [sys.executable, "-m", "tlssim"]


@dataclass
class Stack:
    """A running compose project and the ways to reach it."""

    compose: list[str]
    project: str
    env: dict[str, str]
    docker: Any  # docker.DockerClient

    def run(
        self, *args: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        cmd = [*self.compose, "-f", str(ROOT / "compose.yaml"), "-p", self.project, *args]
        done = subprocess.run(
            cmd, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd)} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
            )
        return done

    def container(self, service: str) -> Any:
        found = self.docker.containers.list(
            all=True,
            filters={
                "label": [
                    f"com.docker.compose.project={self.project}",
                    f"com.docker.compose.service={service}",
                ]
            },
        )
        if not found:
            raise AssertionError(f"no container for service {service}")
        return found[0]

    def health(self, service: str) -> str:
        c = self.container(service)
        c.reload()
        state = c.attrs["State"]
        return str(state.get("Health", {}).get("Status") or state["Status"])

    def wait_healthy(self, services: Sequence[str], within: float = HEALTHY_WITHIN_S) -> None:
        deadline = time.monotonic() + within
        status: dict[str, str] = {}
        while time.monotonic() < deadline:
            status = {s: self.health(s) for s in services}
            if all(v == "healthy" for v in status.values()):
                return
            if any(v in ("exited", "dead") for v in status.values()):
                break
            time.sleep(1)
        logs = self.run("logs", "--no-color", "--tail", "40", check=False).stdout
        raise AssertionError(f"services not healthy: {status}\n--- logs ---\n{logs}")

    def host_tlssim(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run the host's `tlssim` against the published ports."""
        env = {**self.env, **HOST_ENDPOINTS}
        return subprocess.run(
            [*tlssim_command(), *args], env=env, capture_output=True, text=True, timeout=timeout
        )

    def exec_tlssim(
        self, service: str, *args: str, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run `tlssim` inside a service's container (`compose exec -T`)."""
        return self.run("exec", "-T", service, "tlssim", *args, check=False, timeout=timeout)


@pytest.fixture(scope="package")
def stack() -> Iterator[Stack]:
    try:
        import docker
    except ImportError:
        _no_engine("the docker Python package is not installed")
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as exc:
        _no_engine(
            f"no Docker engine answers ({exc.__class__.__name__}); "
            "start one with scripts/start-dockerd.sh"
        )
    compose = _compose_command()
    env = {
        **os.environ,
        "TLSSIM_ADMIN_TOKEN": ADMIN_TOKEN,
        "TLSSIM_HEALTH_INTERVAL": "2s",
        # `tlssim faults container ...` finds its containers by this compose project.
        "COMPOSE_PROJECT_NAME": os.environ.get("TLSSIM_COMPOSE_PROJECT", "tlssim-compose-test"),
    }
    project = os.environ.get("TLSSIM_COMPOSE_PROJECT", "tlssim-compose-test")
    s = Stack(compose=compose, project=project, env=env, docker=client)

    if os.environ.get("TLSSIM_COMPOSE_NO_BUILD") != "1":
        built = subprocess.run(
            [str(ROOT / "scripts" / "build-image.sh")],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if built.returncode != 0:
            pytest.fail(f"scripts/build-image.sh failed\n{built.stdout}\n{built.stderr}")

    # Leftovers from an interrupted run would hold the ports and the ca volume.
    s.run("down", "-v", "--remove-orphans", check=False)
    try:
        s.run("up", "-d", "--no-build")
        s.wait_healthy(LONG_RUNNING)
        yield s
    finally:
        s.run("down", "-v", "--remove-orphans", "-t", "5", check=False)
        client.close()
