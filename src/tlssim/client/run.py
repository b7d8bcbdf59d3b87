"""Runs the client side of the sans-IO engine over a Transport: handshake, send the
application data, wait for its echo, close; and records what happened, with times."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tlssim.clock import monotonic_ms
from tlssim.net.drive import flush
from tlssim.net.transport import Transport
from tlssim.tls import AlertDescription, ClientConnection, ProtocolVersion, TLSError, events

# Decides on the server's certificate: None accepts it, an alert rejects it.
CertificateDecider = Callable[[events.CertificateReceived], Awaitable[AlertDescription | None]]


#: Why a run failed when the server closed cleanly (close_notify) too early.
SERVER_CLOSED_BEFORE_DATA = "the server closed the connection before any application data"
SERVER_CLOSED_IN_HANDSHAKE = "the server closed the connection during the handshake"
#: Why a run asked to update its keys failed when the server chose TLS 1.2.
NO_KEY_UPDATE_IN_TLS12 = "the server chose TLS 1.2, which has no KeyUpdate (TLS 1.3 only)"


@dataclass(frozen=True, slots=True)
class ApplicationDataSent(events.Event):
    """The client handed its application data to the engine (not an engine event: the
    engine reports what it receives, the client records what it sends)."""

    size: int


@dataclass(frozen=True, kw_only=True, slots=True)
class TimedEvent:
    at_ms: float  # since the run started
    event: events.Event


@dataclass(frozen=True, kw_only=True)
class ClientRun:
    """Everything that happened on the client's side of one connection."""

    started_ms: float  # monotonic_ms() when the run started
    timeline: tuple[TimedEvent, ...] = ()
    echoed: bytes = b""
    # What ended the connection, if not a clean close: a local TLSError (the client sent its
    # alert) or a tlssim.tls.PeerAlert (the server sent one).
    error: TLSError | None = None
    failure: str | None = None  # transport-level failure (timeout, reset), not a TLS alert
    # False when the peer is not expected to echo the application data (a plain TLS server).
    echo_expected: bool = True

    def first(self, kind: type[events.Event]) -> TimedEvent | None:
        return next((t for t in self.timeline if isinstance(t.event, kind)), None)

    def all(self, kind: type[events.Event]) -> list[events.Event]:
        return [t.event for t in self.timeline if isinstance(t.event, kind)]

    @property
    def completed(self) -> bool:
        return self.first(events.HandshakeComplete) is not None

    @property
    def last_ms(self) -> float:
        return self.timeline[-1].at_ms if self.timeline else 0.0


@dataclass
class _Recorder:
    """The run while it happens; frozen into a ClientRun at the end."""

    started_ms: float
    timeline: list[TimedEvent] = field(default_factory=list)
    echoed: bytes = b""
    error: TLSError | None = None
    failure: str | None = None
    echo_expected: bool = True

    def record(self, evs: list[events.Event]) -> None:
        now = monotonic_ms() - self.started_ms
        self.timeline.extend(TimedEvent(at_ms=now, event=ev) for ev in evs)
        for ev in evs:
            if isinstance(ev, events.ConnectionClosed) and ev.error is not None:
                self.error = ev.error

    def frozen(self) -> ClientRun:
        return ClientRun(
            started_ms=self.started_ms,
            timeline=tuple(self.timeline),
            echoed=self.echoed,
            error=self.error,
            failure=self.failure,
            echo_expected=self.echo_expected,
        )


async def run_client(
    conn: ClientConnection,
    transport: Transport,
    decide_certificate: CertificateDecider,
    application_data: bytes,
    deadline_s: float,
    *,
    started_ms: float | None = None,
    expect_echo: bool = True,
    early_data: bytes = b"",
    key_update: bool = False,
) -> ClientRun:
    """Handshakes, sends `application_data`, waits for its echo (unless not `expect_echo`)
    and closes, within a deadline. Times are counted from `started_ms` (monotonic_ms()), by
    default from now.

    `early_data` (the engine's config sends it in 0-RTT when it can) is echoed before the
    application data; when it did not go in 0-RTT, or the server rejected it, it is sent
    again as ordinary application data first. With `key_update` (TLS 1.3) a
    KeyUpdate(update_requested) goes first and the data follows under the new key."""
    run = _Recorder(monotonic_ms() if started_ms is None else started_ms)
    run.echo_expected = expect_echo
    try:
        async with asyncio.timeout(deadline_s):
            await _client_loop(
                conn, transport, decide_certificate, application_data, early_data, run, key_update
            )
    except TimeoutError:
        run.failure = f"no answer within {deadline_s:g} s"
    except (ConnectionError, OSError) as exc:
        run.failure = f"connection failed: {exc}"
    return run.frozen()


def failed_run(started_ms: float, failure: str) -> ClientRun:
    """A run that never reached the server (it could not be connected to)."""
    return ClientRun(started_ms=started_ms, failure=failure)


async def _client_loop(
    conn: ClientConnection,
    transport: Transport,
    decide_certificate: CertificateDecider,
    application_data: bytes,
    early_data: bytes,
    run: _Recorder,
    key_update: bool = False,
) -> None:
    run.record(conn.start())
    await flush(conn, transport)
    closing = False
    early_taken = False
    expected = early_data + application_data
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
                elif isinstance(ev, events.EarlyDataAnswered):
                    early_taken = ev.accepted
                elif isinstance(ev, events.HandshakeComplete) and conn.closed:
                    # The server's close (or alert) came in the same read as its last
                    # handshake message: nothing may be sent; an alert says why itself.
                    if expected and conn.error is None:
                        run.failure = SERVER_CLOSED_BEFORE_DATA
                elif isinstance(ev, events.HandshakeComplete):
                    if key_update and ev.version != ProtocolVersion.TLSv1_3:
                        run.failure = NO_KEY_UPDATE_IN_TLS12
                        run.echo_expected = False  # no data went: no echo to miss
                        run.record(conn.close())
                        closing = True
                        continue
                    if key_update:
                        run.record(conn.update_keys(request_peer=True))
                    if early_data and not early_taken:
                        conn.send_application_data(early_data)  # 1-RTT after all
                        run.record([ApplicationDataSent(len(early_data))])
                    if application_data:
                        conn.send_application_data(application_data)
                        run.record([ApplicationDataSent(len(application_data))])
                    if not expected or not run.echo_expected:
                        conn.close()
                        closing = True
                elif isinstance(ev, events.ApplicationDataReceived):
                    run.echoed += ev.data
                    if len(run.echoed) >= len(expected) and not closing:
                        conn.close()
                        closing = True
                elif isinstance(ev, events.ConnectionClosed):
                    if not conn.handshake_complete and ev.error is None and not run.failure:
                        run.failure = SERVER_CLOSED_IN_HANDSHAKE
                    await flush(conn, transport)
                    await transport.finish()
                    return
            pending = follow_up
        # One write for everything these bytes caused: in TLS 1.3 the client's Finished and
        # its first application data travel together (one gRPC message, one TCP send).
        await flush(conn, transport)
        if closing and application_data and run.echo_expected:
            # The echo is back and our close_notify is sent: the run is over. The server's
            # close_notify is read while the connection is released (RFC 8446 §6.1 does not
            # make the closing side wait for it); the server's trace shows it. We send
            # nothing more: say so (a TCP FIN, the end of a gRPC request stream), as a
            # relay in between must know to end its own call upstream.
            await transport.finish()
            return
        if not data:
            if not run.failure and not closing:
                run.failure = "the server closed the connection"
            return
