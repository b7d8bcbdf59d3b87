"""Runs scenarios against a running stack (local or compose): set up, handshake, judge, reset."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tlssim import rpcutil
from tlssim.endpoints import Endpoints
from tlssim.faults.rest_client import FaultsApi
from tlssim.rpc.v1 import client_pb2, client_pb2_grpc
from tlssim.scenarios.model import Expect, Scenario

# Longer than the client's own handshake deadline, so the client always answers first.
RPC_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ScenarioResult:
    name: str
    passed: bool
    expected: str
    actual: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "expected": self.expected,
            "actual": self.actual,
        }


def describe(report: dict[str, Any]) -> str:
    """The outcome of a handshake report, in the same words as Expect.describe()."""
    parts = ["success" if report["ok"] else "failure"]
    if alert := report.get("alert"):
        parts.append(f"alert {alert['description']} from {alert['sent_by']}")
    if report.get("error"):
        parts.append(f"error: {report['error']}")
    revocation = report.get("revocation") or {}
    if revocation.get("status") not in (None, "not_checked"):
        parts.append(f"revocation {revocation['status']} ({revocation.get('source') or '-'})")
    if report.get("warnings"):
        parts.append("with a warning")
    parts.extend(
        f"failed {c['name']}: {c.get('detail', '')}" for c in report["checks"] if not c["ok"]
    )
    timings = report.get("timings", {})
    parts.append(", ".join(f"{k}={v:.0f}" for k, v in timings.items() if k.endswith("_ms")))
    return ", ".join(p for p in parts if p)


def judge(expect: Expect, report: dict[str, Any]) -> bool:
    if report["ok"] != expect.ok:
        return False
    alert = report.get("alert")
    if expect.alert is not None and (alert is None or alert["description"] != expect.alert):
        return False
    if expect.sent_by is not None and (alert is None or alert["sent_by"] != expect.sent_by):
        return False
    if expect.error and (alert is not None or not report.get("error")):
        return False
    revocation = report.get("revocation") or {}
    if expect.revocation and revocation.get("status") != expect.revocation:
        return False
    if expect.revocation_source and revocation.get("source") != expect.revocation_source:
        return False
    if expect.warning and not report.get("warnings"):
        return False
    if expect.failed_check and not any(
        expect.failed_check in c.get("detail", "") for c in report["checks"] if not c["ok"]
    ):
        return False
    if expect.timing is not None:
        key, low, high = expect.timing
        value = report.get("timings", {}).get(key)
        if value is None or not low <= value < high:
            return False
    return True


async def run_scenarios(
    scenarios: Iterable[Scenario],
    endpoints: Endpoints,
    progress: Callable[[ScenarioResult], None] = lambda _: None,
) -> list[ScenarioResult]:
    api = FaultsApi(endpoints.faults_api)
    results = []
    async with rpcutil.open_channel(endpoints.client) as channel:
        client = client_pb2_grpc.TlsClientStub(channel)
        await api.acall("POST", "/reset")
        # Warm up every channel between the services, so no scenario pays for a connection.
        await _handshake(client, {"no_status_request": True})
        for scenario in scenarios:
            result = await _run_one(api, client, scenario)
            progress(result)
            results.append(result)
    return results


async def _run_one(api: FaultsApi, client: Any, scenario: Scenario) -> ScenarioResult:
    expected = scenario.expect.describe()
    try:
        for fault in scenario.faults:
            if fault.down:
                await api.acall("POST", f"/proxies/{fault.link}", {"enabled": False})
            else:
                await api.acall("POST", f"/proxies/{fault.link}/toxics", fault.toxic)
        if scenario.hold_s:
            await asyncio.sleep(scenario.hold_s)
        report = await _handshake(client, scenario.request)
    except Exception as exc:  # an infrastructure failure is a failed scenario, not a crash
        return ScenarioResult(scenario.name, False, expected, f"could not run: {exc}")
    finally:
        await api.acall("POST", "/reset")
    return ScenarioResult(scenario.name, judge(scenario.expect, report), expected, describe(report))


async def _handshake(client: Any, fields: dict[str, Any]) -> dict[str, Any]:
    request = client_pb2.HandshakeRequest(
        **({"server_name": "valid.tlssim.test", "revocation": "soft"} | fields)
    )
    result = await client.RunHandshake(
        request, timeout=RPC_TIMEOUT_S, metadata=rpcutil.trace_metadata()
    )
    report: dict[str, Any] = json.loads(result.report_json)
    return report
