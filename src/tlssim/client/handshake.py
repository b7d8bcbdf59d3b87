"""One handshake request, end to end: connect, run the engine, decide on the certificate,
build the report (for --resume: a full handshake first, then one that resumes it)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tlssim.client.policy import CertificatePolicy
from tlssim.client.reporting import TimedDecision, build_report
from tlssim.client.request import Plan
from tlssim.client.run import ClientRun, failed_run, run_client
from tlssim.clock import monotonic_ms
from tlssim.net.transport import RecordingTransport, Transport
from tlssim.report.model import Capture, FirstHandshake, Report, Wire
from tlssim.tls import AlertDescription, ClientConfig, ClientConnection, Session, events

HANDSHAKE_DEADLINE_S = 10.0
NO_SESSION = "the server offered no session to resume"


@dataclass(frozen=True, kw_only=True)
class Connector:
    """How to reach the server: `open` returns a connected transport or raises
    (OSError, ValueError, TimeoutError) with why it could not."""

    label: str  # grpc://HOST:PORT or tcp://HOST:PORT, for the report
    open: Callable[[], Awaitable[Transport]]


@dataclass(frozen=True, kw_only=True, slots=True)
class _Attempt:
    """One connection's run, its certificate decision and what it leaves behind."""

    run: ClientRun
    decided: TimedDecision | None
    capture: Capture | None
    session: Session | None
    wire: Wire | None = None


async def run_handshake(
    plan: Plan,
    policy: CertificatePolicy,
    connector: Connector,
    trace_id: str,
    *,
    client_replica: str | None = None,
) -> Report:
    started = monotonic_ms()
    config = plan.config
    first: FirstHandshake | None = None
    if plan.resume:
        first_plan = dataclasses.replace(plan, early_data=b"", key_update=False)
        attempt = await _connect_once(first_plan, config, policy, connector)
        if attempt.session is None:
            return _report(
                first_plan,
                attempt,
                connector,
                trace_id,
                failure=NO_SESSION,
                replica=client_replica,
            )
        first = _report(first_plan, attempt, connector, trace_id).first_handshake_summary()
        # 0-RTT, when asked for, goes with the resumed session's ClientHello
        config = dataclasses.replace(config, session=attempt.session, early_data=plan.early_data)
    attempt = await _connect_once(plan, config, policy, connector)
    return _report(
        plan,
        attempt,
        connector,
        trace_id,
        first=first,
        total_ms=monotonic_ms() - started,
        replica=client_replica,
    )


def _report(
    plan: Plan,
    attempt: _Attempt,
    connector: Connector,
    trace_id: str,
    *,
    first: FirstHandshake | None = None,
    total_ms: float | None = None,
    failure: str | None = None,
    replica: str | None = None,
) -> Report:
    report = build_report(
        run=attempt.run,
        decided=attempt.decided,
        server_name=plan.target.sni,
        target=connector.label,
        trace_id=trace_id,
        application_data=plan.application_data,
        early_data=plan.early_data,
        keylog=plan.keylog,
        capture=attempt.capture,
        first_handshake=first,
        total_ms=total_ms,
        failure=failure,
        client_replica=replica,
        client_cert_why=plan.client_cert_why,
    )
    return dataclasses.replace(report, wire=attempt.wire)


async def _connect_once(
    plan: Plan, config: ClientConfig, policy: CertificatePolicy, connector: Connector
) -> _Attempt:
    """One connection: handshake, echo, close."""
    started = monotonic_ms()
    decisions: list[TimedDecision] = []

    async def decide(received: events.CertificateReceived) -> AlertDescription | None:
        begun = monotonic_ms() - started
        decision = await policy.decide(received)
        decisions.append(
            TimedDecision(decision=decision, started_ms=begun, finished_ms=monotonic_ms() - started)
        )
        return decision.alert

    try:
        async with asyncio.timeout(HANDSHAKE_DEADLINE_S):  # no task of its own, as wait_for makes
            opened = await connector.open()
    except (OSError, ValueError, TimeoutError) as exc:
        where = connector.label.split("://", 1)[-1]
        return _Attempt(
            run=failed_run(started, f"cannot connect to {where}: {exc}"),
            decided=None,
            capture=None,
            session=None,
        )
    transport = RecordingTransport(opened)  # what went over the wire, for the report
    try:
        run = await run_client(
            ClientConnection(config),
            transport,
            decide,
            plan.application_data,
            HANDSHAKE_DEADLINE_S,
            started_ms=started,
            expect_echo=plan.expect_echo,
            early_data=plan.early_data,
            key_update=plan.key_update,
        )
    finally:
        _close_in_background(transport)
    sessions = run.all(events.SessionReceived)
    last = sessions[-1] if sessions else None
    return _Attempt(
        run=run,
        decided=decisions[-1] if decisions else None,
        capture=Capture(
            client_to_server=bytes(transport.sent),
            server_to_client=bytes(transport.received),
            order=tuple(
                ("client" if way == "sent" else "server", size) for way, size in transport.order
            ),
        )
        if plan.capture
        else None,
        session=last.session if isinstance(last, events.SessionReceived) else None,
        wire=Wire(
            sent_bytes=len(transport.sent),
            received_bytes=len(transport.received),
            sent_records=count_records(transport.sent),
            received_records=count_records(transport.received),
        ),
    )


def count_records(stream: bytes | bytearray) -> int:
    """The whole TLS records in a byte stream (5-byte header, then its length)."""
    count = at = 0
    while at + 5 <= len(stream):
        at += 5 + int.from_bytes(stream[at + 3 : at + 5], "big")
        if at <= len(stream):
            count += 1
    return count


# Closing tasks still running: the report does not wait for the server to finish its side.
_CLOSING: set[asyncio.Task[None]] = set()


def _close_in_background(transport: Transport) -> None:
    closing = asyncio.create_task(transport.close())
    _CLOSING.add(closing)
    closing.add_done_callback(_CLOSING.discard)
