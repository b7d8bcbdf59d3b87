"""Runs the server side of the sans-IO engine over a Transport: where TLS meets I/O.
(The client side lives in tlssim.client.run.)"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from tlssim.net.echo import Echo
from tlssim.net.transport import Transport
from tlssim.tls import AlertDescription, ClientConnection, ServerConnection, events
from tlssim.tls.config import ClientAuth

#: Decides on a client's certificate: None accepts, an alert refuses.
Judge = Callable[[events.CertificateReceived], Awaitable[AlertDescription | None]]

# An idle peer may keep a connection open this long before the server gives up on it.
SERVER_IDLE_TIMEOUT_S = 30.0


async def serve_connection(
    conn: ServerConnection,
    transport: Transport,
    judge: Judge | None = None,
    authenticate: ClientAuth | None = None,
) -> list[events.Event]:
    """Answers one client: handshake, echo (see ``echo``), close on close.

    A client's certificate (on hosts that ask for one, or after the handshake when a
    request for the private path comes and ``authenticate`` says what to ask) goes to
    ``judge``; without one it is refused with bad_certificate."""
    seen: list[events.Event] = []
    echo = Echo(conn, authenticate)
    try:
        async with asyncio.timeout(SERVER_IDLE_TIMEOUT_S):
            while True:
                data = await transport.receive()
                evs = conn.receive_data(data)
                evs += await _decide(conn, evs, judge)
                # Data and close_notify can arrive in one read: no echo after the close.
                evs += echo.answer(evs)
                seen.extend(evs)
                await flush(conn, transport)
                if not data or any(isinstance(ev, events.ConnectionClosed) for ev in evs):
                    break
    except (TimeoutError, ConnectionError, OSError):
        pass
    await transport.finish()
    return seen


async def _decide(
    conn: ServerConnection, evs: list[events.Event], judge: Judge | None
) -> list[events.Event]:
    received = next((e for e in evs if isinstance(e, events.CertificateReceived)), None)
    if received is None or not conn.awaiting_certificate_decision:
        return []
    alert = AlertDescription.bad_certificate if judge is None else await judge(received)
    return conn.accept_certificate() if alert is None else conn.reject_certificate(alert)


async def flush(conn: ClientConnection | ServerConnection, transport: Transport) -> None:
    """Sends whatever the engine has queued, in one write."""
    out = conn.data_to_send()
    if out:
        await transport.send(out)
