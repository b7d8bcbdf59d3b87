"""Offline decryption of a recorded connection: forward secrecy shown, not claimed.

Given the raw bytes each side sent (exactly what went over the wire) and the server's
long-term private key, ``decrypt_session`` replays what a passive eavesdropper who later
steals that key can do:

- TLS 1.2 (or 1.1 and 1.0, with their PRF; AEAD, CBC or RC4 records, MAC-then-encrypt or
  encrypt-then-MAC as the ServerHello said) with RSA key transport: the client sent the
  premaster secret encrypted to the server's certificate key in ClientKeyExchange.
  Decrypt it (PKCS#1 v1.5), derive the master
  secret (RFC 5246 8.1, or RFC 7627's extended master secret over the session hash of the
  handshake up to ClientKeyExchange), the key block, and open every record after
  ChangeCipherSpec in both directions. Both Finished messages are checked, so a result is
  never garbage.
- TLS 1.2 ECDHE or DHE and every TLS 1.3 session: the keys came from an (EC)DHE exchange whose
  ephemeral private keys never went over the wire and were discarded after the handshake;
  the server's long-term key only signed the exchange. ``ForwardSecrecyError`` says so.

Record protection and key derivation are the engine's own (``record``, ``tls12``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tlssim.tls.constants import (
    AlertDescription,
    AlertLevel,
    CipherSuite,
    ContentType,
    ExtensionType,
    HandshakeType,
    NamedGroup,
    ProtocolVersion,
    name_of,
)
from tlssim.tls.errors import TLSError
from tlssim.tls.extensions import decode_uint16, index_extensions
from tlssim.tls.messages import ClientHello, ServerHello, parse_alert
from tlssim.tls.messages12 import Certificate12, ClientKeyExchange
from tlssim.tls.record import RecordLayer, Tls12CbcProtection, Tls12RecordProtection
from tlssim.tls.signatures import PrivateKey
from tlssim.tls.tls12 import ALL_TLS12_SUITES, Tls12Suite, key_block, master_secret, verify_data


class OfflineDecryptionError(ValueError):
    """The recording cannot be decrypted (the reason is in the message)."""


class ForwardSecrecyError(OfflineDecryptionError):
    """The session keys came from ephemeral (EC)DHE keys: the server's key cannot recover them."""


class WrongKeyError(OfflineDecryptionError):
    """The private key given is not the one the session was encrypted to."""


@dataclass(frozen=True, slots=True)
class RecordedMessage:
    """A handshake message seen in the recording, in the order each side sent them."""

    sender: str  # "client" or "server"
    name: str  # "ClientHello", "ServerHelloDone", ...
    data: bytes  # the whole message, 4-byte header included
    encrypted: bool  # sent under the record protection (after ChangeCipherSpec)


@dataclass(frozen=True, slots=True, kw_only=True)
class DecryptedSession:
    """What a recording gave up; application data per direction, in order."""

    version: ProtocolVersion
    cipher_suite: CipherSuite
    extended_master_secret: bool
    client_random: bytes
    server_random: bytes
    master_secret: bytes = field(repr=False)
    handshake: tuple[RecordedMessage, ...]
    client_application_data: tuple[bytes, ...]
    server_application_data: tuple[bytes, ...]
    client_alerts: tuple[tuple[AlertLevel | int, AlertDescription | int], ...] = ()
    server_alerts: tuple[tuple[AlertLevel | int, AlertDescription | int], ...] = ()

    def keylog_line(self) -> str:
        """The NSS key log line (``CLIENT_RANDOM``) that lets Wireshark decrypt it too."""
        return f"CLIENT_RANDOM {self.client_random.hex()} {self.master_secret.hex()}"


_TLS13_MESSAGE = (
    "this is a TLS 1.3 session: its traffic keys come from an (EC)DHE exchange whose "
    "ephemeral private keys were never sent and are gone; the server's long-term key only "
    "signed the handshake, so it cannot recover them (forward secrecy)"
)
_HYBRID_MESSAGE = (
    "this is a TLS 1.3 session keyed by {group}: its traffic keys come from {parts} whose "
    "private keys (the client's ML-KEM decapsulation key among them) were never sent and are "
    "gone; the server's long-term key only signed the handshake, so it cannot recover them "
    "(forward secrecy)"
)
_KEM_PARTS = {
    NamedGroup.X25519MLKEM768: "an ML-KEM-768 encapsulation and an ephemeral X25519 exchange",
    NamedGroup.SecP256r1MLKEM768: "an ephemeral P-256 exchange and an ML-KEM-768 encapsulation",
    NamedGroup.MLKEM768: "an ML-KEM-768 encapsulation",
}
_ECDHE_MESSAGE = (
    "{suite} uses ECDHE: the premaster secret is an ephemeral Diffie-Hellman result whose "
    "private halves were never sent and are gone; the server's long-term key only signed the "
    "ServerKeyExchange, so it cannot recover the session keys (forward secrecy)"
)


def _camel(msg_type: int) -> str:
    return "".join(part.title() for part in name_of(HandshakeType, msg_type).split("_"))


def _alert(payload: bytes) -> tuple[AlertLevel | int, AlertDescription | int]:
    try:
        return parse_alert(payload)
    except TLSError:
        raise OfflineDecryptionError("malformed alert record in the recording") from None


class _Stream:
    """One direction of the recording: records in order, handshake messages reassembled."""

    def __init__(self, data: bytes, sender: str) -> None:
        self.sender = sender
        self.records = RecordLayer()
        self.records.feed(data)
        self.hs = bytearray()
        self.ccs_seen = False
        self.encrypted = False
        self.keys_verified = False  # the Finished opened and verified: the key is right
        self.application_data: list[bytes] = []
        self.alerts: list[tuple[AlertLevel | int, AlertDescription | int]] = []
        self.messages: list[RecordedMessage] = []

    def _record(self) -> tuple[int, bytes] | None:
        try:
            return self.records.next_record()
        except TLSError as exc:
            if self.keys_verified:
                raise OfflineDecryptionError(
                    f"a {self.sender} record failed to decrypt ({exc}): corrupted recording"
                ) from exc
            if self.encrypted:
                raise WrongKeyError(
                    f"a {self.sender} record failed to decrypt ({exc}): wrong key or a "
                    "corrupted recording"
                ) from exc
            raise OfflineDecryptionError(f"malformed {self.sender} record: {exc}") from exc

    def next_message(self) -> bytes | None:
        """The next handshake message, or None at ChangeCipherSpec or the recording's end."""
        while True:
            if len(self.hs) >= 4:
                length = int.from_bytes(self.hs[1:4], "big")
                if len(self.hs) >= 4 + length:
                    raw = bytes(self.hs[: 4 + length])
                    del self.hs[: 4 + length]
                    self.messages.append(
                        RecordedMessage(self.sender, _camel(raw[0]), raw, self.encrypted)
                    )
                    return raw
            record = self._record()
            if record is None:
                return None
            content_type, payload = record
            if content_type == ContentType.handshake:
                self.hs += payload
            elif content_type == ContentType.change_cipher_spec and not self.encrypted:
                self.ccs_seen = True
                return None
            elif content_type == ContentType.alert:
                self.alerts.append(_alert(payload))
            elif content_type == ContentType.application_data and self.encrypted:
                self.application_data.append(payload)
            else:
                raise OfflineDecryptionError(
                    f"unexpected {name_of(ContentType, content_type)} record from the {self.sender}"
                )

    def expect(self, msg_type: HandshakeType, what: str) -> bytes:
        raw = self.next_message()
        if raw is None or raw[0] != msg_type:
            got = "nothing more" if raw is None else _camel(raw[0])
            raise OfflineDecryptionError(f"expected {what} from the {self.sender}, got {got}")
        return raw

    def start_decrypting(self, protection: Tls12RecordProtection | Tls12CbcProtection) -> None:
        if not self.ccs_seen:
            raise OfflineDecryptionError(
                f"the recording ends before the {self.sender}'s ChangeCipherSpec"
            )
        if self.hs:
            raise OfflineDecryptionError(f"{self.sender} handshake data straddles ChangeCipherSpec")
        self.records.read_protection = protection
        self.encrypted = True

    def drain(self) -> None:
        """Read every remaining record (application data, alerts, post-handshake messages)."""
        while self.next_message() is not None:
            pass


def _tls13_message(sh: ServerHello) -> str:
    """Why a TLS 1.3 recording stays closed, naming a post-quantum group when one was used."""
    share = index_extensions(sh.extensions).get(ExtensionType.key_share, b"")
    group = int.from_bytes(share[:2], "big") if len(share) >= 2 else None
    if group in _KEM_PARTS:
        named = NamedGroup(group)
        return _HYBRID_MESSAGE.format(group=named.name, parts=_KEM_PARTS[named])
    return _TLS13_MESSAGE


def _version_of(sh: ServerHello) -> ProtocolVersion:
    """TLS 1.3 (a HelloRetryRequest, or supported_versions) or TLS 1.2, 1.1, 1.0
    (legacy_version)."""
    exts = index_extensions(sh.extensions)
    body = exts.get(ExtensionType.supported_versions)
    if sh.is_hello_retry_request or (
        body is not None and decode_uint16(body) == ProtocolVersion.TLSv1_3
    ):
        return ProtocolVersion.TLSv1_3
    legacy = (ProtocolVersion.TLSv1_2, ProtocolVersion.TLSv1_1, ProtocolVersion.TLSv1_0)
    if body is not None or sh.legacy_version not in legacy:
        raise OfflineDecryptionError("the recording is not TLS 1.3, 1.2, 1.1 or 1.0")
    return ProtocolVersion(sh.legacy_version)


def _check_key(leaf_der: bytes, private_key: PrivateKey) -> rsa.RSAPrivateKey:
    """The private key must belong to the certificate the server presented."""
    try:
        leaf_key = x509.load_der_x509_certificate(leaf_der).public_key()
    except ValueError as exc:
        raise OfflineDecryptionError(f"cannot parse the server certificate: {exc}") from exc
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise WrongKeyError("RSA key transport needs the server's RSA private key")
    if (
        not isinstance(leaf_key, rsa.RSAPublicKey)
        or leaf_key.public_numbers() != private_key.public_key().public_numbers()
    ):
        raise WrongKeyError("the private key does not match the server's certificate")
    return private_key


def _digest(suite: Tls12Suite, messages: list[bytes], version: int = 0x0303) -> bytes:
    if version < 0x0303:  # TLS 1.0/1.1: MD5 + SHA-1
        joined = b"".join(messages)
        return hashlib.md5(joined).digest() + hashlib.sha1(joined).digest()
    h = hashes.Hash(suite.hash_algorithm())
    for message in messages:
        h.update(message)
    return h.finalize()


def decrypt_session(
    client_to_server: bytes, server_to_client: bytes, server_private_key: PrivateKey
) -> DecryptedSession:
    """Decrypt one recorded TLS 1.2 RSA key-transport connection with the server's key.

    Raises ForwardSecrecyError for TLS 1.2 ECDHE and TLS 1.3, WrongKeyError when the key is
    not the certificate's (or the records do not open under it), and OfflineDecryptionError
    for anything else that cannot be decrypted (a truncated or malformed recording, or an
    abbreviated handshake whose master secret came from an earlier connection).
    """
    client = _Stream(client_to_server, "client")
    server = _Stream(server_to_client, "server")
    ch_raw = client.expect(HandshakeType.client_hello, "a ClientHello")
    sh_raw = server.expect(HandshakeType.server_hello, "a ServerHello")
    try:
        ch = ClientHello.parse(ch_raw[4:])
        sh = ServerHello.parse(sh_raw[4:])
        version = _version_of(sh)
    except TLSError as exc:
        raise OfflineDecryptionError(f"malformed hello: {exc}") from exc
    if version == ProtocolVersion.TLSv1_3:
        raise ForwardSecrecyError(_tls13_message(sh))
    suite = next((s for c, s in ALL_TLS12_SUITES.items() if c == sh.cipher_suite), None)
    if suite is None:
        raise OfflineDecryptionError(f"unsupported cipher suite 0x{sh.cipher_suite:04x}")
    if suite.key_exchange in ("ecdhe", "dhe"):
        raise ForwardSecrecyError(_ECDHE_MESSAGE.format(suite=suite.suite.name))
    sh_exts = index_extensions(sh.extensions)
    ems = ExtensionType.extended_master_secret in sh_exts
    etm = ExtensionType.encrypt_then_mac in sh_exts and suite.is_cbc

    # server flight: Certificate, [CertificateStatus], ServerHelloDone
    transcript = [ch_raw, sh_raw]
    cert_raw = server.next_message()
    if cert_raw is None:
        if server.ccs_seen:
            raise OfflineDecryptionError(
                "abbreviated (resumed) handshake: its master secret came from an earlier "
                "connection; decrypt that one's recording instead"
            )
        raise OfflineDecryptionError("the recording ends after the ServerHello")
    if cert_raw[0] != HandshakeType.certificate:
        raise OfflineDecryptionError(f"expected Certificate, got {_camel(cert_raw[0])}")
    transcript.append(cert_raw)
    try:
        chain = Certificate12.parse(cert_raw[4:]).chain
    except TLSError as exc:
        raise OfflineDecryptionError(f"malformed Certificate: {exc}") from exc
    if not chain:
        raise OfflineDecryptionError("the server sent an empty Certificate")
    key = _check_key(chain[0], server_private_key)
    while True:
        raw = server.next_message()
        if raw is None:
            raise OfflineDecryptionError("the recording ends before ServerHelloDone")
        transcript.append(raw)
        if raw[0] == HandshakeType.server_hello_done:
            break

    # client flight: ClientKeyExchange, then ChangeCipherSpec
    cke_raw = client.expect(HandshakeType.client_key_exchange, "a ClientKeyExchange")
    transcript.append(cke_raw)
    try:
        encrypted = ClientKeyExchange.parse(cke_raw[4:], "rsa").exchange_keys
    except TLSError as exc:
        raise OfflineDecryptionError(f"malformed ClientKeyExchange: {exc}") from exc
    if client.next_message() is not None or not client.ccs_seen:
        raise OfflineDecryptionError("expected the client's ChangeCipherSpec after its key")
    premaster = _decrypt_premaster(key, encrypted, ch.legacy_version)
    session_hash = _digest(suite, transcript, version) if ems else None
    master = master_secret(suite, premaster, ch.random, sh.random, session_hash, version)
    kb = key_block(suite, master, ch.random, sh.random, version)

    def protection(
        key: bytes, iv: bytes, mac_key: bytes
    ) -> Tls12RecordProtection | Tls12CbcProtection:
        if suite.aead is None:
            return Tls12CbcProtection(suite, key, iv, mac_key, version, etm)
        return Tls12RecordProtection(suite, key, iv)

    # client Finished, under the client write key
    client.start_decrypting(
        protection(kb.client_write_key, kb.client_write_iv, kb.client_write_mac_key)
    )
    client_finished = client.expect(HandshakeType.finished, "an encrypted Finished")
    expected = verify_data(suite, master, True, _digest(suite, transcript, version), version)
    if client_finished[4:] != expected:
        raise WrongKeyError("the client's Finished does not verify under the recovered keys")
    client.keys_verified = True
    transcript.append(client_finished)

    # anything the server sent before its ChangeCipherSpec (a NewSessionTicket), its Finished
    while (raw := server.next_message()) is not None:
        transcript.append(raw)
    server.start_decrypting(
        protection(kb.server_write_key, kb.server_write_iv, kb.server_write_mac_key)
    )
    server_finished = server.expect(HandshakeType.finished, "an encrypted Finished")
    server_digest = _digest(suite, transcript, version)
    if server_finished[4:] != verify_data(suite, master, False, server_digest, version):
        raise WrongKeyError("the server's Finished does not verify under the recovered keys")
    server.keys_verified = True

    client.drain()
    server.drain()
    return DecryptedSession(
        version=version,
        cipher_suite=suite.suite,
        extended_master_secret=ems,
        client_random=ch.random,
        server_random=sh.random,
        master_secret=master,
        handshake=_interleave(client.messages, server.messages),
        client_application_data=tuple(client.application_data),
        server_application_data=tuple(server.application_data),
        client_alerts=tuple(client.alerts),
        server_alerts=tuple(server.alerts),
    )


def _decrypt_premaster(key: rsa.RSAPrivateKey, encrypted: bytes, client_version: int) -> bytes:
    try:
        premaster = key.decrypt(encrypted, padding.PKCS1v15())
    except ValueError as exc:
        raise WrongKeyError("the encrypted premaster secret does not decrypt") from exc
    # OpenSSL's implicit rejection returns a random message instead of failing
    if len(premaster) != 48 or premaster[:2] != client_version.to_bytes(2, "big"):
        raise WrongKeyError("the encrypted premaster secret does not decrypt to a premaster")
    return premaster


def _interleave(
    client: list[RecordedMessage], server: list[RecordedMessage]
) -> tuple[RecordedMessage, ...]:
    """Handshake order of a full TLS 1.2 handshake: ClientHello, the server's flight up to
    ServerHelloDone, the client's flight, then the rest of the server's messages."""
    split = next((i + 1 for i, m in enumerate(server) if m.name == "ServerHelloDone"), len(server))
    hello, rest = client[:1], client[1:]
    unencrypted = [m for m in rest if not m.encrypted]
    finished = [m for m in rest if m.encrypted]
    ordered = hello + server[:split] + unencrypted + finished[:1] + server[split:] + finished[1:]
    return tuple(ordered)
