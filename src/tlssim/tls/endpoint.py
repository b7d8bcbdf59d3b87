"""What every connection offers its caller, whichever side it is: bytes in and out, events,
closing, and what the handshake settled. ``ClientConnection`` and ``ServerConnection`` add
how each side starts and picks its version."""

from __future__ import annotations

from tlssim.tls import events as ev
from tlssim.tls.constants import AlertDescription
from tlssim.tls.core import ConnectionCore
from tlssim.tls.errors import LocalProtocolError, TLSError
from tlssim.tls.negotiated import Negotiated
from tlssim.tls.states import HandshakeState, State


class Endpoint:
    """One side of a connection, over its core."""

    _core: ConnectionCore

    def receive_data(self, data: bytes) -> list[ev.Event]:
        """Feed bytes from the peer (``b""`` means EOF); never raises a TLSError."""
        return self._core.receive(data)

    def data_to_send(self) -> bytes:
        """Bytes to put on the wire; drains the outgoing buffer."""
        return self._core.records.take_outgoing()

    def send_application_data(self, data: bytes) -> None:
        self._core.send_application_data(data)

    def close(self) -> list[ev.Event]:
        """Queue close_notify. Reading stays open until the peer's close_notify or EOF."""
        return self._core.close()

    def accept_certificate(self) -> list[ev.Event]:
        """Resume after CertificateReceived: verify CertificateVerify and Finished."""
        core = self._core
        if not core.paused:
            raise LocalProtocolError("no certificate is awaiting a decision")
        core.paused = False
        return core.run()

    def reject_certificate(
        self, alert: AlertDescription = AlertDescription.bad_certificate
    ) -> list[ev.Event]:
        """Abort after CertificateReceived with a fatal ``alert``."""
        core = self._core
        if not core.paused:
            raise LocalProtocolError("no certificate is awaiting a decision")
        core.fail(TLSError("certificate rejected by the caller", alert))
        return core.take_events()

    @property
    def awaiting_certificate_decision(self) -> bool:
        """The peer's chain (a server's, or a client's when we asked) awaits the caller."""
        return self._core.paused

    @property
    def state(self) -> State:
        return self._core.state

    @property
    def handshake_state(self) -> HandshakeState | None:
        """The version's handshake state once the first hello chose it (for diagnosis)."""
        handshake = self._core.handshake
        return None if handshake is None else handshake.state

    @property
    def negotiated(self) -> Negotiated | None:
        """Version, suite, group, signature scheme and SNI once the handshake completed."""
        return self._core.negotiated

    @property
    def handshake_complete(self) -> bool:
        return self._core.negotiated is not None

    @property
    def closed(self) -> bool:
        return self._core.closed

    @property
    def error(self) -> TLSError | None:
        """The TLSError that ended the connection, if any (local or the peer's alert)."""
        return self._core.error
