"""The console's sources, each followed until the console stops and picked up again after
a failure: the server's connections, the client's reports, the ca's status feed, the ocsp
responder's answers (its trace events), and the faults API (polled: it has no feed)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from tlssim import rpcutil
from tlssim.console.state import LabState
from tlssim.faults.rest_client import FaultsApi, FaultsApiError
from tlssim.report import Report
from tlssim.rpc.v1 import (
    ca_pb2,
    ca_pb2_grpc,
    client_pb2,
    client_pb2_grpc,
    server_pb2,
    server_pb2_grpc,
    trace_pb2,
    trace_pb2_grpc,
)
from tlssim.traces import TraceEvent

log = logging.getLogger("tlssim.console")

RETRY_S = 1.0
FAULTS_POLL_S = 1.0


async def _forever(name: str, follow: Callable[[], Awaitable[None]]) -> None:
    """Runs `follow` again whenever it ends or fails (the service restarted, say)."""
    while True:
        try:
            await follow()
        except (grpc.aio.AioRpcError, FaultsApiError) as exc:
            log.debug("%s: %s; again in %.0f s", name, exc, RETRY_S)
        await asyncio.sleep(RETRY_S)


def follow_all(
    state: LabState, server: str, client: str, ca: str, faults_api: str, ocsp: str = ""
) -> list[Any]:
    """The tasks that feed `state`; cancel them to stop."""
    seen: dict[str, list[int]] = {"server": [0], "client": [0], "ca": [0], "ocsp": [0]}
    answers = OcspAnswers()
    return [
        asyncio.create_task(
            _forever("server", lambda: _connections(state, server, seen["server"]))
        ),
        asyncio.create_task(_forever("client", lambda: _reports(state, client, seen["client"]))),
        asyncio.create_task(_forever("ca", lambda: _status(state, ca, seen["ca"]))),
        asyncio.create_task(_forever("faults", lambda: _faults(state, faults_api))),
        *(
            [
                asyncio.create_task(
                    _forever("ocsp", lambda: _ocsp(answers, state, ocsp, seen["ocsp"]))
                )
            ]
            if ocsp
            else []
        ),
    ]


async def _connections(state: LabState, address: str, after: list[int]) -> None:
    """`after` holds the last sequence seen, so a new subscription resumes there."""
    async with rpcutil.open_channel(address) as channel:
        stub = server_pb2_grpc.ServerWatchStub(channel)
        request = server_pb2.WatchConnectionsRequest(after_sequence=after[0])
        async for item in stub.WatchConnections(request):
            after[0] = item.sequence
            state.server_view(json.loads(item.summary_json))


async def _reports(state: LabState, address: str, after: list[int]) -> None:
    """`after` holds the last sequence seen, so a new subscription resumes there."""
    async with rpcutil.open_channel(address) as channel:
        stub = client_pb2_grpc.TlsClientStub(channel)
        request = client_pb2.WatchReportsRequest(after_sequence=after[0])
        async for item in stub.WatchReports(request):
            after[0] = item.sequence
            state.client_report(Report.from_json(item.report_json))


async def _status(state: LabState, address: str, after: list[int]) -> None:
    """`after` holds the last sequence seen, so a new subscription resumes there."""
    async with rpcutil.open_channel(address) as channel:
        stub = ca_pb2_grpc.CertificateAuthorityStub(channel)
        async for event in stub.WatchStatus(ca_pb2.WatchStatusRequest(after_sequence=after[0])):
            if event.heartbeat:
                continue
            after[0] = event.sequence
            if event.kind == ca_pb2.StatusEvent.REVOKED:
                when = dt.datetime.fromtimestamp(event.revocation_time, dt.UTC)
                reason = event.reason or "unspecified"
                text = f"revoked serial {event.serial_hex} ({reason}) at {when:%H:%M:%S} UTC"
                state.lab_event("revoked", text)
            elif event.kind == ca_pb2.StatusEvent.ISSUED:
                state.lab_event("issued", f"issued serial {event.serial_hex}")


class OcspAnswers:
    """Which OCSP answers become console events: every live check and CRL, but a staple
    refresh only when it says something new for its certificate (the server refreshes
    each staple every few seconds)."""

    def __init__(self) -> None:
        self._staples: dict[str, str] = {}

    def describe(self, event: TraceEvent) -> str | None:
        d = event.details
        if event.name == "CRL served":
            return f"CRL of {d.get('issuer', '?')} served over HTTP (status {d.get('status')})"
        if event.name != "OCSP answer":
            return None
        status, source = str(d.get("status", "?")), str(d.get("source", "live"))
        serial = str(d.get("serial", "?"))
        if source == "staple":
            if self._staples.get(serial) == status:
                return None
            self._staples[serial] = status
        by = f", responder {d['responder']}" if d.get("responder") else ""
        return f"OCSP {status} for serial {serial} ({source}, {d.get('front', '?')}{by})"


async def _ocsp(answers: OcspAnswers, state: LabState, address: str, after: list[int]) -> None:
    """`after` holds the last sequence seen, so a new subscription resumes there."""
    async with rpcutil.open_channel(address) as channel:
        stub = trace_pb2_grpc.TraceEventsStub(channel)
        request = trace_pb2.WatchEventsRequest(after_sequence=after[0])
        async for item in stub.WatchEvents(request):
            after[0] = item.sequence
            if (text := answers.describe(TraceEvent.from_json(item.event_json))) is not None:
                state.lab_event("ocsp", text)


async def _faults(state: LabState, address: str) -> None:
    api = FaultsApi(address, timeout=2.0)
    before: dict[str, dict[str, Any]] | None = None
    while True:
        proxies = await api.acall("GET", "/proxies")
        now = {name: _link_state(p) for name, p in proxies.items()}
        if before is not None:
            for text in _fault_changes(before, now):
                state.lab_event("fault", text)
        before = now
        await asyncio.sleep(FAULTS_POLL_S)


def _link_state(proxy: dict[str, Any]) -> dict[str, Any]:
    toxics = {
        t["name"]: f"{t['type']} {t.get('stream', '')} "
        + " ".join(f"{k}={v}" for k, v in sorted(t.get("attributes", {}).items()))
        for t in proxy.get("toxics", [])
    }
    return {"enabled": proxy.get("enabled", True), "toxics": toxics}


def _fault_changes(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    out = []
    for link, current in now.items():
        old = before.get(link, {"enabled": True, "toxics": {}})
        if old["enabled"] != current["enabled"]:
            out.append(f"link {link} {'enabled' if current['enabled'] else 'disabled (down)'}")
        for name, what in current["toxics"].items():
            if old["toxics"].get(name) != what:
                out.append(f"link {link}: toxic {name} added ({what.strip()})")
        for name in old["toxics"].keys() - current["toxics"].keys():
            out.append(f"link {link}: toxic {name} removed")
    return out
