"""What the server saw of each connection, for watchers (the console): the engine's events
with their times, kept while the connection runs and published in one append when it ends.
Turning them into a report happens only when a watcher reads them, off the handshake path."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

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
    to_dict,
)
from tlssim.report.revocation import NOT_DECIDED
from tlssim.report.wirecost import handshake_cost
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
        return _ENCODER.encode(
            {
                "observer": "server",
                "transport": self.transport,
                "peer": self.peer,
                "started": self.conn.started_wall,
                "client": self.client,
                "fingerprint": self.fingerprint,
                "report": report_dict(self),
            }
        )


ConnectionFeed = Feed[ServedConnection]

# json.dumps' encoder without its check for cycles (a summary has none): the same text.
_ENCODER: Final = json.JSONEncoder(check_circular=False)


class _Step(NamedTuple):
    """A step as the report's JSON has it (`model.Step`'s fields, in its order)."""

    name: str
    direction: str  # a Direction's value
    at_ms: float
    size: int
    fields: dict[str, Any]


def server_view(served: ServedConnection) -> Report:
    """The connection as a report, its steps named from the client's side (what the
    server sent, the client received), so that every renderer reads it the same way."""
    conn = served.conn
    steps = _all_steps(conn)
    n = conn.negotiated
    alert = _alert(conn)
    received = _received(steps)
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
        steps=tuple(
            Step(
                name=s.name,
                direction=Direction(s.direction),
                at_ms=s.at_ms,
                size=s.size,
                fields=s.fields,
            )
            for s in steps
        ),
        timings=Timings(total_ms=_total_ms(conn)),
        early_data=_early_data(conn),
        authenticated_as=_authenticated_as(conn),
        replicas=None if served.replica is None else Replicas(server=served.replica),
    )


# What every server view has the same (no chain, checks or revocation: the client decides
# those), as the report's JSON has it, in its key order.
_TEMPLATE: Final = to_dict(
    Report(
        ok=False,
        trace_id="",
        target="",
        server_name=None,
        version=None,
        cipher_suite=None,
        key_exchange=None,
        resumed=False,
        signature_scheme=None,
        chain=(),
        checks=(),
        revocation=NOT_DECIDED,
        alert=None,
        application_data=ApplicationData(sent=0, echoed=0),
        warnings=(),
        error=None,
        steps=(),
        timings=Timings(total_ms=0.0),
    )
)


def report_dict(served: ServedConnection) -> dict[str, Any]:
    """``server_view(served).to_dict()``, built straight from the connection's events: the
    console's copy of every connection, so without the typed report in between."""
    conn = served.conn
    steps = _all_steps(conn)
    n = conn.negotiated
    alert = _alert(conn)
    received = _received(steps)
    out = dict(_TEMPLATE)
    out["ok"] = n is not None and conn.handshake_complete and alert is None
    out["trace_id"] = served.trace_id
    out["target"] = f"{served.transport.lower()}://{served.peer}"
    if n is not None:
        out["server_name"] = n.server_name
        out["version"] = n.version.label
        out["cipher_suite"] = n.cipher_suite.name
        out["key_exchange"] = n.key_exchange
        out["resumed"] = bool(n.resumed)
        out["signature_scheme"] = n.signature_scheme.name if n.signature_scheme else None
    else:
        out["server_name"] = conn.offered_server_name
    if alert is not None:
        out["alert"] = {
            "level": alert.level,
            "description": alert.description,
            "sent_by": alert.sent_by.value,
        }
    out["application_data"] = {"sent": received, "echoed": received}
    out["steps"] = [s._asdict() for s in steps]
    out["timings"] = {"total_ms": _total_ms(conn)}
    out["cost"] = handshake_cost(steps).as_dict()
    if served.replica is not None:
        out["replicas"] = {"client": None, "server": served.replica}
    if (early := _early_data(conn)) is not None:
        out["early_data"] = {
            "requested": early.requested,
            "sent": early.sent,
            "accepted": early.accepted,
            "reason": early.reason,
            "resent": early.resent,
        }
    if (subject := _authenticated_as(conn)) is not None:
        out["authenticated_as"] = subject
    return out


def _all_steps(conn: ObservedServerConnection) -> list[_Step]:
    return [s for at, ev in conn.timeline for s in _steps(at, ev)]


def _received(steps: list[_Step]) -> int:
    """The application data the client sent (what the server received and echoed)."""
    return sum(
        s.size for s in steps if s.name in ("ApplicationData", "EarlyData") and s.direction == _SENT
    )


def _total_ms(conn: ObservedServerConnection) -> float:
    return round(conn.timeline[-1][0], 3) if conn.timeline else 0.0


def _authenticated_as(conn: ObservedServerConnection) -> str | None:
    return next(
        (subject_of(ev.chain) for _, ev in conn.timeline if isinstance(ev, _AUTHENTICATED)),
        None,
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


_SENT, _RECEIVED, _LOCAL = Direction.SENT.value, Direction.RECEIVED.value, Direction.LOCAL.value


def _steps(at_ms: float, ev: events.Event) -> list[_Step]:
    at = round(at_ms, 3)
    match ev:
        case events.HandshakeMessageReceived(name=name, size=size, fields=fields):
            return [_Step(name, _SENT, at, size, dict(fields))]
        case events.HandshakeMessageSent(name=name, size=size, fields=fields):
            return [_Step(name, _RECEIVED, at, size, dict(fields))]
        case events.ApplicationDataReceived(data=data):
            # The server echoes what it gets at once.
            return [_Step("ApplicationData", d, at, len(data), {}) for d in (_SENT, _RECEIVED)]
        case events.EarlyDataReceived(data=data):
            # Echoed once the handshake completes.
            return [_Step("EarlyData", _SENT, at, len(data), {})]
        case events.EarlyDataAnswered(accepted=accepted, reason=reason):
            fields = {"accepted": accepted, "reason": reason}
            return [_Step("EarlyDataAnswer", _LOCAL, at, 0, fields)]
        case events.ClientAuthenticated(chain=chain):
            return [_Step("ClientAuthenticated", _LOCAL, at, 0, {"subject": subject_of(chain)})]
        case events.AlertReceived(level=level, description=description):
            fields = {"level": _name(level), "description": _name(description)}
            return [_Step("Alert", _SENT, at, 2, fields)]
        case events.AlertSent(level=level, description=description):
            fields = {"level": _name(level), "description": _name(description)}
            return [_Step("Alert", _RECEIVED, at, 2, fields)]
    return []
