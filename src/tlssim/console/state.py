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
#: OCSP answers come by the hundred (every staple refresh): they are kept apart, fewer, and
#: counted, so that they never push a revocation or a fault change out of the events.
FOLDED_KIND = "ocsp"
MAX_FOLDED = 20
_HYBRID_GROUPS = frozenset({"X25519MLKEM768", "SecP256r1MLKEM768", "SecP384r1MLKEM1024"})
_PQ_GROUPS = frozenset({"MLKEM512", "MLKEM768", "MLKEM1024"})


def group_family(group: str | None) -> str:
    """classical, hybrid PQ (ML-KEM with an ECDH share) or PQ (ML-KEM alone)."""
    if not group:
        return "-"
    if group in _HYBRID_GROUPS:
        return "hybrid PQ"
    if group in _PQ_GROUPS:
        return "PQ"
    return "classical"


def _early_data(report: Report) -> str:
    early = report.early_data
    if early is None or not early.requested:
        return "-"
    return "accepted" if early.accepted else "rejected"


@dataclass
class Handshake:
    """One connection: what the client service reported and/or what the server saw."""

    id: str
    started: float  # seconds since the epoch
    client: Report | None = None
    server: Report | None = None
    transport: str = ""  # how it reached the server: TCP or gRPC
    peer: str = ""
    #: The client stack as the server named it from its ClientHello ("GnuTLS 3.7.9",
    #: "tlssim", "unknown client (fingerprint ...)"); "" when the server did not say.
    client_stack: str = ""
    fingerprint: str = ""

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
            "group_family": group_family(r.key_exchange),
            "resumed": r.resumed,
            "early_data": _early_data(r),
            "ms": r.timings.total_ms,
            "seen_by": [n for n, x in (("client", self.client), ("server", self.server)) if x],
            "client": self.client_stack or ("tlssim" if self.client is not None else "-"),
            "fingerprint": self.fingerprint,
            # which client and server replica took part (null where the report does not say)
            "replicas": None if r.replicas is None else dataclasses.asdict(r.replicas),
        }


@dataclass
class LabState:
    handshakes: OrderedDict[str, Handshake] = field(default_factory=OrderedDict)
    events: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_EVENTS))
    folded: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_FOLDED))
    folded_count: int = 0
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
        row.client_stack = str(summary.get("client") or "")
        row.fingerprint = str(summary.get("fingerprint") or "")
        self._changed(row)

    def lab_event(self, kind: str, text: str) -> None:
        event = {"time": time.time(), "kind": kind, "text": text}
        if kind == FOLDED_KIND:
            self.folded.appendleft(event)
            self.folded_count += 1
        else:
            self.events.appendleft(event)
        self.changes.publish({"type": "event", "event": event})

    def snapshot(self) -> dict[str, Any]:
        return {
            "sequence": self.changes.sequence,
            "handshakes": [h.summary() for h in reversed(self.handshakes.values())],
            # newest first; the OCSP answers only the latest few of them
            "events": sorted([*self.events, *self.folded], key=lambda e: -e["time"]),
            "ocsp_answers": self.folded_count,
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
