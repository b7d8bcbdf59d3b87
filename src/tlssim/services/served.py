"""What the server saw of each connection, for watchers (the console): the engine's events
with their times, kept while the connection runs and published in one append when it ends.
Turning them into a report happens only when a watcher reads them, off the handshake path."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from tlssim.clock import monotonic_ms
from tlssim.net.echo import subject_of
from tlssim.report.model import (
    Alert,
    ApplicationData,
    Direction,
    EarlyData,
    Party,
    Replicas,
    Report,
    Step,
    Timings,
)
from tlssim.report.revocation import NOT_DECIDED
from tlssim.telemetry.feed import Feed
from tlssim.tls import AlertDescription, ServerConfig, ServerConnection, events
from tlssim.tls.config import ClientAuth


class ObservedServerConnection(ServerConnection):
    """A server connection that remembers its events and when they happened."""

    def __init__(self, config: ServerConfig) -> None:
        super().__init__(config)
        self.started_ms = monotonic_ms()
        self.started_wall = time.time()
        self.timeline: list[tuple[float, events.Event]] = []

    def receive_data(self, data: bytes) -> list[events.Event]:
        return self._observed(super().receive_data(data))

    def accept_certificate(self) -> list[events.Event]:
        return self._observed(super().accept_certificate())

    def request_client_certificate(self, ask: ClientAuth) -> list[events.Event]:
        return self._observed(super().request_client_certificate(ask))

    def reject_certificate(
        self, alert: AlertDescription = AlertDescription.bad_certificate
    ) -> list[events.Event]:
        return self._observed(super().reject_certificate(alert))

    def _observed(self, evs: list[events.Event]) -> list[events.Event]:
        now = monotonic_ms() - self.started_ms
        self.timeline.extend((now, ev) for ev in evs)
        return evs


@dataclass(frozen=True, kw_only=True, slots=True)
class ServedConnection:
    """One connection as the server saw it (raw: made into JSON only when read)."""

    transport: str  # "TCP" or "gRPC"
    peer: str
    trace_id: str
    conn: ObservedServerConnection
    replica: str | None = None  # the server replica that served it
    #: The client stack, named from its ClientHello ("GnuTLS 3.7.9", "tlssim", ...).
    client: str = ""
    fingerprint: str = ""  # the ClientHello's fingerprint (tlssim.tls.fingerprint)

    def summary_json(self) -> str:
        return json.dumps(
            {
                "observer": "server",
                "transport": self.transport,
                "peer": self.peer,
                "started": self.conn.started_wall,
                "client": self.client,
                "fingerprint": self.fingerprint,
                "report": server_view(self).to_dict(),
            }
        )


ConnectionFeed = Feed[ServedConnection]


def server_view(served: ServedConnection) -> Report:
    """The connection as a report, its steps named from the client's side (what the
    server sent, the client received), so that every renderer reads it the same way."""
    conn = served.conn
    steps = [s for at, ev in conn.timeline for s in _steps(at, ev)]
    n = conn.negotiated
    alert = _alert(conn)
    received = sum(
        s.size
        for s in steps
        if s.name in ("ApplicationData", "EarlyData") and s.direction is Direction.SENT
    )
    total = conn.timeline[-1][0] if conn.timeline else 0.0
    return Report(
        ok=n is not None and conn.handshake_complete and alert is None,
        trace_id=served.trace_id,
        target=f"{served.transport.lower()}://{served.peer}",
        server_name=n.server_name if n else conn.offered_server_name,
        version=n.version.label if n else None,
        cipher_suite=n.cipher_suite.name if n else None,
        key_exchange=n.key_exchange if n else None,
        resumed=bool(n and n.resumed),
        signature_scheme=n.signature_scheme.name if n and n.signature_scheme else None,
        chain=(),
        checks=(),
        revocation=NOT_DECIDED,
        alert=alert,
        application_data=ApplicationData(sent=received, echoed=received),
        warnings=(),
        error=None,
        steps=tuple(steps),
        timings=Timings(total_ms=round(total, 3)),
        early_data=_early_data(conn),
        authenticated_as=next(
            (subject_of(ev.chain) for _, ev in conn.timeline if isinstance(ev, _AUTHENTICATED)),
            None,
        ),
        replicas=None if served.replica is None else Replicas(server=served.replica),
    )


_AUTHENTICATED = events.ClientAuthenticated


def _early_data(conn: ObservedServerConnection) -> EarlyData | None:
    """The 0-RTT the client offered, as the server saw it (it cannot size skipped data)."""
    answer = next((ev for _, ev in conn.timeline if isinstance(ev, events.EarlyDataAnswered)), None)
    if answer is None:
        return None
    size = sum(len(ev.data) for _, ev in conn.timeline if isinstance(ev, events.EarlyDataReceived))
    return EarlyData(
        requested=size, sent=size, accepted=answer.accepted, reason=answer.reason, resent=False
    )


def _alert(conn: ServerConnection) -> Alert | None:
    error = conn.error
    if error is None:
        return None
    description = error.alert_name
    sent_by = Party.CLIENT if error.sent_by_peer else Party.SERVER
    return Alert(level="fatal", description=description, sent_by=sent_by)


def _name(value: object) -> object:
    return getattr(value, "name", value)


def _steps(at_ms: float, ev: events.Event) -> list[Step]:
    at = round(at_ms, 3)
    match ev:
        case events.HandshakeMessageReceived(name=name, size=size, fields=fields):
            return [Step(name=name, direction=Direction.SENT, at_ms=at, size=size, fields=fields)]
        case events.HandshakeMessageSent(name=name, size=size, fields=fields):
            return [
                Step(name=name, direction=Direction.RECEIVED, at_ms=at, size=size, fields=fields)
            ]
        case events.ApplicationDataReceived(data=data):
            # The server echoes what it gets at once.
            return [
                Step(name="ApplicationData", direction=d, at_ms=at, size=len(data), fields={})
                for d in (Direction.SENT, Direction.RECEIVED)
            ]
        case events.EarlyDataReceived(data=data):
            # Echoed once the handshake completes.
            return [
                Step(
                    name="EarlyData", direction=Direction.SENT, at_ms=at, size=len(data), fields={}
                )
            ]
        case events.EarlyDataAnswered(accepted=accepted, reason=reason):
            fields = {"accepted": accepted, "reason": reason}
            return [
                Step(
                    name="EarlyDataAnswer",
                    direction=Direction.LOCAL,
                    at_ms=at,
                    size=0,
                    fields=fields,
                )
            ]
        case events.ClientAuthenticated(chain=chain):
            fields = {"subject": subject_of(chain)}
            return [
                Step(
                    name="ClientAuthenticated",
                    direction=Direction.LOCAL,
                    at_ms=at,
                    size=0,
                    fields=fields,
                )
            ]
        case events.AlertReceived(level=level, description=description):
            fields = {"level": _name(level), "description": _name(description)}
            return [Step(name="Alert", direction=Direction.SENT, at_ms=at, size=2, fields=fields)]
        case events.AlertSent(level=level, description=description):
            fields = {"level": _name(level), "description": _name(description)}
            return [
                Step(name="Alert", direction=Direction.RECEIVED, at_ms=at, size=2, fields=fields)
            ]
    return []
