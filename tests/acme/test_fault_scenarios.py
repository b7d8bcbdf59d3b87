"""The ACME fault scenarios (`tlssim scenarios run acme-...`) against `tlssim up`: each
passes with its fault, and each fails when the fault is not applied (the service's admin
control refused, so the faults stay off), so a scenario cannot pass by doing nothing."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import pytest

from tests.acme.conftest import AcmeStack, needs
from tlssim.faults.rest_client import FaultsApi
from tlssim.scenarios.acme import FAULTS, AcmeFault, run_fault
from tlssim.topology.endpoints import Endpoints

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

LAB = [f.name for f in FAULTS if f.client == "lab"]
REAL = [f.name for f in FAULTS if f.client != "lab"]


def run(acme: AcmeStack, *names: str, **env: str) -> list[dict[str, Any]]:
    done = acme.stack.tlssim(
        "scenarios", "run", *names, "--json", timeout=500, env=acme.stack.env | env
    )
    assert done.stdout.startswith("["), done.stdout[-2000:] + done.stderr[-3000:]
    results: list[dict[str, Any]] = json.loads(done.stdout)
    assert [r["name"] for r in results] == list(names)
    return results


def test_each_acme_fault_scenario_passes(acme_stack: AcmeStack) -> None:
    for client in ("certbot", "lego"):
        needs(client)
    results = run(acme_stack, *LAB, *REAL)
    failed = [r for r in results if not r["passed"]]
    assert not failed, json.dumps(failed, indent=2)
    by_name = {r["name"]: r["actual"] for r in results}
    # The measurements each scenario reports.
    assert "badNonce retries" in by_name["acme-bad-nonce"]
    assert (
        "authorization 3 s" in by_name["acme-retry-after"]
        or "challenge 3 s" in (by_name["acme-retry-after"])
    )
    assert "nothing listed" in by_name["acme-validation-fails"]
    assert "(connection)" in by_name["acme-validation-connection-reset"]


def test_the_service_is_left_as_it_was(acme_stack: AcmeStack) -> None:
    run(acme_stack, "acme-validation-fails")
    results = run(acme_stack, "acme-validation-link-slow")
    assert results[0]["passed"], results


def test_without_the_service_faults_the_scenarios_fail(acme_stack: AcmeStack) -> None:
    """A wrong admin token: the faults cannot be set and the scenario says so."""
    service_faults = [f.name for f in FAULTS if f.faults and f.client == "lab"]
    results = run(acme_stack, *service_faults, TLSSIM_ADMIN_TOKEN="not-the-token")
    for result in results:
        assert not result["passed"], result
        assert "admin" in result["actual"], result


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
def test_each_scenario_fails_without_its_fault(
    acme_stack: AcmeStack, fault: AcmeFault, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same order with nothing set on the service or the link: the expectation is not met."""
    if fault.client != "lab":
        needs(fault.client)
    for name in ("TLSSIM_ACME_ADDR", "TLSSIM_ACME_HTTP_PORT", "TLSSIM_ADMIN_TOKEN"):
        monkeypatch.setenv(name, acme_stack.stack.env[name])
    endpoints = Endpoints.from_env(acme_stack.stack.env)
    api = FaultsApi(endpoints.faults_api)
    no_fault = dataclasses.replace(fault, faults={}, toxic=None)
    passed, actual = asyncio.run(run_fault(no_fault, api, endpoints))
    assert not passed, actual
    assert "differs" in actual
