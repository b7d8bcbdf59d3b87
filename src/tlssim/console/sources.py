"""The console's sources, each followed until the console stops and picked up again after
a failure: the server's connections, the client's reports, the ca's status feed, the ocsp
responder's answers (its trace events), and the faults API (polled: it has no feed).
Server, client and ocsp are followed at every replica their names resolve to."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from tlssim import rpcutil
from tlssim.console.state import LabState
from tlssim.faults.rest_client import FaultsApi, FaultsApiError
from tlssim.report.model import Report
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
from tlssim.telemetry.traces import TraceEvent
from tlssim.topology import endpoints as ep

log = logging.getLogger("tlssim.console")

RETRY_S = 1.0
FAULTS_POLL_S = 1.0


async def _forever(name: str, follow: Callable[[], Awaitable[None]]) -> None:
    """Runs `follow` again whenever it ends or fails (the service restarted, say). Anything
    else that goes wrong is logged and retried too: one odd item must not stop the page."""
    while True:
        try:
            await follow()
        except (grpc.aio.AioRpcError, FaultsApiError) as exc:
            log.debug("%s: %s; again in %.0f s", name, exc, RETRY_S)
        except Exception as exc:  # a report or event that does not parse, say
            log.warning("%s: %s: %s; again in %.0f s", name, type(exc).__name__, exc, RETRY_S)
        await asyncio.sleep(RETRY_S)


#: How often the console looks up the replicated services' names again (replicas come
#: and go: `scripts/swarm.sh scale`).
RESOLVE_S = 5.0


async def _every_replica(
    name: str,
    address: str,
    follow: Callable[[str, list[int]], Awaitable[None]],
    resolve: ep.Resolver,
) -> None:
    """Follows each replica behind `address` (each address its name resolves to), and
    looks again every RESOLVE_S: a service scaled to three replicas is watched three times,
    each from where it left off."""
    tasks: dict[str, asyncio.Task[None]] = {}
    seen: dict[str, list[int]] = {}
    try:
        while True:
            try:
                replicas = set(await resolve(address))
            except (OSError, ValueError) as exc:
                log.debug("%s: cannot resolve %s (%s)", name, address, exc)
                replicas = set(tasks) or {address}  # keep what we follow; gRPC retries
            for replica in replicas - tasks.keys():
                after = seen.setdefault(replica, [0])
                tasks[replica] = asyncio.create_task(
                    _forever(f"{name} {replica}", functools.partial(follow, replica, after))
                )
            for gone in tasks.keys() - replicas:
                tasks.pop(gone).cancel()
            await asyncio.sleep(RESOLVE_S)
    finally:
        for task in tasks.values():
            task.cancel()


def follow_all(
    state: LabState,
    server: str,
    client: str,
    ca: str,
    faults_api: str,
    ocsp: str = "",
    resolve: ep.Resolver = ep.replicas_of,
) -> list[Any]:
    """The tasks that feed `state`; cancel them to stop. Server, client and ocsp may run as
    replicas: each is followed; the ca is the single writer."""
    answers = OcspAnswers()
    ca_seen = [0]

    def replicated(
        name: str, address: str, follow: Callable[[str, list[int]], Awaitable[None]]
    ) -> asyncio.Task[None]:
        return asyncio.create_task(_every_replica(name, address, follow, resolve))

    return [
        replicated("server", server, lambda a, after: _connections(state, a, after)),
        replicated("client", client, lambda a, after: _reports(state, a, after)),
        asyncio.create_task(_forever("ca", lambda: _status(state, ca, ca_seen))),
        asyncio.create_task(_forever("faults", lambda: _faults(state, faults_api))),
        *(
            [replicated("ocsp", ocsp, lambda a, after: _ocsp(answers, state, a, after))]
            if ocsp
            else []
        ),
    ]


async def _connections(state: LabState, address: str, after: list[int]) -> None:
    """`after` holds the last sequence seen, so a new subscription resumes there."""
    async with rpcutil.open_channel(address) as channel:
        stub = server_pb2_grpc.ServerWatchStub(channel)
        request = server_pb2.WatchConnectionsRequest(after_sequence=after[0])
        async for batch in stub.WatchConnectionBatches(request):
            for item in batch.connections:
                after[0] = item.sequence
                state.server_view(json.loads(item.summary_json))


async def _reports(state: LabState, address: str, after: list[int]) -> None:
    """`after` holds the last sequence seen, so a new subscription resumes there."""
    async with rpcutil.open_channel(address) as channel:
        stub = client_pb2_grpc.TlsClientStub(channel)
        request = client_pb2.WatchReportsRequest(after_sequence=after[0])
        async for batch in stub.WatchReportBatches(request):
            for item in batch.reports:
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
