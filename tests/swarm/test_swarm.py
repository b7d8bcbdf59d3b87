"""The lab on a single-node Docker Swarm (scripts/swarm.sh, deploy/swarm.yaml): handshakes
through 2 client replicas to 3 server replicas, every one of them serving (the reports name
them), scaling up and down with handshakes passing, a revocation timed across the replicas,
then the stack removed and the swarm left.

Needs a Docker engine that is not part of a swarm already; skips otherwise, unless
TLSSIM_REQUIRE_DOCKER=1. TLSSIM_COMPOSE_NO_BUILD=1 uses the image as it is.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SWARM = str(ROOT / "scripts" / "swarm.sh")
IMAGE = os.environ.get("TLSSIM_SWARM_IMAGE", "tlssim/tlssim:swarm-test")
ADMIN_TOKEN = "tlssim-swarm-test-admin"
CONSOLE = "http://127.0.0.1:8000"  # published in host mode on this node
ENV = {
    **os.environ,
    "TLSSIM_IMAGE": IMAGE,
    "TLSSIM_ADMIN_TOKEN": ADMIN_TOKEN,
    "TLSSIM_STACK": "tlssimtest",
    "TLSSIM_SERVER_REPLICAS": "3",
    "TLSSIM_CLIENT_REPLICAS": "2",
    "TLSSIM_OCSP_REPLICAS": "2",
    "TLSSIM_HEALTH_INTERVAL": "3s",
    "TLSSIM_SWARM_WAIT_S": "420",
}

pytestmark = pytest.mark.timeout(1500)


def _no_engine(reason: str) -> None:
    if os.environ.get("TLSSIM_REQUIRE_DOCKER") == "1":
        pytest.fail(f"TLSSIM_REQUIRE_DOCKER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def swarm(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SWARM, *args], env=ENV, capture_output=True, text=True, timeout=timeout, check=False
    )


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, (
        f"{done.args} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    )
    return done


def swarm_state() -> str:
    done = subprocess.run(
        ["docker", "info", "--format", "{{.Swarm.LocalNodeState}}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if done.returncode != 0:
        _no_engine("no Docker engine answers; start one with scripts/start-dockerd.sh")
    return done.stdout.strip()


@pytest.fixture(scope="module")
def deployed() -> Iterator[None]:
    if swarm_state() != "inactive":
        _no_engine("this Docker engine is in a swarm already; the test makes and leaves its own")
    if os.environ.get("TLSSIM_COMPOSE_NO_BUILD") != "1":
        built = subprocess.run(
            [str(ROOT / "scripts" / "build-image.sh")],
            env=ENV,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert built.returncode == 0, f"build-image.sh failed\n{built.stderr}"
    try:
        ok(swarm("up", timeout=900))
        yield
    finally:
        swarm("down", timeout=300)
    assert swarm_state() == "inactive", "the test left the swarm behind"


def load(count: int) -> dict[str, Any]:
    """`tlssim load` from inside the lab's network, through every client replica."""
    done = ok(swarm("tlssim", "load", "--count", str(count), "--concurrency", "4", "--json"))
    figures: dict[str, Any] = json.loads(done.stdout)
    assert figures["errors"] == [] and figures["succeeded"] == count, figures
    return figures


def console_client_replicas(within_s: float = 15.0) -> set[str]:
    """The client replicas named on the console's page, once both appear (or the deadline)."""
    deadline, seen = time.monotonic() + within_s, set()
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{CONSOLE}/api/state", timeout=5) as answer:
            rows = json.load(answer)["handshakes"]
        seen = {r["replicas"]["client"] for r in rows if r.get("replicas")} - {None}
        if len(seen) >= 2:
            break
        time.sleep(0.5)
    return seen


def test_every_replica_serves_and_scaling_keeps_handshakes_passing(deployed: None) -> None:
    # Without a toxic the faults relay passes each connection through whole, to the server
    # replicas in turn; each client replica keeps a few connections, so all of them serve.
    # Swarm names each task's host SERVICE.SLOT: the reports prove who served.
    piped = load(60)["replicas"]
    assert set(piped["client"]) == {"tlssimtest_client.1", "tlssimtest_client.2"}, piped
    assert set(piped["server"]) == {f"tlssimtest_server.{n}" for n in (1, 2, 3)}, piped
    # The console follows each client replica: both replicas' handshakes are on its page.
    assert console_client_replicas() == set(piped["client"])

    # A toxic on the link: the relay re-terminates every call, and its channel takes each
    # server replica in turn; the faults still apply with replicas behind the name.
    ok(swarm("tlssim", "faults", "add", "client_server", "latency", "latency=1"))
    try:
        figures = load(60)
    finally:
        ok(swarm("tlssim", "faults", "reset"))
    clients, servers = figures["replicas"]["client"], figures["replicas"]["server"]
    assert set(clients) == {"tlssimtest_client.1", "tlssimtest_client.2"}, clients
    assert set(servers) == {f"tlssimtest_server.{n}" for n in (1, 2, 3)}, servers
    assert sum(servers.values()) == sum(clients.values()) == 60

    ok(swarm("scale", "server", "4"))
    assert load(24)["succeeded"] == 24
    ok(swarm("scale", "server", "2"))
    after = load(24)["replicas"]["server"]
    assert len(after) <= 2, after  # the removed replicas serve no more

    status = ok(swarm("status")).stdout
    assert "tlssimtest_server" in status and "2/2" in status


def test_a_revocation_reaches_every_responder_and_server_replica(deployed: None) -> None:
    done = ok(swarm("tlssim", "propagation", "--yes", "--json", timeout=600))
    figures = json.loads(done.stdout)
    assert figures["complete"]
    assert figures["staple"]["observers"] >= 2  # every server replica, each its own staple
    assert figures["ocsp"]["observers"] == 2 * figures["staple"]["observers"]  # 2 responders
    assert figures["all"]["max_s"] < figures["bounds"]["staple_refresh_s"]
