"""TLS 1.3 PSK resumption pieces (RFC 8446 sections 4.2.9, 4.2.11, 4.6.1).

- ``pre_shared_key`` and ``psk_key_exchange_modes`` extension bodies, and the binder over
  the truncated ClientHello;
- self-contained server tickets: the resumption PSK, its cipher suite, the SNI, the
  ticket_age_add and lifetime, the max_early_data_size it allows (0: no 0-RTT), sealed
  with AES-256-GCM under ``ServerConfig.ticket_key`` (12-byte nonce from the server's
  entropy, prepended). The server keeps no state and has no clock: it trusts the age the
  client reports (obfuscated_ticket_age - ticket_age_add) and only checks that it lies
  within the lifetime; a stolen ticket is as good as new until the ticket key is rotated.
  (0-RTT early data is the exception: see ``anti_replay``; a ticket names the anti-replay
  register that may take its early data.)
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tlssim.tls.constants import CipherSuite
from tlssim.tls.errors import DecodeError, IllegalParameter
from tlssim.tls.keyschedule import KeySchedule, SuiteParams, finished_verify_data
from tlssim.tls.wire import Reader, Writer

#: PskKeyExchangeMode psk_dhe_ke (4.2.9): PSK together with (EC)DHE, the only one we use.
PSK_DHE_KE = 1
#: Default NewSessionTicket.ticket_lifetime in seconds (RFC 8446 allows up to 7 days).
DEFAULT_TICKET_LIFETIME = 7200
MAX_TICKET_LIFETIME = 604800

_TICKET_FORMAT = 3
_TICKET_AAD = b"tlssim ticket v3"
_NONCE_LENGTH = 12


# -- psk_key_exchange_modes (4.2.9) --------------------------------------------------------


def encode_psk_modes(modes: tuple[int, ...]) -> bytes:
    return bytes([len(modes), *modes])


def decode_psk_modes(data: bytes) -> tuple[int, ...]:
    r = Reader(data)
    modes = r.vector(1, 1)
    r.expect_end()
    return tuple(modes)


# -- pre_shared_key (4.2.11) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PskIdentity:
    identity: bytes
    obfuscated_ticket_age: int


@dataclass(frozen=True, slots=True)
class OfferedPsks:
    """The ClientHello's pre_shared_key: identities and one binder per identity."""

    identities: tuple[PskIdentity, ...]
    binders: tuple[bytes, ...]

    def binders_size(self) -> int:
        """Bytes the binders list takes at the end of the ClientHello (length included)."""
        return 2 + sum(1 + len(b) for b in self.binders)

    def encode(self) -> bytes:
        w = Writer()
        with w.block(2):
            for psk in self.identities:
                w.vector(2, psk.identity)
                w.raw(psk.obfuscated_ticket_age.to_bytes(4, "big"))
        with w.block(2):
            for binder in self.binders:
                w.vector(1, binder)
        return w.getvalue()

    @classmethod
    def decode(cls, data: bytes) -> OfferedPsks:
        r = Reader(data)
        identities: list[PskIdentity] = []
        with r.block(2, 7) as sub:
            while not sub.eof():
                identity = sub.vector(2, 1)
                identities.append(PskIdentity(identity, int.from_bytes(sub.fixed(4), "big")))
        binders: list[bytes] = []
        with r.block(2, 33) as sub:
            while not sub.eof():
                binders.append(sub.vector(1, 32))
        r.expect_end()
        if len(binders) != len(identities):
            raise IllegalParameter("pre_shared_key: as many binders as identities required")
        return cls(tuple(identities), tuple(binders))


def truncated_hello(raw_hello: bytes, offered: OfferedPsks) -> bytes:
    """The ClientHello up to and excluding the binders list (4.2.11.2)."""
    return raw_hello[: len(raw_hello) - offered.binders_size()]


def compute_binder(params: SuiteParams, psk: bytes, transcript_hash: bytes) -> bytes:
    """The PSK binder: a Finished MAC under binder_key over the truncated transcript."""
    return finished_verify_data(params, KeySchedule(params, psk).binder_key(), transcript_hash)


# -- server tickets --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketContents:
    """What a sealed ticket carries back to the server that issued it."""

    cipher_suite: CipherSuite
    psk: bytes
    server_name: str | None
    ticket_age_add: int
    ticket_lifetime: int
    #: The max_early_data_size the ticket was issued with (0: it allows no early data).
    max_early_data: int = 0
    #: The anti-replay register that may take its early data (empty: anti-replay was off).
    early_data_scope: bytes = b""

    def age_is_acceptable(self, obfuscated_ticket_age: int) -> bool:
        """The client-reported age (ms) is within the lifetime (the server has no clock)."""
        age_ms = (obfuscated_ticket_age - self.ticket_age_add) % (1 << 32)
        return age_ms <= self.ticket_lifetime * 1000


def seal_ticket(key: bytes, nonce: bytes, contents: TicketContents) -> bytes:
    """nonce (12) || AES-GCM(key, nonce, contents) with a fixed associated data label."""
    if len(nonce) != _NONCE_LENGTH:
        raise ValueError("ticket nonce must be 12 bytes")
    w = Writer()
    w.uint8(_TICKET_FORMAT)
    w.uint16(contents.cipher_suite)
    w.raw(contents.ticket_age_add.to_bytes(4, "big"))
    w.raw(contents.ticket_lifetime.to_bytes(4, "big"))
    w.raw(contents.max_early_data.to_bytes(4, "big"))
    w.vector(1, contents.early_data_scope)
    w.vector(1, contents.psk)
    w.vector(2, (contents.server_name or "").encode("ascii"))
    return nonce + AESGCM(key).encrypt(nonce, w.getvalue(), _TICKET_AAD)


def open_ticket(key: bytes, ticket: bytes) -> TicketContents | None:
    """The contents of a ticket we sealed, or None (not ours, tampered, or malformed)."""
    if len(ticket) < _NONCE_LENGTH + 16:
        return None
    nonce, sealed = ticket[:_NONCE_LENGTH], ticket[_NONCE_LENGTH:]
    try:
        plain = AESGCM(key).decrypt(nonce, sealed, _TICKET_AAD)
        r = Reader(plain)
        if r.uint8() != _TICKET_FORMAT:
            return None
        suite = r.uint16()
        age_add = int.from_bytes(r.fixed(4), "big")
        lifetime = int.from_bytes(r.fixed(4), "big")
        max_early_data = int.from_bytes(r.fixed(4), "big")
        scope = r.vector(1)
        psk = r.vector(1, 1)
        name = r.vector(2).decode("ascii")
        r.expect_end()
        return TicketContents(
            cipher_suite=CipherSuite(suite),
            psk=psk,
            server_name=name or None,
            ticket_age_add=age_add,
            ticket_lifetime=lifetime,
            max_early_data=max_early_data,
            early_data_scope=scope,
        )
    except (InvalidTag, DecodeError, ValueError):
        return None
