"""The sans-IO connection core shared by client and server.

Bytes come in through ``receive_data`` and leave through ``data_to_send``; everything that
happens is reported as events. Each side dispatches handshake messages through an explicit
transition table ``{(state, HandshakeType): handler}``; anything not in the table is an
unexpected_message. Key changes happen between records, so a paused client (waiting for the
caller to judge the certificate) simply leaves the remaining records undecrypted.

Rules (RFC 8446, RFC 5246):
- handshake messages may span and share records, but never straddle a key change (5.1);
- TLS 1.3: a change_cipher_spec record of value 0x01 is ignored during the handshake (5);
- TLS 1.2: change_cipher_spec is accepted only in WAIT_CCS, where it switches the read key
  (the write key switches right after we send ours); it shows in the events as a
  HandshakeMessageSent/Received named "ChangeCipherSpec" so the story can tell it;
- every alert except close_notify and user_canceled ends the connection (6);
- a local failure queues the fatal alert under the current write key and closes.
"""

from __future__ import annotations

import enum
import hmac
from dataclasses import dataclass

from tlssim.tls import events as ev
from tlssim.tls.config import Entropy
from tlssim.tls.constants import (
    MAX_HANDSHAKE_MESSAGE,
    AlertDescription,
    AlertLevel,
    CipherSuite,
    ContentType,
    HandshakeType,
    KeyUpdateRequest,
    NamedGroup,
    ProtocolVersion,
    SignatureScheme,
    name_of,
)
from tlssim.tls.errors import (
    DecodeError,
    DecryptError,
    IllegalParameter,
    InternalError,
    PeerAlert,
    TLSError,
    UnexpectedMessage,
)
from tlssim.tls.keyschedule import KeySchedule, SuiteParams, Transcript, next_traffic_secret
from tlssim.tls.messages import Finished, KeyUpdate
from tlssim.tls.record import RecordLayer, RecordProtection, Tls12RecordProtection
from tlssim.tls.tls12 import Tls12Suite, key_block, verify_data


class State(enum.Enum):
    """Handshake states, after RFC 8446 appendix A."""

    START = "START"
    WAIT_SH = "WAIT_SH"
    WAIT_EE = "WAIT_EE"
    WAIT_CERT = "WAIT_CERT"
    WAIT_CV = "WAIT_CV"
    WAIT_FINISHED = "WAIT_FINISHED"
    WAIT_CH = "WAIT_CH"
    WAIT_CH2 = "WAIT_CH2"
    # TLS 1.2 (RFC 5246 section 7.3)
    WAIT_CERT_STATUS = "WAIT_CERT_STATUS"
    WAIT_SKE = "WAIT_SKE"
    WAIT_SHD = "WAIT_SHD"
    WAIT_CKE = "WAIT_CKE"
    WAIT_CCS = "WAIT_CCS"
    CONNECTED = "CONNECTED"
    CLOSED = "CLOSED"


@dataclass(frozen=True, slots=True, kw_only=True)
class Negotiated:
    """What the handshake settled on."""

    version: ProtocolVersion
    cipher_suite: CipherSuite
    group: NamedGroup | None
    signature_scheme: SignatureScheme | None
    server_name: str | None
    #: TLS 1.2: whether the RFC 7627 extended master secret was used (always False in 1.3).
    extended_master_secret: bool = False
    #: Whether this was an abbreviated (resumed) handshake.
    resumed: bool = False

    @property
    def key_exchange(self) -> str:
        """``"rsa"`` for TLS 1.2 RSA key transport, else the (EC)DHE group's name."""
        if self.group is None:
            return "rsa" if self.version == ProtocolVersion.TLSv1_2 else "psk"
        return self.group.name


_CCS = bytes([ContentType.change_cipher_spec, 3, 3, 0, 1, 1])


class Connection:
    """Common machinery; see ClientConnection and ServerConnection."""

    is_client: bool = False

    def __init__(self, entropy: Entropy) -> None:
        self._entropy = entropy
        self._records = RecordLayer()
        self._hs_in = bytearray()
        self._hs_out = bytearray()
        self._events: list[ev.Event] = []
        self._state = State.START
        self._paused = False
        self._eof = False
        self._peer_hello_seen = False
        self._ccs_sent = False
        self._write_closed = False
        self._transcript = Transcript()
        self._params: SuiteParams | None = None
        self._schedule: KeySchedule | None = None
        self._client_random = b""
        self._read_app_secret = b""
        self._write_app_secret = b""
        self._negotiated: Negotiated | None = None
        # TLS 1.2
        self._tls12 = False
        self._suite12: Tls12Suite | None = None
        self._server_random = b""
        self._master = b""
        self._ems = False
        self._resumed = False
        self._pending_read: Tls12RecordProtection | None = None
        self._pending_write: Tls12RecordProtection | None = None
        #: The TLSError that ended the connection, if any (local or the peer's alert).
        self.error: TLSError | None = None

    # -- public API -------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def negotiated(self) -> Negotiated | None:
        """Version, suite, group, signature scheme and SNI once the handshake completed."""
        return self._negotiated

    @property
    def handshake_complete(self) -> bool:
        return self._negotiated is not None

    @property
    def closed(self) -> bool:
        return self._state is State.CLOSED

    def data_to_send(self) -> bytes:
        """Bytes to put on the wire; drains the outgoing buffer."""
        return self._records.take_outgoing()

    def receive_data(self, data: bytes) -> list[ev.Event]:
        """Feed bytes from the peer (``b""`` means EOF); never raises a TLSError."""
        if self._state is State.CLOSED:
            return []
        if data:
            self._records.feed(data)
        else:
            self._eof = True
        if self._paused:
            return []
        return self._run()

    def send_application_data(self, data: bytes) -> None:
        if self._state is not State.CONNECTED or self._write_closed:
            raise RuntimeError(f"cannot send application data in state {self._state.name}")
        self._records.write(ContentType.application_data, data)

    def close(self) -> list[ev.Event]:
        """Queue close_notify. Reading stays open until the peer's close_notify or EOF."""
        if self._state is State.CLOSED or self._write_closed:
            return []
        self._write_alert(AlertLevel.warning, AlertDescription.close_notify)
        self._write_closed = True
        out: list[ev.Event] = [ev.AlertSent(AlertLevel.warning, AlertDescription.close_notify)]
        if self._state is not State.CONNECTED:
            self._state = State.CLOSED
            out.append(ev.ConnectionClosed())
        return out

    # -- processing loop ----------------------------------------------------------------

    def _run(self) -> list[ev.Event]:
        try:
            self._process()
        except TLSError as exc:
            self._fail(exc)
        except Exception as exc:  # a bug must still end in an alert, never escape
            self._fail(InternalError(f"internal error: {exc!r}"))
        out, self._events = self._events, []
        return out

    def _process(self) -> None:
        self._drain_handshake()
        while self._state is not State.CLOSED and not self._paused:
            record = self._records.next_record()
            if record is None:
                break
            content_type, payload = record
            if self._hs_in and content_type != ContentType.handshake:
                raise UnexpectedMessage("handshake message interleaved with another record")
            if content_type == ContentType.handshake:
                if not payload:
                    raise UnexpectedMessage("empty handshake record")
                self._hs_in += payload
                self._drain_handshake()
            elif content_type == ContentType.application_data:
                self._on_application_data(payload)
            elif content_type == ContentType.alert:
                self._on_alert(payload)
            elif content_type == ContentType.change_cipher_spec:
                self._on_change_cipher_spec(payload)
            else:
                raise UnexpectedMessage("unexpected record type")
        if self._eof and not self._paused and self._state is not State.CLOSED:
            if self._records.has_partial() or self._hs_in:
                raise DecodeError("connection closed in the middle of a record or message")
            self._state = State.CLOSED
            self._events.append(ev.ConnectionClosed())

    def _drain_handshake(self) -> None:
        buf = self._hs_in
        while len(buf) >= 4 and not self._paused and self._state is not State.CLOSED:
            length = int.from_bytes(buf[1:4], "big")
            if length > MAX_HANDSHAKE_MESSAGE:
                raise IllegalParameter("handshake message too large")
            if len(buf) < 4 + length:
                return
            raw = bytes(buf[: 4 + length])
            del buf[: 4 + length]
            self._dispatch(raw[0], raw[4:], raw)

    def _dispatch(self, msg_type: int, body: bytes, raw: bytes) -> None:
        raise NotImplementedError

    def _unexpected(self, msg_type: int) -> UnexpectedMessage:
        return UnexpectedMessage(
            f"{name_of(HandshakeType, msg_type)} not expected in state {self._state.name}"
        )

    def _on_application_data(self, payload: bytes) -> None:
        if self._state is not State.CONNECTED:
            raise UnexpectedMessage("application data before the handshake completed")
        if payload:
            self._events.append(ev.ApplicationDataReceived(payload))

    def _on_alert(self, payload: bytes) -> None:
        if len(payload) != 2:
            raise DecodeError("malformed alert")
        level: AlertLevel | int = payload[0]
        description: AlertDescription | int = payload[1]
        if level in AlertLevel._value2member_map_:
            level = AlertLevel(level)
        if description in AlertDescription._value2member_map_:
            description = AlertDescription(description)
        self._events.append(ev.AlertReceived(level, description))
        if description == AlertDescription.user_canceled:
            return
        if self._tls12 and level == AlertLevel.warning and description != 0:
            return  # TLS 1.2 warnings (e.g. no_renegotiation) do not end the connection
        if description == AlertDescription.close_notify:
            if not self._write_closed:
                self._write_alert(AlertLevel.warning, AlertDescription.close_notify)
                self._write_closed = True
                self._events.append(ev.AlertSent(AlertLevel.warning, AlertDescription.close_notify))
        else:
            alert = description if isinstance(description, AlertDescription) else None
            self.error = PeerAlert(alert, payload[1])
        self._state = State.CLOSED
        self._events.append(ev.ConnectionClosed(self.error))

    def _on_change_cipher_spec(self, payload: bytes) -> None:
        if self._tls12:
            if payload != b"\x01" or self._state is not State.WAIT_CCS:
                raise UnexpectedMessage("unexpected change_cipher_spec")
            if self._hs_in:
                raise UnexpectedMessage("handshake data straddles change_cipher_spec")
            self._records.read_protection = self._pending_read
            self._pending_read = None
            self._events.append(ev.HandshakeMessageReceived("ChangeCipherSpec", 1, {}))
            self._state = State.WAIT_FINISHED
            return
        if payload != b"\x01" or not self._peer_hello_seen or self._state is State.CONNECTED:
            raise UnexpectedMessage("unexpected change_cipher_spec")

    def _fail(self, exc: TLSError) -> None:
        if self._state is State.CLOSED:
            return
        self.error = exc
        self._hs_out.clear()
        self._write_alert(AlertLevel.fatal, exc.alert)
        self._state = State.CLOSED
        self._paused = False
        self._events.append(ev.AlertSent(AlertLevel.fatal, exc.alert))
        self._events.append(ev.ConnectionClosed(exc))

    # -- output helpers -----------------------------------------------------------------

    def _write_alert(self, level: AlertLevel, description: AlertDescription) -> None:
        self._flush_handshake()
        self._records.write(ContentType.alert, bytes([level, description]))

    def _send_handshake(self, raw: bytes, name: str, fields: dict[str, object]) -> None:
        """Queue a handshake message (coalesced into records at the next flush)."""
        self._transcript.add(raw)
        self._hs_out += raw
        self._events.append(ev.HandshakeMessageSent(name, len(raw), fields))

    def _flush_handshake(self) -> None:
        if self._hs_out:
            self._records.write(ContentType.handshake, bytes(self._hs_out))
            self._hs_out.clear()

    def _send_compat_ccs(self) -> None:
        if not self._ccs_sent:
            self._flush_handshake()
            self._records.outgoing += _CCS
            self._ccs_sent = True

    def _received(self, raw: bytes, name: str, fields: dict[str, object]) -> None:
        self._transcript.add(raw)
        self._events.append(ev.HandshakeMessageReceived(name, len(raw), fields))

    # -- keys ---------------------------------------------------------------------------

    def _secret(self, label: str, secret: bytes) -> None:
        self._events.append(ev.SecretDerived(label, self._client_random, secret))

    def _set_read_key(self, secret: bytes) -> None:
        if self._hs_in:
            raise UnexpectedMessage("handshake data straddles a key change")
        assert self._params is not None
        self._records.read_protection = RecordProtection(self._params, secret)

    def _set_write_key(self, secret: bytes) -> None:
        self._flush_handshake()
        assert self._params is not None
        self._records.write_protection = RecordProtection(self._params, secret)

    # -- TLS 1.2 ------------------------------------------------------------------------

    def _derive_keys_tls12(self) -> None:
        """Key block -> the pending read and write protections (switched on by CCS)."""
        suite = self._suite12
        assert suite is not None
        kb = key_block(suite, self._master, self._client_random, self._server_random)
        client = Tls12RecordProtection(suite, kb.client_write_key, kb.client_write_iv)
        server = Tls12RecordProtection(suite, kb.server_write_key, kb.server_write_iv)
        self._pending_write, self._pending_read = (
            (client, server) if self.is_client else (server, client)
        )

    def _send_change_cipher_spec(self) -> None:
        self._flush_handshake()
        self._records.write(ContentType.change_cipher_spec, b"\x01")
        self._records.write_protection = self._pending_write
        self._pending_write = None
        self._events.append(ev.HandshakeMessageSent("ChangeCipherSpec", 1, {}))

    def _finished_tls12(self, from_client: bool) -> bytes:
        assert self._suite12 is not None
        return verify_data(self._suite12, self._master, from_client, self._transcript.digest())

    def _send_finished_tls12(self) -> None:
        data = self._finished_tls12(self.is_client)
        self._send_handshake(
            Finished(verify_data=data).serialize(), "Finished", {"verify_data": data.hex()}
        )
        self._flush_handshake()

    def _check_finished_tls12(self, body: bytes, raw: bytes) -> None:
        """Verify the peer's Finished (decrypt_error when wrong) and record it."""
        if len(body) != 12:
            raise DecodeError("TLS 1.2 Finished must be 12 bytes")
        expected = self._finished_tls12(not self.is_client)
        if not hmac.compare_digest(expected, body):
            raise DecryptError("peer Finished does not verify")
        self._received(raw, "Finished", {"verify_data": body.hex()})

    def _refuse_renegotiation(self, body: bytes, raw: bytes) -> None:
        """RFC 5746 section 4: we never renegotiate; say so with a warning and carry on."""
        name = "HelloRequest" if raw[0] == HandshakeType.hello_request else "ClientHello"
        self._events.append(ev.HandshakeMessageReceived(name, len(raw), {"renegotiation": True}))
        if not self._write_closed:
            self._write_alert(AlertLevel.warning, AlertDescription.no_renegotiation)
            self._events.append(ev.AlertSent(AlertLevel.warning, AlertDescription.no_renegotiation))

    def _on_key_update(self, body: bytes, raw: bytes) -> None:
        """Post-handshake KeyUpdate (4.6.3): new read key; answer if asked to."""
        ku = KeyUpdate.parse(body)
        assert self._params is not None
        self._events.append(
            ev.HandshakeMessageReceived("KeyUpdate", len(raw), {"request": ku.request_update.name})
        )
        self._read_app_secret = next_traffic_secret(self._params, self._read_app_secret)
        self._set_read_key(self._read_app_secret)
        if ku.request_update == KeyUpdateRequest.update_requested and not self._write_closed:
            reply = KeyUpdate(request_update=KeyUpdateRequest.update_not_requested).serialize()
            self._records.write(ContentType.handshake, reply)
            self._events.append(
                ev.HandshakeMessageSent(
                    "KeyUpdate", len(reply), {"request": "update_not_requested"}
                )
            )
            self._write_app_secret = next_traffic_secret(self._params, self._write_app_secret)
            self._set_write_key(self._write_app_secret)

    def _complete(self, negotiated: Negotiated) -> None:
        self._negotiated = negotiated
        self._state = State.CONNECTED
        self._events.append(
            ev.HandshakeComplete(
                negotiated.version,
                negotiated.cipher_suite,
                negotiated.group,
                negotiated.signature_scheme,
                negotiated.server_name,
                negotiated.resumed,
            )
        )
