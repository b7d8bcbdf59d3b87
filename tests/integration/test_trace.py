"""`tlssim trace ID` against the running stack: one handshake's events from the client, the
server, the ocsp responder (the staple's fetch, the CRL) and the ca, in time order."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.integration.conftest import LocalStack
from tlssim.bench.stack import direct_client
from tlssim.cli import trace as trace_cli
from tlssim.harness.localstack import free_ports
from tlssim.report.model import Report
from tlssim.rpc.v1 import client_pb2, client_pb2_grpc
from tlssim.topology import endpoints as ep

pytestmark = pytest.mark.integration
CLIENTS = "clients.tlssim.test:50054"


def _trace(
    stack: LocalStack, trace_id: str, wanted: frozenset[tuple[str, str]] = frozenset()
) -> list[dict[str, Any]]:
    """The trace's events, asked again for a few seconds until `wanted` (service, name) are
    all there: on a loaded machine a service may still be finishing its part."""
    deadline = time.monotonic() + 10
    while True:
        done = stack.tlssim("trace", trace_id, "--json")
        assert done.returncode == 0, done.stderr
        events: list[dict[str, Any]] = json.loads(done.stdout)["events"]
        if wanted <= {(e["service"], e["name"]) for e in events} or time.monotonic() > deadline:
            return events
        time.sleep(0.3)


def test_a_handshake_trace_holds_every_services_events_in_time_order(stack: LocalStack) -> None:
    trace_id = stack.handshake("--server-name", "valid.tlssim.test", ok=True).trace_id
    events = _trace(stack, trace_id)

    own = [e for e in events if e["trace_id"] == trace_id]
    names = [(e["service"], e["name"]) for e in own]
    assert ("client", "handshake requested") in names
    assert ("server", "certificate chosen") in names
    assert ("server", "handshake served") in names
    assert ("client", "handshake done") in names
    times = [e["time"] for e in events]
    assert times == sorted(times)
    assert names.index(("client", "handshake requested")) < names.index(
        ("server", "handshake served")
    )

    # The staple the server sent came from an earlier fetch: its trace is linked, and the
    # responder's answer to that fetch is in the timeline.
    chosen = next(e for e in own if e["name"] == "certificate chosen")
    assert chosen["details"]["staple_held"] == "good" and len(chosen["links"]) == 1
    staple_trace = chosen["links"][0]
    linked = {(e["service"], e["name"]) for e in events if e["trace_id"] == staple_trace}
    assert {("server", "staple fetched"), ("ocsp", "OCSP answer")} <= linked
    answer = next(e for e in events if e["trace_id"] == staple_trace and e["service"] == "ocsp")
    assert answer["details"]["status"] == "good" and answer["details"]["source"] == "staple"
    assert answer["offset_ms"] < 0  # fetched before the handshake began

    done = next(e for e in own if e["name"] == "handshake done")
    assert done["details"]["revocation"] == "good"
    assert done["details"]["revocation_source"] == "staple"


def test_the_timeline_fits_80_columns_and_names_each_service(stack: LocalStack) -> None:
    report = stack.handshake("--server-name", "ecdsa-p256.tlssim.test")
    story = stack.tlssim("handshake", "--server-name", "ecdsa-p256.tlssim.test")
    assert "trace " in story.stdout  # the story names the trace it ran under
    done = stack.tlssim("trace", report.trace_id, env=stack.env | {"COLUMNS": "80"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"trace {report.trace_id}")
    assert all(len(line) <= 80 for line in lines), lines
    for service in ("client", "server", "ocsp"):
        assert any(f"  {service} " in line for line in lines), (service, lines)
    assert any("handshake served" in line for line in lines)


def test_a_live_check_and_the_crl_fallback_reach_the_responder_and_the_ca(
    stack: LocalStack,
) -> None:
    # No staple: the client asks the responder itself (a live answer in the same trace).
    report = stack.handshake("--server-name", "valid.tlssim.test", "--no-staple")
    events = _trace(stack, report.trace_id, frozenset({("ocsp", "OCSP answer")}))
    live = [e for e in events if e["service"] == "ocsp" and e["name"] == "OCSP answer"]
    assert any(e["details"]["source"] == "live" for e in live), events
    assert all(e["trace_id"] == report.trace_id for e in live if e["details"]["source"] == "live")

    # With the client's link to the responder down, the client falls back to the CRL: the
    # responder's HTTP front serves it, fetched from the ca (now or by a linked earlier trace).
    assert stack.tlssim("faults", "disable", "client_ocsp").returncode == 0
    try:
        report = stack.handshake("--server-name", "valid.tlssim.test", "--no-staple")
    finally:
        assert stack.tlssim("faults", "enable", "client_ocsp").returncode == 0
    crl = frozenset({("ocsp", "CRL served"), ("ca", "CRL served")})
    events = _trace(stack, report.trace_id, crl)
    names = {(e["service"], e["name"]) for e in events}
    assert ("ocsp", "CRL served") in names, events
    assert ("ca", "CRL served") in names, events
    done = next(e for e in events if e["name"] == "handshake done")
    assert done["details"]["revocation_source"] == "crl"


def test_an_unknown_trace_is_not_found_and_a_missing_stack_is_unavailable(
    stack: LocalStack,
) -> None:
    unknown = stack.tlssim("trace", "0123456789abcdef0123456789abcdef")
    assert unknown.returncode == 5, unknown.stderr
    assert "no service holds events of trace" in unknown.stderr

    bad = stack.tlssim("trace", "not a trace id")
    assert bad.returncode == 2 and "not a trace id" in bad.stderr
    assert "up to 128 letters, digits or _.:-" in bad.stderr
    # A caller may name its own trace (x-tlssim-trace-id): a well-formed id nobody holds.
    named = stack.tlssim("trace", "nothex")
    assert named.returncode == 5 and "no service holds events of trace nothex" in named.stderr

    closed = [f"127.0.0.1:{port}" for port in free_ports(4)]
    nowhere = dict(
        zip(
            ("TLSSIM_CA_ADDR", "TLSSIM_OCSP_ADDR", "TLSSIM_SERVER_ADDR", "TLSSIM_CLIENT_ADDR"),
            closed,
            strict=True,
        )
    )
    down = stack.tlssim("trace", "0123456789abcdef0123456789abcdef", env=stack.env | nowhere)
    assert down.returncode == 3, down.stderr
    assert "cannot ask" in down.stderr and closed[0] in down.stderr


def test_every_replica_of_a_service_is_asked(stack: LocalStack, tmp_path: Path) -> None:
    """A handshake run by a second client replica: its client events are found only when
    the client's name resolves to both replicas (the resolver stands in for DNS)."""
    env = stack.env
    where = {
        "client": CLIENTS,
        "server": env["TLSSIM_SERVER_ADDR"],
        "ocsp": env["TLSSIM_OCSP_ADDR"],
        "ca": env["TLSSIM_CA_ADDR"],
    }
    with direct_client(env, tmp_path) as (second, _):

        async def scenario() -> None:
            async with grpc.aio.insecure_channel(second) as channel:
                reply = await client_pb2_grpc.TlsClientStub(channel).RunHandshake(
                    client_pb2.HandshakeRequest(server_name="valid.tlssim.test"), timeout=30
                )
            trace_id = Report.from_json(reply.report_json).trace_id
            assert trace_id

            async def both(address: str) -> list[str]:
                if address == CLIENTS:
                    return [env["TLSSIM_CLIENT_ADDR"], second]
                return await ep.replicas_of(address)

            async def first_only(address: str) -> list[str]:
                if address == CLIENTS:
                    return [env["TLSSIM_CLIENT_ADDR"]]
                return await ep.replicas_of(address)

            found = await trace_cli.gather(trace_id, where, both)
            assert "client" in {e.service for e in found.events}, found
            assert "server" in {e.service for e in found.events}, found
            assert not found.unreachable
            missed = await trace_cli.gather(trace_id, where, first_only)
            assert "client" not in {e.service for e in missed.events}, missed

        asyncio.run(scenario())
