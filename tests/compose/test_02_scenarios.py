"""The scenario catalogue and container faults against the compose stack, from the host."""

from __future__ import annotations

import json

import pytest

from tests.scenario_runs import failures_after_a_second_run
from tlssim.harness.localstack import handshake_report
from tlssim.scenarios import SCENARIOS

from .conftest import Stack

pytestmark = [pytest.mark.compose, pytest.mark.timeout(900)]


def test_every_scenario_passes_under_compose(stack: Stack) -> None:
    done = stack.host_tlssim("scenarios", "run", "--all", "--json", timeout=800)
    results = json.loads(done.stdout)
    assert [r["name"] for r in results] == [s.name for s in SCENARIOS]
    failed = failures_after_a_second_run(stack.host_tlssim, results)
    assert not failed, json.dumps(failed, indent=2)


def test_pausing_the_responder_container(stack: Stack) -> None:
    live = ("handshake", "--json", "--no-staple", "--revocation", "hard")
    paused = stack.host_tlssim("faults", "container", "pause", "ocsp")
    assert paused.returncode == 0, paused.stderr
    try:
        report = handshake_report(stack.host_tlssim(*live))
        assert report.ok is False
        assert report.alert is not None
        assert report.alert.description == "certificate_unknown"
    finally:
        unpaused = stack.host_tlssim("faults", "container", "unpause", "ocsp")
        assert unpaused.returncode == 0, unpaused.stderr
    assert handshake_report(stack.host_tlssim(*live)).ok is True


def test_disconnecting_the_server_from_the_network(stack: Stack) -> None:
    done = stack.host_tlssim("faults", "container", "disconnect", "server")
    assert done.returncode == 0, done.stderr
    try:
        report = handshake_report(stack.host_tlssim("handshake", "--json"))
        assert report.ok is False and report.error, report
    finally:
        back = stack.host_tlssim("faults", "container", "connect", "server")
        assert back.returncode == 0, back.stderr
    stack.wait_healthy(("server",))
    assert handshake_report(stack.host_tlssim("handshake", "--json")).ok is True
