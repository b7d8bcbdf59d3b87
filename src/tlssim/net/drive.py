"""Runs the sans-IO engine over a Transport: the only place where TLS meets I/O."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tlssim.clock import monotonic_ms
from tlssim.net.transport import Transport
from tlssim.tls import AlertDescription, ClientConnection, ServerConnection, events

# Decides on the server's certificate: None accepts it, an alert rejects it.
CertificateDecider = Callable[[events.CertificateReceived], Awaitable[AlertDescription | None]]

# An idle peer may keep a connection open this long before the server gives up on it.
SERVER_IDLE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class TimedEvent:
    at_ms: float
    event: events.Event


@dataclass
class ClientRun:
    """Everything that happened on the client's side of one connection."""

    started_ms: float = field(default_factory=monotonic_ms)
    timeline: list[TimedEvent] = field(default_factory=list)
    echoed: bytes = b""
    failure: str | None = None  # transport-level failure (timeout, reset), not a TLS alert

    def record(self, evs: list[events.Event]) -> None:
        now = monotonic_ms() - self.started_ms
        self.timeline.extend(TimedEvent(now, ev) for ev in evs)

    def first(self, kind: type[events.Event]) -> TimedEvent | None:
        return next((t for t in self.timeline if isinstance(t.event, kind)), None)

    @property
    def completed(self) -> bool:
        return self.first(events.HandshakeComplete) is not None


async def run_client(
    conn: ClientConnection,
    transport: Transport,
    decide_certificate: CertificateDecider,
    application_data: bytes,
    deadline_s: float,
    run: ClientRun | None = None,
) -> ClientRun:
    """Handshakes, sends `application_data`, waits for its echo and closes, within a deadline."""
    run = run or ClientRun()
    try:
        async with asyncio.timeout(deadline_s):
            await _client_loop(conn, transport, decide_certificate, application_data, run)
    except TimeoutError:
        run.failure = f"no answer within {deadline_s:g} s"
    except (ConnectionError, OSError) as exc:
        run.failure = f"connection failed: {exc}"
    return run


async def _client_loop(
    conn: ClientConnection,
    transport: Transport,
    decide_certificate: CertificateDecider,
    application_data: bytes,
    run: ClientRun,
) -> None:
    run.record(conn.start())
    await _flush(conn, transport)
    closing = False
    while True:
        data = await transport.receive()
        pending = conn.receive_data(data)
        while pending:
            run.record(pending)
            follow_up: list[events.Event] = []
            for ev in pending:
                if isinstance(ev, events.CertificateReceived):
                    alert = await decide_certificate(ev)
                    follow_up = (
                        conn.accept_certificate()
                        if alert is None
                        else conn.reject_certificate(alert)
                    )
                elif isinstance(ev, events.HandshakeComplete):
                    if application_data:
                        conn.send_application_data(application_data)
                    else:
                        conn.close()
                        closing = True
                elif isinstance(ev, events.ApplicationDataReceived):
                    run.echoed += ev.data
                    if len(run.echoed) >= len(application_data) and not closing:
                        conn.close()
                        closing = True
                elif isinstance(ev, events.ConnectionClosed):
                    await _flush(conn, transport)
                    await transport.finish()
                    return
            pending = follow_up
        # One write for everything these bytes caused: in TLS 1.3 the client's Finished and
        # its first application data travel together (one gRPC message, one TCP send).
        await _flush(conn, transport)
        if not data:
            if not run.failure and not closing:
                run.failure = "the server closed the connection"
            return


async def serve_connection(conn: ServerConnection, transport: Transport) -> list[events.Event]:
    """Answers one client: handshake, echo every application data record, close on close."""
    seen: list[events.Event] = []
    try:
        async with asyncio.timeout(SERVER_IDLE_TIMEOUT_S):
            while True:
                data = await transport.receive()
                evs = conn.receive_data(data)
                seen.extend(evs)
                for ev in evs:
                    if isinstance(ev, events.ApplicationDataReceived):
                        conn.send_application_data(ev.data)
                await _flush(conn, transport)
                if not data or any(isinstance(ev, events.ConnectionClosed) for ev in evs):
                    break
    except (TimeoutError, ConnectionError, OSError):
        pass
    await transport.finish()
    return seen


async def _flush(conn: ClientConnection | ServerConnection, transport: Transport) -> None:
    out = conn.data_to_send()
    if out:
        await transport.send(out)
