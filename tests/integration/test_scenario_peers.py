"""Scenarios with another stack's client (`tlssim scenarios run NAME --peer PEER`) against
the real stack: the peer goes through the faults the scenario sets up, and what it makes
of them is the outcome expected for that peer (scenarios/peers.py, EXPECTED)."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import LocalStack
from tlssim.interop.peers import CLIENT_PEERS, Target, by_name, can_move_clock, installed
from tlssim.scenarios import peers as scenario_peers

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

#: CI installs every peer (and faketime): there a missing one fails instead of skipping.
REQUIRE_PEERS = os.environ.get("TLSSIM_REQUIRE_PEERS") == "1"
SCENARIOS = ("responder-down-must-staple", "stale-staple", "tamper-server-hello")
#: Every peer but Java (a JVM is slow to start): each runs every scenario it takes.
PEERS = tuple(p.name for p in CLIENT_PEERS if p.name != "java")


def _runnable(scenario: str, peer: str) -> bool:
    (found,) = by_name([peer])
    if not installed(found):
        return False
    return scenario != "stale-staple" or can_move_clock(found)


CASES = [
    (scenario, peer)
    for scenario in SCENARIOS
    for peer in PEERS
    if peer in scenario_peers.EXPECTED[scenario]
]


def _run(stack: LocalStack, scenario: str, peer: str) -> dict[str, Any]:
    done = stack.tlssim("scenarios", "run", scenario, "--peer", peer, "--json", timeout=120)
    assert done.stdout.startswith("["), done.stdout + done.stderr
    (result,) = json.loads(done.stdout)
    assert done.returncode == (0 if result["passed"] else 1), done.stderr
    return dict(result)


@pytest.mark.parametrize(("scenario", "peer"), CASES)
def test_a_peer_meets_the_outcome_expected_of_it(
    stack: LocalStack, scenario: str, peer: str
) -> None:
    if not _runnable(scenario, peer):
        if REQUIRE_PEERS:
            pytest.fail(f"{peer} cannot run {scenario} here")
        pytest.skip(f"{peer} cannot run {scenario} here (scripts/bootstrap.sh installs it)")
    result = _run(stack, scenario, peer)
    if not result["passed"]:  # once more on its own: a loaded machine can time a peer out
        result = _run(stack, scenario, peer)
    assert result["passed"], json.dumps(result, indent=2)
    expect = scenario_peers.EXPECTED[scenario][peer]
    assert result["peer"] == peer and result["peer_version"], result
    assert result["connected"] is expect.connects
    assert expect.says.lower() in f"{result['said']} {result['status']}".lower()
    if not expect.connects:
        assert result["noticed"] is True


def test_the_fault_is_what_the_peer_refuses(stack: LocalStack, bundle: Path) -> None:
    """Without the scenario's fault, the same peer through the same proxy connects."""
    (gnutls,) = by_name(["gnutls"])
    if not installed(gnutls):
        pytest.skip("gnutls-cli is not installed")
    proxies = _faults(stack, "GET", "/proxies")
    address = proxies[scenario_peers.PEER_LINK]["listen"]
    outcome = gnutls.run(Target(address, "valid.tlssim.test", bundle, "1.3"))
    assert outcome.connected, outcome
    tampered = _run(stack, "tamper-server-hello", "gnutls")
    assert tampered["connected"] is False and "Decryption has failed" in tampered["said"]


def test_which_scenarios_take_a_peer_and_refusals(stack: LocalStack) -> None:
    listed = stack.tlssim("scenarios", "list", env=stack.env | {"COLUMNS": "400"})
    assert listed.returncode == 0, listed.stderr
    marked = {
        line.split()[0] for line in listed.stdout.splitlines() if line.rstrip().endswith("[--peer]")
    }
    assert marked == set(scenario_peers.EXPECTED)
    assert "--peer" in stack.tlssim("scenarios", "run", "--help").stdout

    cannot = stack.tlssim("scenarios", "run", "client-server-link-down", "--peer", "gnutls")
    assert cannot.returncode == 2
    (line,) = cannot.stderr.strip().splitlines()
    assert "runs with our client only" in line and "tamper-server-hello" in line

    unknown = stack.tlssim("scenarios", "run", "tamper-server-hello", "--peer", "schannel")
    assert unknown.returncode == 2
    (line,) = unknown.stderr.strip().splitlines()
    here = [p.name for p in CLIENT_PEERS if _runnable("tamper-server-hello", p.name)]
    assert "unknown peer 'schannel'" in line and line.endswith(", ".join(here))


def _faults(stack: LocalStack, method: str, path: str) -> Any:
    request = urllib.request.Request(
        f"http://{stack.env['TLSSIM_FAULTS_API']}{path}", method=method
    )
    with urllib.request.urlopen(request, timeout=5) as reply:
        return json.loads(reply.read())
