"""The handshake report, built once from a run and the certificate decision."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from tlssim.client.decision import Decision
from tlssim.client.run import ApplicationDataSent, ClientRun
from tlssim.net.echo import asks_for_certificate, authenticated_in
from tlssim.pki.names import issuer_text, subject_text
from tlssim.report.model import (
    Alert,
    ApplicationData,
    Capture,
    ChainEntry,
    Direction,
    EarlyData,
    FirstHandshake,
    Party,
    Replicas,
    Report,
    Step,
    Timings,
)
from tlssim.report.revocation import NOT_DECIDED
from tlssim.tls import TLSError, events

# The client's own check of the chain (a local step; "CertificateVerify" is the message).
CHAIN_VALIDATION = "ChainValidation"
# The client compares the echo with what it sent.
ECHO_CHECK = "EchoCheck"
# What to do about a server that does not echo (a plain TLS or web server).
NO_ECHO_HINT = "for a server that does not echo, --no-echo sends the data without waiting"
# 0-RTT: the data that went with the ClientHello, and the server's answer to it.
EARLY_DATA = "EarlyData"
EARLY_DATA_ANSWER = "EarlyDataAnswer"
NOT_SENT_EARLY = "not sent in 0-RTT: the ticket allows no early data, or less than this"


@dataclass(frozen=True, kw_only=True, slots=True)
class TimedDecision:
    """A decision and when the client was making it (ms since the run started)."""

    decision: Decision
    started_ms: float
    finished_ms: float


def build_report(
    *,
    run: ClientRun,
    decided: TimedDecision | None,
    server_name: str | None,
    target: str,
    trace_id: str,
    application_data: bytes,
    early_data: bytes = b"",
    keylog: bool = False,
    capture: Capture | None = None,
    first_handshake: FirstHandshake | None = None,
    total_ms: float | None = None,
    failure: str | None = None,
    client_replica: str | None = None,
    client_cert_why: str = "",
) -> Report:
    """`failure` fails a run that otherwise succeeded (e.g. no session to resume); `total_ms`
    replaces the run's own length (a --resume run counts both handshakes); `client_cert_why`
    says why the client's Certificate, if it sent one, holds what it holds."""
    decision = decided.decision if decided else Decision(alert=None)
    steps = [s for t in run.timeline if (s := _step(t.at_ms, t.event)) is not None]
    if client_cert_why:
        steps = [
            dataclasses.replace(s, fields={**s.fields, "why": client_cert_why})
            if s.name == "Certificate" and s.direction is Direction.SENT
            else s
            for s in steps
        ]
    if decided is not None:
        steps.append(
            Step(
                name=CHAIN_VALIDATION,
                direction=Direction.LOCAL,
                at_ms=round(decided.started_ms, 3),
                size=0,
                fields={"checks": [c.as_dict() for c in decision.checks]},
            )
        )
        steps.sort(key=lambda s: s.at_ms)

    complete = run.first(events.HandshakeComplete)
    info = complete.event if complete else None
    if not isinstance(info, events.HandshakeComplete):
        info = None
    alert = _alert(run.error)
    expected = early_data + application_data
    authenticated = _authenticated(early_data, application_data, run.echoed)
    if asks_for_certificate(application_data):
        echo_ok = not run.echo_expected or authenticated is not None
    else:
        echo_ok = not run.echo_expected or run.echoed == expected
    error = run.failure
    answer = _http_status_line(run.echoed) if not echo_ok else None
    # An alert that ended the connection after the handshake is its own reason.
    if info is not None and alert is None and not echo_ok:
        if answer is not None:
            error = (
                f"the server answered {answer!r} (HTTP), not an echo of the data: a web "
                f"server such as `openssl s_server -www`; {NO_ECHO_HINT}"
            )
        elif not run.echoed and error is not None:
            error = f"no echo of the application data ({error}): {NO_ECHO_HINT}"
        elif error is None:
            error = "the application data echo did not match"
    if error is None and failure is not None:
        error = failure
    ok = info is not None and alert is None and error is None
    # A server that closed as the handshake completed got none of the data: no echo to check.
    sent_any = run.first(ApplicationDataSent) or run.first(events.EarlyDataSent)
    sent = len(expected) if info is None or sent_any else 0
    if sent and info is not None and run.echo_expected:
        _insert_echo_step(steps, expected, run.echoed, echo_ok, answer)

    first_flight = run.first(events.HandshakeMessageReceived)
    revocation = decision.revocation
    timings = Timings(
        total_ms=round(run.last_ms if total_ms is None else total_ms, 3),
        first_server_flight_ms=round(first_flight.at_ms, 3) if first_flight else None,
        handshake_ms=round(complete.at_ms, 3) if complete else None,
        verification_ms=round(decided.finished_ms - decided.started_ms, 3) if decided else None,
        revocation_ms=revocation.checked_ms,
    )
    return Report(
        ok=ok,
        trace_id=trace_id,
        target=target,
        server_name=server_name,
        version=info.version.label if info else None,
        cipher_suite=info.cipher_suite.name if info else None,
        key_exchange=info.key_exchange if info else None,
        resumed=bool(info and info.resumed),
        signature_scheme=info.signature_scheme.name if info and info.signature_scheme else None,
        chain=tuple(_chain_entry(c) for c in decision.chain),
        checks=decision.checks,
        revocation=revocation if decided else NOT_DECIDED,
        alert=alert,
        application_data=ApplicationData(sent=sent, echoed=len(run.echoed)),
        warnings=decision.warnings,
        error=error,
        steps=tuple(steps),
        timings=timings,
        keylog=tuple(ev.keylog_line() for ev in _secrets(run)) if keylog else None,
        capture=capture,
        first_handshake=first_handshake,
        early_data=_early_data(run, early_data) if early_data else None,
        authenticated_as=authenticated,
        replicas=_replicas(client_replica, info.server_replica if info else None, steps),
    )


def _replicas(client: str | None, server: str | None, steps: list[Step]) -> Replicas | None:
    """Who took part; a handshake that failed after the server named itself (in TLS 1.3's
    EncryptedExtensions, e.g. a revoked certificate) still says which server replica."""
    if server is None:
        named = (s.fields.get("replica") for s in steps if s.name == "EncryptedExtensions")
        server = next((str(n) for n in named if n), None)
    return None if client is None and server is None else Replicas(client=client, server=server)


def _authenticated(early: bytes, sent: bytes, echoed: bytes) -> str | None:
    """Whom the server said it authenticated, after echoing a request for /private."""
    if not echoed.startswith(early):
        return None
    return authenticated_in(sent, echoed[len(early) :])


def _early_data(run: ClientRun, early: bytes) -> EarlyData:
    sent = next((e for e in run.all(events.EarlyDataSent)), None)
    answer = next((e for e in run.all(events.EarlyDataAnswered)), None)
    accepted = isinstance(answer, events.EarlyDataAnswered) and answer.accepted
    if not isinstance(sent, events.EarlyDataSent):
        reason = NOT_SENT_EARLY
    elif isinstance(answer, events.EarlyDataAnswered):
        reason = answer.reason
    else:
        reason = "no answer from the server"
    return EarlyData(
        requested=len(early),
        sent=sent.size if isinstance(sent, events.EarlyDataSent) else 0,
        accepted=accepted,
        reason="" if accepted else reason,
        resent=not accepted and run.completed,
    )


def _http_status_line(echoed: bytes) -> str | None:
    """The status line of an HTTP answer that came back instead of an echo."""
    if not echoed.startswith(b"HTTP/"):
        return None
    return echoed.split(b"\r\n", 1)[0].split(b"\n", 1)[0][:80].decode("ascii", "replace")


def _insert_echo_step(
    steps: list[Step], sent: bytes, echoed: bytes, matches: bool, answer: str | None
) -> None:
    """Where the client compared the echo with what it sent: after the last data it got
    (or at the end, when none came)."""
    received = [
        i
        for i, s in enumerate(steps)
        if s.name == "ApplicationData" and s.direction is Direction.RECEIVED
    ]
    at = received[-1] + 1 if received else len(steps)
    step = Step(
        name=ECHO_CHECK,
        direction=Direction.LOCAL,
        at_ms=steps[at - 1].at_ms if at else 0.0,
        size=0,
        fields={"sent": len(sent), "echoed": len(echoed), "matches": matches}
        | ({"http_answer": answer} if answer is not None else {}),
    )
    steps.insert(at, step)


def _secrets(run: ClientRun) -> list[events.SecretDerived]:
    return [ev for ev in run.all(events.SecretDerived) if isinstance(ev, events.SecretDerived)]


def _alert(error: TLSError | None) -> Alert | None:
    """The alert that ended the connection, said by the error: the peer's or ours."""
    if error is None:
        return None
    description = error.alert_name
    sent_by = Party.SERVER if error.sent_by_peer else Party.CLIENT
    return Alert(level="fatal", description=description, sent_by=sent_by)


def _chain_entry(cert: x509.Certificate) -> ChainEntry:
    return ChainEntry(
        subject=subject_text(cert),
        issuer=issuer_text(cert),
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc.isoformat(),
        not_after=cert.not_valid_after_utc.isoformat(),
    )


def _name(value: Any) -> Any:
    return getattr(value, "name", value)


def _step(at_ms: float, ev: events.Event) -> Step | None:
    """A report step for an engine event, or None for events that are not steps."""
    at = round(at_ms, 3)
    match ev:
        case events.HandshakeMessageSent(name=name, size=size, fields=fields):
            return Step(name=name, direction=Direction.SENT, at_ms=at, size=size, fields=fields)
        case events.HandshakeMessageReceived(name=name, size=size, fields=fields):
            return Step(name=name, direction=Direction.RECEIVED, at_ms=at, size=size, fields=fields)
        case events.SecretDerived(label=label):
            return Step(
                name="SecretDerived",
                direction=Direction.LOCAL,
                at_ms=at,
                size=0,
                fields={"label": label},
            )
        case events.HandshakeComplete():
            return Step(
                name="HandshakeComplete", direction=Direction.LOCAL, at_ms=at, size=0, fields={}
            )
        case events.EarlyDataSent(size=size):
            return Step(name=EARLY_DATA, direction=Direction.SENT, at_ms=at, size=size, fields={})
        case events.EarlyDataAnswered(accepted=accepted, reason=reason):
            return Step(
                name=EARLY_DATA_ANSWER,
                direction=Direction.LOCAL,
                at_ms=at,
                size=0,
                fields={"accepted": accepted, "reason": reason},
            )
        case ApplicationDataSent(size=size):
            return Step(
                name="ApplicationData", direction=Direction.SENT, at_ms=at, size=size, fields={}
            )
        case events.ApplicationDataReceived(data=data):
            return Step(
                name="ApplicationData",
                direction=Direction.RECEIVED,
                at_ms=at,
                size=len(data),
                fields={},
            )
        case events.AlertSent(level=level, description=description):
            return _alert_step(at, Direction.SENT, level, description)
        case events.AlertReceived(level=level, description=description):
            return _alert_step(at, Direction.RECEIVED, level, description)
    return None


def _alert_step(at_ms: float, direction: Direction, level: Any, description: Any) -> Step:
    fields = {"level": _name(level), "description": _name(description)}
    return Step(name="Alert", direction=direction, at_ms=at_ms, size=2, fields=fields)
