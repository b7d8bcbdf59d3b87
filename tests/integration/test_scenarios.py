"""The whole scenario catalogue against the local stack (every link through the faults proxy)."""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import LocalStack
from tests.scenario_runs import failures_after_a_second_run
from tlssim.scenarios import SCENARIOS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def test_every_scenario_passes(stack: LocalStack) -> None:
    done = stack.tlssim("scenarios", "run", "--all", "--json", timeout=500)
    assert done.stdout.startswith("["), done.stdout[-2000:] + done.stderr[-4000:]
    results = json.loads(done.stdout)
    assert [r["name"] for r in results] == [s.name for s in SCENARIOS]
    assert done.returncode in (0, 1), done.stderr  # 1: a scenario failed (run again below)
    failed = failures_after_a_second_run(stack.tlssim, results)
    assert not failed, json.dumps(failed, indent=2)


def test_scenarios_table_and_unknown_names(stack: LocalStack) -> None:
    done = stack.tlssim("scenarios", "run", "tls13-one-round-trip")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS  tls13-one-round-trip" in done.stdout
    unknown = stack.tlssim("scenarios", "run", "no-such-scenario")
    assert unknown.returncode == 2  # usage
    assert "unknown scenario" in unknown.stderr
