"""deploy/swarm.yaml is compose.yaml for Swarm: generated from it (scripts/swarm_stack.py),
so the two cannot drift, and shaped the way Swarm on this kind of machine needs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SECRET_ENV = {"TLSSIM_ADMIN_TOKEN"}  # moved into swarm secrets


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / name).read_text())
    return document


def test_the_stack_file_is_what_the_generator_makes_of_compose_yaml() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "swarm_stack.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_services_commands_and_environment_agree_with_compose() -> None:
    compose, swarm = load("compose.yaml")["services"], load("deploy/swarm.yaml")["services"]
    assert set(swarm) == set(compose) - {"demo"}
    for name, service in swarm.items():
        original = compose[name]
        assert service["image"] == original["image"]
        # The same command, perhaps behind the shell that reads the secrets first.
        command = service["command"]
        assert command[-len(original["command"]) :] == original["command"]
        for key, value in original["environment"].items():
            if key in SECRET_ENV:
                assert key not in service["environment"]
            elif key != "TLSSIM_ENROLLMENT_TOKEN_FILE":
                assert service["environment"][key] == value, (name, key)
        assert service["healthcheck"]["test"] == original["healthcheck"]["test"]


def test_the_stack_is_shaped_for_swarm_without_ipvs() -> None:
    swarm = load("deploy/swarm.yaml")
    assert str(swarm["version"]).startswith("3.")
    for name, service in swarm["services"].items():
        assert service["deploy"]["endpoint_mode"] == "dnsrr", name
        assert "mem_limit" not in service and "depends_on" not in service
        assert service["deploy"]["resources"]["limits"]["memory"]
        for port in service.get("ports", []):
            assert port["mode"] == "host", name
        assert not any(":/etc/tlssim/enrollment" in v for v in service.get("volumes", []))
    replicated = {
        n for n, s in swarm["services"].items() if "REPLICAS" in str(s["deploy"]["replicas"])
    }
    assert replicated == {"ocsp", "server", "client"}
    assert all("ports" not in swarm["services"][n] for n in replicated)
    assert swarm["services"]["ca"]["deploy"]["replicas"] == 1
    assert all(s.get("external") for s in swarm["secrets"].values())


def test_swarm_sh_without_a_swarm_says_how_to_get_one() -> None:
    if shutil.which("docker") is None:
        pytest.skip("needs the docker command")
    state = subprocess.run(
        ["docker", "info", "--format", "{{.Swarm.LocalNodeState}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if state.returncode != 0 or state.stdout.strip() != "inactive":
        pytest.skip("needs a Docker engine outside any swarm")
    for args in (["status"], ["scale", "server", "2"], ["tlssim", "handshake"]):
        done = subprocess.run(
            [str(ROOT / "scripts" / "swarm.sh"), *args], capture_output=True, text=True
        )
        assert done.returncode == 1, done
        assert "no swarm here: start one with" in done.stderr and "up" in done.stderr, done
