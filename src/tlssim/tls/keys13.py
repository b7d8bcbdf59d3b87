"""TLS 1.3 secrets for either role: key schedule, traffic keys, Finished, KeyUpdate.

Both sides derive the same secrets (RFC 8446 section 7.1); ``core.is_client`` decides which
of each pair protects what we read and what we write.
"""

from __future__ import annotations

import hmac

from tlssim.tls import events as ev
from tlssim.tls.constants import MAX_KEY_UPDATES, HandshakeType, KeyUpdateRequest
from tlssim.tls.core import ConnectionCore
from tlssim.tls.errors import DecodeError, DecryptError, UnexpectedMessage
from tlssim.tls.keyschedule import (
    KeySchedule,
    SuiteParams,
    finished_verify_data,
    next_traffic_secret,
)
from tlssim.tls.messages import KeyUpdate, frame
from tlssim.tls.record import RecordProtection


class Tls13Keys:
    """The key schedule of one connection and the traffic secrets it yields."""

    __slots__ = (
        "_core",
        "_replied_at",
        "_schedule",
        "client_handshake",
        "params",
        "read_application",
        "server_handshake",
        "write_application",
    )

    def __init__(self, core: ConnectionCore, params: SuiteParams, psk: bytes | None) -> None:
        self._core = core
        self.params = params
        self._schedule = KeySchedule(params, psk)
        self.client_handshake = b""
        self.server_handshake = b""
        self.read_application = b""
        self.write_application = b""
        #: core.application_records_sent when we last answered update_requested.
        self._replied_at: int | None = None

    def enter_handshake(self, shared_secret: bytes) -> None:
        """(EC)DHE in: both handshake traffic secrets, over the transcript to ServerHello."""
        core, schedule = self._core, self._schedule
        schedule.enter_handshake(shared_secret)
        th = core.transcript.digest()
        self.client_handshake = schedule.derive(b"c hs traffic", th)
        self.server_handshake = schedule.derive(b"s hs traffic", th)
        core.secret("CLIENT_HANDSHAKE_TRAFFIC_SECRET", self.client_handshake)
        core.secret("SERVER_HANDSHAKE_TRAFFIC_SECRET", self.server_handshake)

    def enter_master(self) -> None:
        """Both application traffic secrets, over the transcript to the server's Finished."""
        core, schedule = self._core, self._schedule
        schedule.enter_master()
        th = core.transcript.digest()
        client = schedule.derive(b"c ap traffic", th)
        server = schedule.derive(b"s ap traffic", th)
        core.secret("CLIENT_TRAFFIC_SECRET_0", client)
        core.secret("SERVER_TRAFFIC_SECRET_0", server)
        self.write_application, self.read_application = (
            (client, server) if core.is_client else (server, client)
        )

    def resumption_master(self) -> bytes:
        return self._schedule.derive(b"res master", self._core.transcript.digest())

    def read_with(self, secret: bytes) -> None:
        self._core.set_read_protection(RecordProtection(self.params, secret))

    def write_with(self, secret: bytes) -> None:
        self._core.set_write_protection(RecordProtection(self.params, secret))

    # -- Finished (4.4.4) ---------------------------------------------------------------

    def send_finished(self, base_key: bytes) -> None:
        data = finished_verify_data(self.params, base_key, self._core.transcript.digest())
        # Finished(verify_data=data).serialize(), without the message object
        self._core.send_handshake(
            frame(HandshakeType.finished, data), "Finished", {"verify_data": data.hex()}
        )

    def check_finished(self, body: bytes, raw: bytes, base_key: bytes, peer: str) -> None:
        """The peer's Finished must verify (decrypt_error otherwise); then it is recorded."""
        if len(body) != self.params.hash_length:  # 4.4.4: Hash.length bytes
            raise DecodeError(f"{peer} Finished of the wrong length for the suite's hash")
        # the whole body is verify_data (Finished.parse, whose length check the suite's
        # hash length, 32 or 48, has just made)
        expected = finished_verify_data(self.params, base_key, self._core.transcript.digest())
        if not hmac.compare_digest(expected, body):
            raise DecryptError(f"{peer} Finished does not verify")
        self._core.received(raw, "Finished", {"verify_data": body.hex()})

    # -- KeyUpdate (4.6.3) --------------------------------------------------------------

    def send_key_update(self, request_peer: bool) -> None:
        """Our KeyUpdate, under the old key; everything we write after it is under the next
        secret. With `request_peer` the peer owes us its own update before its next data."""
        core = self._core
        request = (
            KeyUpdateRequest.update_requested
            if request_peer
            else KeyUpdateRequest.update_not_requested
        )
        raw = KeyUpdate(request_update=request).serialize()
        core.send_post_handshake(raw, "KeyUpdate", {"request": request.name})
        self.write_application = next_traffic_secret(self.params, self.write_application)
        self.write_with(self.write_application)

    def on_key_update(self, body: bytes, raw: bytes) -> None:
        """New read key; answer with our own update if asked to, once per silence.

        4.6.3: several update_requested KeyUpdates received while we send nothing get a
        single KeyUpdate back; an endless run of them (no application data between) ends
        the connection.
        """
        core, params = self._core, self.params
        ku = KeyUpdate.parse(body)
        core.key_updates_in_a_row += 1
        if core.key_updates_in_a_row > MAX_KEY_UPDATES:
            raise UnexpectedMessage(f"more than {MAX_KEY_UPDATES} KeyUpdates without data")
        core.events.append(
            ev.HandshakeMessageReceived("KeyUpdate", len(raw), {"request": ku.request_update.name})
        )
        self.read_application = next_traffic_secret(params, self.read_application)
        self.read_with(self.read_application)
        owed = ku.request_update == KeyUpdateRequest.update_requested
        if owed and not core.write_closed and self._replied_at != core.application_records_sent:
            self._replied_at = core.application_records_sent
            reply = KeyUpdate(request_update=KeyUpdateRequest.update_not_requested).serialize()
            core.send_post_handshake(reply, "KeyUpdate", {"request": "update_not_requested"})
            self.write_application = next_traffic_secret(params, self.write_application)
            self.write_with(self.write_application)
