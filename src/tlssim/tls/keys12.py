"""TLS 1.2 secrets for either role: master secret, key block, ChangeCipherSpec, Finished.

The key block gives both directions' protection at once; each side switches its write key
when it sends ChangeCipherSpec and its read key when it receives the peer's (RFC 5246 7.1).
"""

from __future__ import annotations

import hashlib
import hmac

from tlssim.tls import events as ev
from tlssim.tls.constants import AlertDescription, AlertLevel, HandshakeType
from tlssim.tls.core import ConnectionCore
from tlssim.tls.errors import DecodeError, DecryptError
from tlssim.tls.messages import Finished
from tlssim.tls.record import Tls12CbcProtection, Tls12RecordProtection
from tlssim.tls.tls12 import Tls12Suite, key_block, master_secret, verify_data


class Tls12Keys:
    """One connection's master secret and the record protection it yields."""

    __slots__ = (
        "_core",
        "_pending_read",
        "_pending_write",
        "encrypt_then_mac",
        "master",
        "server_random",
        "suite",
        "version",
    )

    def __init__(
        self,
        core: ConnectionCore,
        suite: Tls12Suite,
        server_random: bytes,
        version: int = 0x0303,
        encrypt_then_mac: bool = False,
    ) -> None:
        self._core = core
        self.suite = suite
        self.server_random = server_random
        #: TLS 1.2, or 1.1 / 1.0 (their PRF, Finished hash and record IVs).
        self.version = version
        #: RFC 7366, negotiated for a CBC suite.
        self.encrypt_then_mac = encrypt_then_mac
        self.master = b""
        self._pending_read: Tls12RecordProtection | Tls12CbcProtection | None = None
        self._pending_write: Tls12RecordProtection | Tls12CbcProtection | None = None

    def handshake_hash(self) -> bytes:
        """The hash Finished and the extended master secret take: the suite's for TLS 1.2,
        MD5 + SHA-1 of the handshake messages before it (RFC 2246 7.4.9, RFC 7627 4)."""
        transcript = self._core.transcript
        if self.version >= 0x0303:
            return transcript.digest()
        messages = transcript.messages()
        return hashlib.md5(messages).digest() + hashlib.sha1(messages).digest()

    def master_secret(self, premaster: bytes, ems: bool) -> bytes:
        core = self._core
        session_hash = self.handshake_hash() if ems else None
        return master_secret(
            self.suite,
            premaster,
            core.client_random,
            self.server_random,
            session_hash,
            self.version,
        )

    def set_master(self, master: bytes) -> None:
        """Log the master secret and derive the pending keys (switched on by CCS)."""
        core, suite = self._core, self.suite
        self.master = master
        core.secret("CLIENT_RANDOM", master)
        kb = key_block(suite, master, core.client_random, self.server_random, self.version)
        client: Tls12RecordProtection | Tls12CbcProtection
        server: Tls12RecordProtection | Tls12CbcProtection
        if suite.aead is None:  # CBC or RC4 with HMAC
            etm, version = self.encrypt_then_mac, self.version
            client = Tls12CbcProtection(
                suite,
                kb.client_write_key,
                kb.client_write_iv,
                kb.client_write_mac_key,
                version,
                etm,
            )
            server = Tls12CbcProtection(
                suite,
                kb.server_write_key,
                kb.server_write_iv,
                kb.server_write_mac_key,
                version,
                etm,
            )
        else:
            client = Tls12RecordProtection(suite, kb.client_write_key, kb.client_write_iv)
            server = Tls12RecordProtection(suite, kb.server_write_key, kb.server_write_iv)
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
        return verify_data(
            self.suite, self.master, from_client, self.handshake_hash(), self.version
        )

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
