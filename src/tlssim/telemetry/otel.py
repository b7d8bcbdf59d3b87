"""OpenTelemetry export: each trace event of a service becomes a span, sent over OTLP/HTTP
(protobuf) to the standard OTEL_EXPORTER_OTLP_ENDPOINT.

The spans carry the lab's own trace id, the one in our trace header and in the W3C
`traceparent` of every call, so a handshake's spans from all services (and from any system
that joined its traceparent) meet in one trace of the collector. An event with a duration
(a handshake, an OCSP answer) spans that time; the others are instants. The SDK is an
optional extra (pip install 'tlssim[otel]'): without it, the services run as before and say
once why nothing is exported.
"""

from __future__ import annotations

import contextvars
import logging
import random
from collections.abc import Callable, Mapping
from typing import Any

from tlssim.telemetry.traces import TraceEvent, TraceLog

log = logging.getLogger(__name__)

# The lab's trace id for the span being started, read by the id generator below.
_trace_id: contextvars.ContextVar[int] = contextvars.ContextVar("otel_trace_id", default=0)
# Spans wait at most this long before they are sent.
EXPORT_DELAY_MS = 1000


def traces_endpoint(env: Mapping[str, str]) -> str:
    """Where spans go: the traces endpoint as given, else ENDPOINT/v1/traces; "" for none."""
    if explicit := env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip():
        return explicit
    if base := env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip():
        return base.rstrip("/") + "/v1/traces"
    return ""


def exporter_for(env: Mapping[str, str]) -> Callable[[TraceLog], Callable[[], None]] | None:
    """Something that exports a TraceLog's events and returns how to flush and stop it; None
    when no endpoint is set or the SDK is not installed."""
    endpoint = traces_endpoint(env)
    if not endpoint:
        return None
    try:
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError:
        log.warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set, but the OpenTelemetry SDK is not installed "
            "(pip install 'tlssim[otel]'): no spans are exported"
        )
        return None
    return lambda traces: export(traces, endpoint)


def export(traces: TraceLog, endpoint: str) -> Callable[[], None]:
    """Sends each event of `traces` as a span to `endpoint`; the result flushes and stops."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.id_generator import IdGenerator
    from opentelemetry.trace import Link, SpanContext, TraceFlags

    class LabTraceIds(IdGenerator):
        """Our trace id for each span; span ids at random, as the SDK's would be."""

        def generate_span_id(self) -> int:
            return random.getrandbits(64) or 1

        def generate_trace_id(self) -> int:
            return _trace_id.get() or random.getrandbits(128) or 1

    provider = TracerProvider(
        resource=Resource.create({"service.name": f"tlssim-{traces.service}"}),
        id_generator=LabTraceIds(),
    )
    provider.add_span_processor(
        BatchSpanProcessor(
            OTLPSpanExporter(endpoint=endpoint), schedule_delay_millis=EXPORT_DELAY_MS
        )
    )
    tracer = provider.get_tracer("tlssim")

    def linked(trace_id: str) -> Any:
        return Link(
            SpanContext(
                trace_id=int(trace_id, 16),
                span_id=random.getrandbits(64) or 1,
                is_remote=True,
                trace_flags=TraceFlags(TraceFlags.SAMPLED),
            )
        )

    def send(event: TraceEvent) -> None:
        if (tid := _as_int(event.trace_id)) is None:
            return  # not a W3C trace id: nothing in OpenTelemetry could join it
        end = int(event.time * 1e9)
        start = end - int((event.duration_ms or 0.0) * 1e6)
        token = _trace_id.set(tid)
        try:
            span = tracer.start_span(
                event.name,
                start_time=start,
                attributes=_attributes(event),
                links=[linked(t) for t in event.links if _as_int(t) is not None],
            )
        finally:
            _trace_id.reset(token)
        span.end(end_time=end)

    traces.sinks.append(send)
    log.info("exporting trace events as OpenTelemetry spans to %s", endpoint)

    def stop() -> None:
        traces.sinks.remove(send)
        provider.shutdown()

    return stop


def _as_int(trace_id: str) -> int | None:
    if len(trace_id) != 32:
        return None
    try:
        value = int(trace_id, 16)
    except ValueError:
        return None
    return value or None


def _attributes(event: TraceEvent) -> dict[str, str | bool | int | float]:
    out: dict[str, str | bool | int | float] = {"tlssim.service": event.service}
    for key, value in event.details.items():
        if isinstance(value, str | bool | int | float):
            out[f"tlssim.{key}"] = value
        elif value is not None:
            out[f"tlssim.{key}"] = str(value)
    return out
