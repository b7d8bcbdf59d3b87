"""The server side of the engine on a TCP connection, driven from the event loop's own
callbacks: what ``serve_connection`` over a ``TcpTransport`` does (handshake, echo, close on
close, the same idle limit), without a task, a stream reader and writer, and a loop pass for
each read. Only a client certificate's decision, which may wait on a responder, runs in a
task of its own (reading paused meanwhile, as the stream version reads nothing while it
waits)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Callable
from typing import Any

from tlssim.net.drive import SERVER_IDLE_TIMEOUT_S, Judge
from tlssim.net.echo import Echo
from tlssim.tls import AlertDescription, ServerConnection, events
from tlssim.tls.config import ClientAuth

log = logging.getLogger(__name__)

#: Told once the connection is closed, with the peer's address (the socket's peername).
Finished = Callable[[Any], None]


class EngineProtocol(asyncio.Protocol):
    """One TCP connection of a server. ``context``: the context every step runs in (the
    connection's trace id); ``finished`` is called in it once the socket is closed, unless
    the engine failed unexpectedly (then the error is logged and the socket closed)."""

    def __init__(
        self,
        conn: ServerConnection,
        context: contextvars.Context,
        finished: Finished,
        judge: Judge | None = None,
        authenticate: ClientAuth | None = None,
    ) -> None:
        self._conn = conn
        self._context = context
        self._finished = finished
        self._judge = judge
        self._echo = Echo(conn, authenticate)
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._deciding: asyncio.Task[None] | None = None
        # Bytes that came while a decision was awaited (reading is paused then; a read
        # already under way may still deliver).
        self._held = bytearray()
        self._held_eof = False
        self._write_paused = False
        self._ending = False
        self._failed = False

    # -- asyncio's calls ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(SERVER_IDLE_TIMEOUT_S, self._context.run, self._timed_out)

    def data_received(self, data: bytes) -> None:
        self._context.run(self._take, data)

    def eof_received(self) -> bool:
        self._context.run(self._take, b"")
        return True  # the socket stays open for what is left to send

    def connection_lost(self, exc: Exception | None) -> None:
        self._context.run(self._lost)

    def pause_writing(self) -> None:
        # As drain() would: read nothing more until the peer takes what is queued.
        self._write_paused = True
        self._pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._deciding is None:
            self._resume_reading()

    # -- the connection ----------------------------------------------------------------------

    def _take(self, data: bytes) -> None:
        if self._ending:
            return
        if self._deciding is not None:
            if data:
                self._held += data
            else:
                self._held_eof = True
            return
        try:
            self._step(data)
        except Exception:
            self._fail()

    def _step(self, data: bytes) -> None:
        """One read's worth, as serve_connection's loop body."""
        conn = self._conn
        evs = conn.receive_data(data)
        received = next((e for e in evs if isinstance(e, events.CertificateReceived)), None)
        if received is not None and conn.awaiting_certificate_decision:
            if self._judge is not None:
                self._pause_reading()
                self._deciding = asyncio.get_running_loop().create_task(
                    self._decide(data, evs, received, self._judge), context=self._context
                )
                return
            evs += conn.reject_certificate(AlertDescription.bad_certificate)
        self._answer(data, evs)

    async def _decide(
        self,
        data: bytes,
        evs: list[events.Event],
        received: events.CertificateReceived,
        judge: Judge,
    ) -> None:
        try:
            alert = await judge(received)
            if self._ending:
                return
            conn = self._conn
            evs += conn.accept_certificate() if alert is None else conn.reject_certificate(alert)
            self._answer(data, evs)
        except Exception:
            self._fail()
            return
        finally:
            self._deciding = None
        if self._ending:
            return
        held, self._held = bytes(self._held), bytearray()
        if held:
            self._take(held)
        if self._held_eof and not self._ending and self._deciding is None:
            self._take(b"")
        if not self._ending and self._deciding is None and not self._write_paused:
            self._resume_reading()

    def _answer(self, data: bytes, evs: list[events.Event]) -> None:
        # Data and close_notify can arrive in one read: no echo after the close.
        evs += self._echo.answer(evs)
        out = self._conn.data_to_send()
        transport = self._transport
        if out and transport is not None and not transport.is_closing():
            transport.write(out)
        if not data or any(isinstance(ev, events.ConnectionClosed) for ev in evs):
            self._end()

    def _end(self) -> None:
        """No more reading: tell the peer nothing more comes (FIN), then close."""
        if self._ending:
            return
        self._ending = True
        if self._timer is not None:
            self._timer.cancel()
        transport = self._transport
        if transport is None:
            return
        if transport.can_write_eof() and not transport.is_closing():
            with contextlib.suppress(OSError):
                transport.write_eof()
        transport.close()

    def _timed_out(self) -> None:
        if self._deciding is not None:
            self._deciding.cancel()
            self._deciding = None
        self._end()

    def _fail(self) -> None:
        self._failed = True
        log.exception("serving a TCP connection failed")
        self._ending = True
        if self._timer is not None:
            self._timer.cancel()
        if self._transport is not None:
            self._transport.close()

    def _lost(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if not self._ending:
            # Reset or gone without our close: the engine hears of the end as a read of
            # nothing would tell it; nothing more can be sent.
            if self._deciding is not None:
                self._deciding.cancel()
                self._deciding = None
            self._ending = True
            try:
                self._conn.receive_data(b"")
            except Exception:
                self._failed = True
                log.exception("serving a TCP connection failed")
        if self._failed:
            return
        transport = self._transport
        self._finished(None if transport is None else transport.get_extra_info("peername"))

    def _pause_reading(self) -> None:
        transport = self._transport
        if transport is not None and transport.is_reading():
            transport.pause_reading()

    def _resume_reading(self) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing() and not transport.is_reading():
            transport.resume_reading()
