"""TLS 1.2 secrets for either role: master secret, key block, ChangeCipherSpec, Finished.

The key block gives both directions' protection at once; each side switches its write key
when it sends ChangeCipherSpec and its read key when it receives the peer's (RFC 5246 7.1).
"""

from __future__ import annotations

import hmac

from tlssim.tls import events as ev
from tlssim.tls.constants import AlertDescription, AlertLevel, HandshakeType
from tlssim.tls.core import ConnectionCore
from tlssim.tls.errors import DecodeError, DecryptError
from tlssim.tls.messages import Finished
from tlssim.tls.record import Tls12RecordProtection
from tlssim.tls.tls12 import Tls12Suite, key_block, verify_data


class Tls12Keys:
    """One connection's master secret and the record protection it yields."""

    __slots__ = ("_core", "_pending_read", "_pending_write", "master", "server_random", "suite")

    def __init__(self, core: ConnectionCore, suite: Tls12Suite, server_random: bytes) -> None:
        self._core = core
        self.suite = suite
        self.server_random = server_random
        self.master = b""
        self._pending_read: Tls12RecordProtection | None = None
        self._pending_write: Tls12RecordProtection | None = None

    def set_master(self, master: bytes) -> None:
        """Log the master secret and derive the pending keys (switched on by CCS)."""
        core = self._core
        self.master = master
        core.secret("CLIENT_RANDOM", master)
        kb = key_block(self.suite, master, core.client_random, self.server_random)
        client = Tls12RecordProtection(self.suite, kb.client_write_key, kb.client_write_iv)
        server = Tls12RecordProtection(self.suite, kb.server_write_key, kb.server_write_iv)
        self._pending_write, self._pending_read = (
            (client, server) if core.is_client else (server, client)
        )

    def send_change_cipher_spec(self) -> None:
        assert self._pending_write is not None
        self._core.send_change_cipher_spec(self._pending_write)
        self._pending_write = None

    def receive_change_cipher_spec(self) -> None:
        assert self._pending_read is not None
        self._core.set_read_protection(self._pending_read)
        self._pending_read = None
        self._core.events.append(ev.HandshakeMessageReceived("ChangeCipherSpec", 1, {}))

    def _verify_data(self, from_client: bool) -> bytes:
        return verify_data(self.suite, self.master, from_client, self._core.transcript.digest())

    def send_finished(self) -> None:
        data = self._verify_data(self._core.is_client)
        self._core.send_handshake(
            Finished(verify_data=data).serialize(), "Finished", {"verify_data": data.hex()}
        )
        self._core.flush_handshake()

    def check_finished(self, body: bytes, raw: bytes) -> None:
        """Verify the peer's Finished (decrypt_error when wrong) and record it."""
        if len(body) != 12:
            raise DecodeError("TLS 1.2 Finished must be 12 bytes")
        expected = self._verify_data(not self._core.is_client)
        if not hmac.compare_digest(expected, body):
            raise DecryptError("peer Finished does not verify")
        self._core.received(raw, "Finished", {"verify_data": body.hex()})


def refuse_renegotiation(core: ConnectionCore, raw: bytes) -> None:
    """RFC 5746 section 4: we never renegotiate; say so with a warning and carry on."""
    name = "HelloRequest" if raw[0] == HandshakeType.hello_request else "ClientHello"
    core.events.append(ev.HandshakeMessageReceived(name, len(raw), {"renegotiation": True}))
    if not core.write_closed:
        core.write_alert(AlertLevel.warning, AlertDescription.no_renegotiation)
        core.events.append(ev.AlertSent(AlertLevel.warning, AlertDescription.no_renegotiation))
