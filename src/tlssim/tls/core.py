"""The core every connection shares: records, handshake reassembly, events and alerts.

Bytes come in through ``receive`` and leave through ``records.take_outgoing``; everything
that happens is reported as events. The core knows no handshake: each complete handshake
message goes to the current handshake object (one per role and version) through its
transition table (see ``states``); the first message picks that object through the
``select`` function the client or server facade provides. Key changes happen between
records, so a paused client (waiting for the caller to judge the certificate) simply
leaves the remaining records undecrypted.

Rules (RFC 8446, RFC 5246):
- handshake messages may span and share records, but never straddle a key change (5.1);
- TLS 1.3: a change_cipher_spec record of value 0x01 is ignored during the handshake (5);
- TLS 1.2: change_cipher_spec is a step of the handshake's table (``CHANGE_CIPHER_SPEC``)
  and shows in the events as a HandshakeMessageSent/Received named "ChangeCipherSpec";
- every alert except close_notify and user_canceled ends the connection (6), and so do
  TLS 1.2 fatal alerts, not its warnings;
- EOF inside a record or handshake message is a decode_error; after the handshake, EOF
  without the peer's close_notify (while we have not closed) is a truncation: we send
  close_notify and end with ``Truncated`` (6.1);
- a server that accepted 0-RTT takes application data before the handshake completes,
  as early data, up to max_early_data_size (4.2.10);
- zero-length application data is legal (5.1), but more than MAX_EMPTY_RECORDS empty
  records in a row, or MAX_KEY_UPDATES KeyUpdates without application data, end the
  connection (unexpected_message), as BoringSSL does;
- a local failure queues the fatal alert under the current write key and closes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tlssim.tls import events as ev
from tlssim.tls.config import Entropy
from tlssim.tls.constants import (
    MAX_EMPTY_RECORDS,
    MAX_HANDSHAKE_MESSAGE,
    AlertDescription,
    AlertLevel,
    ContentType,
    ProtocolVersion,
)
from tlssim.tls.errors import (
    DecodeError,
    IllegalParameter,
    InternalError,
    LocalProtocolError,
    PeerAlert,
    TLSError,
    Truncated,
    UnexpectedMessage,
)
from tlssim.tls.keyschedule import Transcript
from tlssim.tls.messages import parse_alert
from tlssim.tls.negotiated import Negotiated
from tlssim.tls.record import Protection, RecordLayer
from tlssim.tls.states import (
    CHANGE_CIPHER_SPEC,
    Handshake,
    State,
    Transition,
    message_name,
    sent,
)

#: Picks the handshake object from the first handshake message (type, body, raw).
Select = Callable[[int, bytes, bytes], Handshake]

_COMPAT_CCS = bytes([ContentType.change_cipher_spec, 3, 3, 0, 1, 1])
# How a TLS 1.3 compatibility change_cipher_spec shows in the events (it means nothing).
_COMPAT: dict[str, object] = {"compatibility": True}


class ConnectionCore:
    """Records in and out, the transcript, the event queue, alerts and closing."""

    def __init__(self, entropy: Entropy, is_client: bool, select: Select) -> None:
        self.entropy = entropy
        self.is_client = is_client
        self.records = RecordLayer()
        self.transcript = Transcript()
        self.events: list[ev.Event] = []
        #: Drives the handshake once the first hello chose a version.
        self.handshake: Handshake | None = None
        self._select = select
        self.hs_in = bytearray()
        self._hs_out = bytearray()
        #: For key log lines (every SecretDerived names the ClientHello.random).
        self.client_random = b""
        self.started = False
        self.paused = False
        self.peer_hello_seen = False
        self.write_closed = False
        self.closed = False
        self._eof = False
        self._compat_ccs_sent = False
        self._compat_ccs_unreported = False  # sent, its event still to come
        self._empty_records = 0
        #: KeyUpdates received since the last application data (counted by the TLS 1.3 keys).
        self.key_updates_in_a_row = 0
        #: Application data records we have sent (a KeyUpdate reply is owed once per silence).
        self.application_records_sent = 0
        self.negotiated: Negotiated | None = None
        #: A server reading accepted 0-RTT data: how many more bytes it takes (4.2.10).
        self.early_data_left: int | None = None
        #: The TLSError that ended the connection, if any (local or the peer's alert).
        self.error: TLSError | None = None

    @property
    def state(self) -> State:
        if self.closed:
            return State.CLOSED
        if self.negotiated is not None:
            return State.CONNECTED
        return State.HANDSHAKING if self.started else State.START

    def take_events(self) -> list[ev.Event]:
        out, self.events = self.events, []
        return out

    # -- input --------------------------------------------------------------------------

    def receive(self, data: bytes) -> list[ev.Event]:
        """Feed bytes from the peer (``b""`` means EOF); never raises a TLSError."""
        if self.closed:
            return []
        if data:
            self.records.feed(data)
        else:
            self._eof = True
        if self.paused:
            return []
        return self.run()

    def run(self) -> list[ev.Event]:
        """Process what has arrived; any failure ends in a fatal alert."""
        try:
            self._process()
        except TLSError as exc:
            self.fail(exc)
        except Exception as exc:  # a bug must still end in an alert, never escape
            self.fail(InternalError(f"internal error: {exc!r}"))
        return self.take_events()

    def _process(self) -> None:
        self._drain_handshake()
        while not self.closed and not self.paused:
            record = self.records.next_record()
            if record is None:
                break
            content_type, payload = record
            if payload:
                self._empty_records = 0
            else:
                self._count_empty(payload)
            if self.hs_in and content_type != ContentType.handshake:
                raise UnexpectedMessage("handshake message interleaved with another record")
            if content_type == ContentType.handshake:
                if not payload:
                    raise UnexpectedMessage("empty handshake record")
                self.hs_in += payload
                self._drain_handshake()
            elif content_type == ContentType.application_data:
                self._on_application_data(payload)
            elif content_type == ContentType.alert:
                self._on_alert(payload)
            elif content_type == ContentType.change_cipher_spec:
                self._on_change_cipher_spec(payload)
            else:
                raise UnexpectedMessage("unexpected record type")
        if self._eof and not self.paused and not self.closed:
            if self.records.has_partial() or self.hs_in:
                raise DecodeError("connection closed in the middle of a record or message")
            if self.negotiated is not None and not self.write_closed:
                self._truncated()
                return
            self.closed = True
            self.events.append(ev.ConnectionClosed())

    def _truncated(self) -> None:
        """EOF without close_notify after the handshake: close our side and say so."""
        self.error = Truncated("connection closed without close_notify: data may be missing")
        self.write_alert(AlertLevel.warning, AlertDescription.close_notify)
        self.write_closed = self.closed = True
        self.events.append(ev.AlertSent(AlertLevel.warning, AlertDescription.close_notify))
        self.events.append(ev.ConnectionClosed(self.error))

    def _drain_handshake(self) -> None:
        buf = self.hs_in
        while len(buf) >= 4 and not self.paused and not self.closed:
            length = (buf[1] << 16) | (buf[2] << 8) | buf[3]
            if length > MAX_HANDSHAKE_MESSAGE:
                raise IllegalParameter(
                    f"a handshake message of {length} bytes: larger than the "
                    f"{MAX_HANDSHAKE_MESSAGE} this engine accepts"
                )
            if len(buf) < 4 + length:
                return
            raw = bytes(buf[: 4 + length])
            del buf[: 4 + length]
            self._dispatch(raw[0], raw[4:], raw)

    def _dispatch(self, msg_type: int, body: bytes, raw: bytes) -> None:
        """Run the table entry for (state, message) and move to the state it names."""
        hs = self.handshake
        if hs is None:
            hs = self.handshake = self._select(msg_type, body, raw)
        step = hs.transitions.get((hs.state, msg_type))
        if step is None:
            raise UnexpectedMessage(
                f"{message_name(msg_type)} not expected in state {hs.state.name}"
            )
        self._take(hs, step, body, raw)

    def step_sent(self, hs: Handshake, msg_type: int) -> None:
        """Send `msg_type` on the caller's request (not in answer to a message), as the
        table's ``sent(msg_type)`` entry for the current state says, and move on."""
        step = hs.transitions.get((hs.state, sent(msg_type)))
        if step is None:
            raise LocalProtocolError(
                f"cannot send {message_name(msg_type)} in state {hs.state.name}"
            )
        self._take(hs, step, b"", b"")

    @staticmethod
    def _take(hs: Handshake, step: Transition[Any], body: bytes, raw: bytes) -> None:
        """Run a table entry's handler and move to the state it names."""
        chosen = step.handler(hs, body, raw)
        if chosen is None and len(step.next_states) == 1:
            hs.state = step.next_states[0]
        elif chosen in step.next_states:
            hs.state = chosen
        else:
            raise InternalError(f"{step.handler.__name__} chose {chosen}, not in its table entry")

    def _count_empty(self, payload: bytes) -> None:
        if payload:
            self._empty_records = 0
            return
        self._empty_records += 1
        if self._empty_records > MAX_EMPTY_RECORDS:
            raise UnexpectedMessage(f"more than {MAX_EMPTY_RECORDS} empty records in a row")

    def _on_application_data(self, payload: bytes) -> None:
        if self.negotiated is None and self.early_data_left is not None:
            if len(payload) > self.early_data_left:
                raise UnexpectedMessage("more early data than max_early_data_size")
            self.early_data_left -= len(payload)
            if payload:
                self.events.append(ev.EarlyDataReceived(payload))
            return
        if self.negotiated is None:
            raise UnexpectedMessage("application data before the handshake completed")
        if payload:
            self.key_updates_in_a_row = 0
            self.events.append(ev.ApplicationDataReceived(payload))

    def _on_alert(self, payload: bytes) -> None:
        level, description = parse_alert(payload)
        self.events.append(ev.AlertReceived(level, description))
        if description == AlertDescription.user_canceled:
            return
        if self._tls12() and level == AlertLevel.warning and description != 0:
            return  # TLS 1.2 warnings (e.g. no_renegotiation) do not end the connection
        if description == AlertDescription.close_notify:
            if not self.write_closed:
                self.write_alert(AlertLevel.warning, AlertDescription.close_notify)
                self.write_closed = True
                self.events.append(ev.AlertSent(AlertLevel.warning, AlertDescription.close_notify))
        else:
            alert = description if isinstance(description, AlertDescription) else None
            self.error = PeerAlert(alert, payload[1])
        self.closed = True
        self.events.append(ev.ConnectionClosed(self.error))

    def _on_change_cipher_spec(self, payload: bytes) -> None:
        if payload != b"\x01":
            raise UnexpectedMessage("malformed change_cipher_spec")
        if self._tls12():
            self._dispatch(CHANGE_CIPHER_SPEC, payload, payload)
        elif not self.peer_hello_seen or self.negotiated is not None:
            raise UnexpectedMessage("unexpected change_cipher_spec")
        else:
            # TLS 1.3 middlebox compatibility (D.4): dropped, but it went over the wire
            self.events.append(ev.HandshakeMessageReceived("ChangeCipherSpec", 1, dict(_COMPAT)))

    def _tls12(self) -> bool:
        return self.handshake is not None and self.handshake.version == ProtocolVersion.TLSv1_2

    # -- failing and closing ----------------------------------------------------------------

    def fail(self, exc: TLSError) -> None:
        if self.closed:
            return
        self.error = exc
        self._hs_out.clear()
        self.write_alert(AlertLevel.fatal, exc.alert)
        self.closed = True
        self.paused = False
        self.events.append(ev.AlertSent(AlertLevel.fatal, exc.alert))
        self.events.append(ev.ConnectionClosed(exc))

    def close(self) -> list[ev.Event]:
        """Queue close_notify. Reading stays open until the peer's close_notify or EOF."""
        if self.closed or self.write_closed:
            return []
        self.write_alert(AlertLevel.warning, AlertDescription.close_notify)
        self.write_closed = True
        out: list[ev.Event] = [ev.AlertSent(AlertLevel.warning, AlertDescription.close_notify)]
        if self.negotiated is None:
            self.closed = True
            out.append(ev.ConnectionClosed())
        return out

    # -- output -------------------------------------------------------------------------

    def send_application_data(self, data: bytes) -> None:
        if self.negotiated is None or self.closed or self.write_closed:
            raise LocalProtocolError(f"cannot send application data in state {self.state.name}")
        self.records.write(ContentType.application_data, data)
        self.application_records_sent += 1

    def write_alert(self, level: AlertLevel, description: AlertDescription) -> None:
        self._report_compat_ccs()
        self.flush_handshake()
        self.records.write(ContentType.alert, bytes([level, description]))

    def send_handshake(self, raw: bytes, name: str, fields: dict[str, object]) -> None:
        """Queue a handshake message (coalesced into records at the next flush)."""
        self.transcript.add(raw)
        self._hs_out += raw
        if self._compat_ccs_unreported:
            self._report_compat_ccs()
        self.events.append(ev.HandshakeMessageSent(name, len(raw), fields))

    def send_post_handshake(self, raw: bytes, name: str, fields: dict[str, object]) -> None:
        """A message outside the transcript (NewSessionTicket, KeyUpdate), in its own record."""
        self.records.write(ContentType.handshake, raw)
        self._report_compat_ccs()
        self.events.append(ev.HandshakeMessageSent(name, len(raw), fields))

    def flush_handshake(self) -> None:
        if self._hs_out:
            self.records.write(ContentType.handshake, bytes(self._hs_out))
            self._hs_out.clear()

    def send_first_client_hello(self, raw: bytes) -> None:
        """The first ClientHello goes out in a record versioned 0x0301 (RFC 8446 5.1)."""
        self._hs_out.clear()
        self.records.write_plaintext(ContentType.handshake, raw, 0x0301)

    def send_compat_ccs(self) -> None:
        """TLS 1.3 middlebox compatibility (D.4): one change_cipher_spec, at most. Its event
        comes with what we send next (it leaves with our next flight)."""
        if not self._compat_ccs_sent:
            self.flush_handshake()
            self.records.outgoing += _COMPAT_CCS
            self._compat_ccs_sent = self._compat_ccs_unreported = True

    def _report_compat_ccs(self) -> None:
        if self._compat_ccs_unreported:
            self._compat_ccs_unreported = False
            self.events.append(ev.HandshakeMessageSent("ChangeCipherSpec", 1, dict(_COMPAT)))

    def send_change_cipher_spec(self, protection: Protection) -> None:
        """TLS 1.2: change_cipher_spec, then everything we write is under ``protection``."""
        self.flush_handshake()
        self.records.write(ContentType.change_cipher_spec, b"\x01")
        self.records.write_protection = protection
        self.events.append(ev.HandshakeMessageSent("ChangeCipherSpec", 1, {}))

    def received(self, raw: bytes, name: str, fields: dict[str, object]) -> None:
        """A handshake message taken into the transcript and reported."""
        self.transcript.add(raw)
        self.events.append(ev.HandshakeMessageReceived(name, len(raw), fields))

    # -- keys and completion --------------------------------------------------------------

    def secret(self, label: str, secret: bytes) -> None:
        self.events.append(ev.SecretDerived(label, self.client_random, secret))

    def set_read_protection(self, protection: Protection) -> None:
        if self.hs_in:
            raise UnexpectedMessage("handshake data straddles a key change")
        self.records.read_protection = protection

    def set_write_protection(self, protection: Protection) -> None:
        self.flush_handshake()
        self.records.write_protection = protection

    def pause(self) -> None:
        """Stop processing until the caller decides on the certificate."""
        self.paused = True

    def complete(self, negotiated: Negotiated) -> None:
        self.negotiated = negotiated
        self.events.append(negotiated.event())
