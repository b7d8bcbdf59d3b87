"""Trace events: kept by trace id in a bounded ring, and shown as a timeline that fits."""

from __future__ import annotations

import asyncio
import json

from tlssim import rpcutil
from tlssim.cli.trace import Gathered, as_json, render
from tlssim.telemetry.traces import TraceEvent, TraceLog

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_events_are_found_by_trace_id_and_the_oldest_are_dropped() -> None:
    async def scenario() -> None:
        traces = TraceLog("ocsp", size=3)
        traces.record("OCSP answer", {"status": "good"}, trace_id=TRACE)
        rpcutil.trace_id_var.set("other")
        traces.record("OCSP answer", {"status": "revoked"})  # the call's own trace
        assert [e.details["status"] for e in traces.of(TRACE)] == ["good"]
        assert [e.trace_id for e in traces.of("other")] == ["other"]
        traces.record("a", trace_id=TRACE)
        traces.record("b", trace_id=TRACE)
        assert [e.name for e in traces.of(TRACE)] == ["a", "b"]  # "good" was dropped

    asyncio.run(scenario())


def test_a_failing_sink_never_fails_the_recording() -> None:
    async def scenario() -> None:
        traces = TraceLog("client")
        seen: list[TraceEvent] = []

        def broken(event: TraceEvent) -> None:
            raise RuntimeError("exporter down")

        traces.sinks += [broken, seen.append]
        recorded = traces.record("handshake done", {"ok": True}, trace_id=TRACE, duration_ms=2.5)
        assert seen == [recorded] and traces.of(TRACE) == [recorded]
        assert recorded.duration_ms == 2.5 and recorded.service == "client"
        assert TraceEvent.from_json(recorded.to_json()) == recorded

    asyncio.run(scenario())


def _event(at: float, service: str, name: str, trace_id: str = TRACE, **details: str) -> TraceEvent:
    return TraceEvent(trace_id=trace_id, time=at, service=service, name=name, details=details)


def test_the_timeline_counts_from_the_traces_own_first_event_and_fits_the_width() -> None:
    gathered = Gathered(
        trace_id=TRACE,
        events=(
            _event(99.0, "ocsp", "OCSP answer", trace_id="f" * 32, status="good"),
            _event(100.0, "client", "handshake requested", target="grpc://" + "x" * 120),
            _event(100.0125, "server", "handshake served", version="TLSv1.3"),
        ),
        unreachable=(),
    )
    for width in (40, 80, 120):
        lines = render(gathered, width)
        assert all(len(line) <= width for line in lines), lines
    lines = render(gathered, 80)
    # The count is of the lines that follow: the trace's own and the linked ones.
    assert lines[0] == f"trace {TRACE}: 3 events, 1 of them from linked traces"
    assert lines[1].split()[:4] == ["-1000.0", "ms", "ocsp", "OCSP"]
    assert "(linked)" in lines[1]
    assert any(line.split()[:3] == ["+12.5", "ms", "server"] for line in lines)
    shown = json.loads(as_json(gathered))
    assert [e["offset_ms"] for e in shown["events"]] == [-1000.0, 0.0, 12.5]


def test_the_otlp_traces_endpoint_follows_the_standard_variables() -> None:
    from tlssim.telemetry import otel

    assert otel.traces_endpoint({}) == "" and otel.exporter_for({}) is None
    base = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}
    assert otel.traces_endpoint(base) == "http://collector:4318/v1/traces"
    explicit = base | {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://other:4318/spans"}
    assert otel.traces_endpoint(explicit) == "http://other:4318/spans"
