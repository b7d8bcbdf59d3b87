"""Handshake counts and durations, the same names on the client and the server service."""

from __future__ import annotations

from tlssim.clock import monotonic_ms
from tlssim.report.model import Report
from tlssim.services.served import ObservedServerConnection
from tlssim.telemetry.metrics import Durations, Tally
from tlssim.tls import events

LABELS = ("outcome", "version", "cipher_suite", "group", "alert")
NONE = "none"


class HandshakeMetrics:
    """tlssim_handshakes_total by outcome (ok/failed), version, cipher suite, group and
    alert, and tlssim_handshake_duration_seconds."""

    def __init__(self, observer: str) -> None:
        self.handshakes = Tally(
            "tlssim_handshakes", f"handshakes the {observer} saw through to their end", LABELS
        )
        self.durations = Durations(
            "tlssim_handshake_duration_seconds", f"how long each handshake took ({observer})"
        )
        self.early_data = Tally(
            "tlssim_early_data",
            "0-RTT early data the server was offered: accepted, refused as a replay, rejected",
            ("outcome",),
        )
        self._observer = observer

    def sources(self) -> tuple[Tally | Durations, ...]:
        if self._observer == "server":
            return self.handshakes, self.durations, self.early_data
        return self.handshakes, self.durations

    def count_report(self, report: Report) -> None:
        """A report the client built: its outcome, and its total time."""
        self.handshakes.add(
            "ok" if report.ok else "failed",
            report.version or NONE,
            report.cipher_suite or NONE,
            report.key_exchange or NONE,
            report.alert.description if report.alert else NONE,
        )
        self.durations.observe(report.timings.total_ms / 1000)

    def count_connection(self, conn: ObservedServerConnection) -> None:
        """A connection the server served, from its start until now (its end)."""
        n, error = conn.negotiated, conn.error
        ok = n is not None and conn.handshake_complete and error is None
        self.handshakes.add(
            "ok" if ok else "failed",
            n.version.label if n else NONE,
            n.cipher_suite.name if n else NONE,
            (n.key_exchange or NONE) if n else NONE,
            error.alert_name if error else NONE,
        )
        self.durations.observe((monotonic_ms() - conn.started_ms) / 1000)
        for _, ev in conn.timeline:
            if isinstance(ev, events.EarlyDataAnswered):
                replay = ev.reason.startswith("replay")
                self.early_data.add(
                    "accepted" if ev.accepted else "replay" if replay else "rejected"
                )
