"""Runs scenarios against a running stack (local or compose): set up, handshake, judge, reset."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from tlssim import rpcutil
from tlssim.faults.rest_client import FaultsApi
from tlssim.report.model import Report
from tlssim.report.revocation import RevocationStatus
from tlssim.rpc.v1 import client_pb2, client_pb2_grpc
from tlssim.scenarios import acme, pqcost, replay, restart
from tlssim.scenarios.model import Expect, Scenario
from tlssim.topology.endpoints import Endpoints

# Longer than the client's own handshake deadline, so the client always answers first.
RPC_TIMEOUT_S = 30.0
# A timing scenario passes when the added time is within this many round trips of the
# expectation: with a 100 ms latency, one round trip is anything from 60 to 140 ms added.
ROUND_TRIP_TOLERANCE = 0.4
# Handshakes on each side of a timing comparison; the fastest of each is compared. A busy
# machine only ever adds time (a health check's burst, a collection): one sample of the
# baseline 50 ms late made TLS 1.2's two round trips look like 1.5.
TIMING_SAMPLES = 3


@dataclass(frozen=True)
class ScenarioResult:
    name: str
    passed: bool
    expected: str
    actual: str
    measured: bool = False  # the actual outcome is a measurement, shown even on a pass
    #: More to say in JSON: with a peer, the peer, its version and what it said.
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "expected": self.expected,
            "actual": self.actual,
            **self.details,
        }


def describe(report: Report) -> str:
    """The outcome of a handshake report, in the same words as Expect.describe()."""
    parts = ["success" if report.ok else "failure"]
    if alert := report.alert:
        parts.append(f"alert {alert.description} from {alert.sent_by}")
    if report.error:
        parts.append(f"error: {report.error}")
    revocation = report.revocation
    if revocation.status is not RevocationStatus.NOT_CHECKED:
        parts.append(f"revocation {revocation.status} ({revocation.source or '-'})")
    if report.warnings:
        parts.append("with a warning")
    parts.extend(f"failed {c.name}: {c.detail}" for c in report.checks if not c.ok)
    parts.append(", ".join(f"{k}={v:.0f}" for k, v in report.timings.items()))
    return ", ".join(p for p in parts if p)


def added_round_trips(key: str, rtt_ms: float, report: Report, baseline: Report) -> float:
    """How many injected latencies the faults added to a timing, against the baseline."""
    added = (report.timings.get(key) or 0.0) - (baseline.timings.get(key) or 0.0)
    return float(added / rtt_ms)


def judge(expect: Expect, report: Report, round_trips: float | None = None) -> bool:
    if report.ok != expect.ok:
        return False
    alert = report.alert
    if expect.alert is not None and (alert is None or alert.description != expect.alert):
        return False
    if expect.sent_by is not None and (alert is None or alert.sent_by != expect.sent_by):
        return False
    if expect.error and (alert is not None or not report.error):
        return False
    revocation = report.revocation
    if expect.revocation and revocation.status != expect.revocation:
        return False
    if expect.revocation_source and revocation.source != expect.revocation_source:
        return False
    if expect.warning and not report.warnings:
        return False
    if expect.failed_check and not any(
        expect.failed_check in c.detail for c in report.checks if not c.ok
    ):
        return False
    if expect.round_trips is None:
        return True
    expected_trips = expect.round_trips[1]
    return round_trips is not None and abs(round_trips - expected_trips) <= ROUND_TRIP_TOLERANCE


async def run_scenarios(
    scenarios: Iterable[Scenario],
    endpoints: Endpoints,
    progress: Callable[[ScenarioResult], None] = lambda _: None,
    feed_max_age_s: float = 10.0,
) -> list[ScenarioResult]:
    """Runs each scenario against the stack; `feed_max_age_s` is the responder's feed bound."""
    api = FaultsApi(endpoints.faults_api)
    results = []
    async with rpcutil.open_channel(endpoints.client) as channel:
        client = client_pb2_grpc.TlsClientStub(channel)
        await api.acall("POST", "/reset")
        # Warm up every channel between the services, so no scenario pays for a connection.
        await _handshake(client, {"no_status_request": True})
        for scenario in scenarios:
            if scenario.procedure:
                result = await _run_procedure(api, client, scenario, endpoints)
            else:
                result = await _run_one(api, client, scenario, feed_max_age_s)
            progress(result)
            results.append(result)
    return results


async def _run_one(
    api: FaultsApi, client: Any, scenario: Scenario, feed_max_age_s: float
) -> ScenarioResult:
    expected = scenario.expect.describe()
    timed = scenario.expect.round_trips
    samples = TIMING_SAMPLES if timed else 1
    round_trips = None
    try:
        baseline = None
        if timed:
            baseline = _fastest(await _handshakes(client, scenario.request, samples), timed[0])
        for fault in scenario.faults:
            if fault.down:
                await api.acall("POST", f"/proxies/{fault.link}", {"enabled": False})
            else:
                await api.acall("POST", f"/proxies/{fault.link}/toxics", fault.toxic)
        hold_s = scenario.hold_s + (feed_max_age_s if scenario.hold_past_feed_bound else 0)
        if hold_s:
            await asyncio.sleep(hold_s)
        reports = await _handshakes(client, scenario.request, samples)
        report = reports[0]
        if baseline is not None and timed:
            report = _fastest(reports, timed[0])
            round_trips = added_round_trips(timed[0], scenario.rtt_ms, report, baseline)
    except Exception as exc:  # an infrastructure failure is a failed scenario, not a crash
        return ScenarioResult(scenario.name, False, expected, f"could not run: {exc}")
    finally:
        await api.acall("POST", "/reset")
    actual = describe(report)
    if round_trips is not None:
        shown = round(round_trips, 2) + 0.0  # never "-0.00"
        actual += f", {shown:.2f} injected round trips longer than without the faults"
        actual += f" (fastest of {samples} handshakes each)"
    outcome = replace(scenario.expect, round_trips=None)
    differing = [describe(r) for r in reports if r is not report and not judge(outcome, r)]
    if differing:  # the other samples must end the same way as the one timed
        actual += "; but also: " + "; ".join(differing)
    passed = judge(scenario.expect, report, round_trips) and not differing
    return ScenarioResult(scenario.name, passed, expected, actual)


async def _run_procedure(
    api: FaultsApi, client: Any, scenario: Scenario, endpoints: Endpoints
) -> ScenarioResult:
    procedure = PROCEDURES[scenario.procedure]
    expected = scenario.expect.describe()
    try:
        passed, actual = await procedure(
            api, endpoints, lambda fields: _handshake(client, scenario.request | fields)
        )
    except Exception as exc:  # an infrastructure failure is a failed scenario, not a crash
        return ScenarioResult(scenario.name, False, expected, f"could not run: {exc}")
    finally:
        await api.acall("POST", "/reset")
    return ScenarioResult(scenario.name, passed, expected, actual, scenario.measures)


PROCEDURES = {
    "ca_down_while_server_starts": restart.ca_down_while_server_starts,
    "pq_cost_on_a_slow_link": pqcost.compare_on_a_slow_link,
    "replayed_0rtt": replay.replayed_0rtt,
    "acme_validation_link_slow": acme.validation_link_slow,
    "acme_validation_link_down": acme.validation_link_down,
    **acme.PROCEDURES,
}


async def _handshakes(client: Any, fields: dict[str, Any], count: int) -> list[Report]:
    return [await _handshake(client, fields) for _ in range(count)]


def _fastest(reports: list[Report], key: str) -> Report:
    return min(reports, key=lambda r: r.timings.get(key) or 0.0)


async def _handshake(client: Any, fields: dict[str, Any]) -> Report:
    request = client_pb2.HandshakeRequest(
        **({"server_name": "valid.tlssim.test", "revocation": "soft"} | fields)
    )
    result = await client.RunHandshake(request, timeout=RPC_TIMEOUT_S)
    return Report.from_json(result.report_json)
