"""What the console shows: the recent handshakes (one row per connection, the client's
report and the server's view merged by trace id) and the lab's events, with one feed of
changes for the pages that watch."""

from __future__ import annotations

import dataclasses
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from tlssim.diagrams.sequence import outcome_line
from tlssim.report.model import Report
from tlssim.telemetry.feed import Feed

MAX_HANDSHAKES = 200
MAX_EVENTS = 200


@dataclass
class Handshake:
    """One connection: what the client service reported and/or what the server saw."""

    id: str
    started: float  # seconds since the epoch
    client: Report | None = None
    server: Report | None = None
    transport: str = ""  # how it reached the server: TCP or gRPC
    peer: str = ""

    @property
    def report(self) -> Report:
        """The fullest account: the client's (checks, chain) when there is one."""
        report = self.client or self.server
        assert report is not None
        return report

    def summary(self) -> dict[str, Any]:
        r = self.report
        if self.client is not None:
            source = "client service" + (f" ({self.transport})" if self.transport else "")
        else:
            source = f"{self.transport} {self.peer}".strip()
        return {
            "id": self.id,
            "started": self.started,
            "source": source,
            "host": r.server_name or "(no SNI)",
            "ok": r.ok,
            "outcome": outcome_line(r),
            "version": r.version or "-",
            "suite": r.cipher_suite or "-",
            "group": r.key_exchange or "-",
            "ms": r.timings.total_ms,
            "seen_by": [n for n, x in (("client", self.client), ("server", self.server)) if x],
            # which client and server replica took part (null where the report does not say)
            "replicas": None if r.replicas is None else dataclasses.asdict(r.replicas),
        }


@dataclass
class LabState:
    handshakes: OrderedDict[str, Handshake] = field(default_factory=OrderedDict)
    events: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_EVENTS))
    changes: Feed[dict[str, Any]] = field(default_factory=lambda: Feed(size=512))
    _untraced: int = 0

    def client_report(self, report: Report) -> None:
        row = self._row(report.trace_id or self._new_id())
        row.client = report
        self._changed(row)

    def server_view(self, summary: dict[str, Any]) -> None:
        report = Report.from_dict(summary["report"])
        row = self._row(report.trace_id or self._new_id(), summary.get("started"))
        row.server, row.transport, row.peer = report, summary["transport"], summary["peer"]
        self._changed(row)

    def lab_event(self, kind: str, text: str) -> None:
        event = {"time": time.time(), "kind": kind, "text": text}
        self.events.appendleft(event)
        self.changes.publish({"type": "event", "event": event})

    def snapshot(self) -> dict[str, Any]:
        return {
            "sequence": self.changes.sequence,
            "handshakes": [h.summary() for h in reversed(self.handshakes.values())],
            "events": list(self.events),
        }

    def _new_id(self) -> str:
        self._untraced += 1
        return f"conn-{self._untraced}"

    def _row(self, key: str, started: float | None = None) -> Handshake:
        row = self.handshakes.get(key)
        if row is None:
            row = self.handshakes[key] = Handshake(id=key, started=started or time.time())
            while len(self.handshakes) > MAX_HANDSHAKES:
                self.handshakes.popitem(last=False)
        return row

    def _changed(self, row: Handshake) -> None:
        self.changes.publish({"type": "handshake", "handshake": row.summary()})
