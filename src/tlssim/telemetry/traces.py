"""What a service did for each trace: events kept in a bounded ring, found by trace id.

Each service process has one `TraceLog`. Its events carry the trace id of the call being
served, so the events that one handshake caused in the client, the server, the ocsp
responder and the ca share an id, and `tlssim trace ID` merges them into one timeline.
The ring is a `Feed`: the console follows it like the services' other feeds, and an
exporter (OpenTelemetry) can be told of each event as it is recorded.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tlssim import rpcutil
from tlssim.telemetry.feed import Feed

log = logging.getLogger(__name__)

# Enough for some minutes of a busy lab (the server refreshes a staple for each of its
# certificates every few seconds, and each refresh is an event); older ones are dropped.
DEFAULT_SIZE = 8192

Sink = Callable[["TraceEvent"], None]


@dataclass(frozen=True, kw_only=True, slots=True)
class TraceEvent:
    """One thing a service did for a trace; `links` name other traces it drew on (the
    server's staple came from a fetch of its own)."""

    trace_id: str
    time: float  # seconds since the epoch; the end, for an event with a duration
    service: str
    name: str
    details: Mapping[str, Any] = field(default_factory=dict)  # JSON values
    duration_ms: float | None = None
    links: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "trace_id": self.trace_id,
            "time": self.time,
            "service": self.service,
            "name": self.name,
            "details": dict(self.details),
            "duration_ms": self.duration_ms,
            "links": list(self.links),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @staticmethod
    def from_json(text: str) -> TraceEvent:
        d = json.loads(text)
        return TraceEvent(
            trace_id=str(d["trace_id"]),
            time=float(d["time"]),
            service=str(d["service"]),
            name=str(d["name"]),
            details=dict(d.get("details") or {}),
            duration_ms=None if d.get("duration_ms") is None else float(d["duration_ms"]),
            links=tuple(str(x) for x in d.get("links") or ()),
        )


class TraceLog:
    """One service's recent trace events."""

    def __init__(self, service: str, size: int = DEFAULT_SIZE) -> None:
        self.service = service
        self.feed: Feed[TraceEvent] = Feed(size)
        #: Told of every event as it is recorded (exporters); a failing sink is logged.
        self.sinks: list[Sink] = []

    def record(
        self,
        name: str,
        details: Mapping[str, Any] | None = None,
        *,
        trace_id: str = "",
        duration_ms: float | None = None,
        links: tuple[str, ...] = (),
    ) -> TraceEvent:
        """Records `name` for `trace_id` (default: the trace of the call being served)."""
        event = TraceEvent(
            trace_id=trace_id or rpcutil.current_trace_id(),
            time=time.time(),
            service=self.service,
            name=name,
            details=dict(details or {}),
            duration_ms=duration_ms,
            links=tuple(x for x in links if x),
        )
        self.feed.publish(event)
        for sink in self.sinks:
            try:
                sink(event)
            except Exception:  # an exporter's trouble must never fail a handshake
                log.exception("trace sink failed")
        return event

    def of(self, trace_id: str) -> list[TraceEvent]:
        """The events still held for `trace_id`, oldest first."""
        return [event for _, event in self.feed.since(0) if event.trace_id == trace_id]
