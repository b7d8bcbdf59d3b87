"""0-RTT (RFC 8446 4.2.10): the early_data extension, the client's early flight, and the
server's choice to read the early data or skip it.

A client resuming a ticket that carries early_data (max_early_data_size) may send
application data right after its ClientHello, under client_early_traffic_secret (derived
from the PSK's early secret over Hash(ClientHello)). The server takes it only for the
first offered identity, the ticket's own cipher suite, no HelloRetryRequest, and (with
anti-replay on) a ticket whose early data it never took before; it then answers early_data
in EncryptedExtensions and reads early data until the client's EndOfEarlyData. Otherwise
it skips the early records by trial decryption, up to max_early_data_size, and the
client sends the data again once connected.
"""

from __future__ import annotations

from dataclasses import dataclass

from tlssim.tls import events as ev
from tlssim.tls.anti_replay import DEFAULT_MAX_EARLY_DATA, EarlyDataSettings
from tlssim.tls.constants import ContentType, ExtensionType, HandshakeType
from tlssim.tls.core import ConnectionCore
from tlssim.tls.errors import DecodeError
from tlssim.tls.extensions import Extension
from tlssim.tls.keyschedule import TLS13_SUITES, KeySchedule, SuiteParams
from tlssim.tls.messages import frame
from tlssim.tls.offer13 import AcceptedPsk, Offer13
from tlssim.tls.record import RecordProtection
from tlssim.tls.sessions import Session

#: The early_data extension of a ClientHello or EncryptedExtensions: empty.
INDICATION = Extension(ExtensionType.early_data, b"")
#: EndOfEarlyData (4.5): an empty handshake message under the early traffic key.
END_OF_EARLY_DATA = frame(HandshakeType.end_of_early_data, b"")
KEYLOG_LABEL = "CLIENT_EARLY_TRAFFIC_SECRET"


def encode_max_early_data(size: int) -> bytes:
    """NewSessionTicket's early_data: uint32 max_early_data_size."""
    return size.to_bytes(4, "big")


def decode_max_early_data(body: bytes) -> int:
    if len(body) != 4:
        raise DecodeError("NewSessionTicket early_data must be a uint32")
    return int.from_bytes(body, "big")


def check_indication(body: bytes) -> None:
    if body:
        raise DecodeError("early_data in EncryptedExtensions must be empty")


def ticket_extensions(settings: EarlyDataSettings | None) -> tuple[Extension, ...]:
    """What a NewSessionTicket carries to allow 0-RTT (nothing when the server takes none)."""
    if settings is None:
        return ()
    return (Extension(ExtensionType.early_data, encode_max_early_data(settings.max_size)),)


# -- the client ----------------------------------------------------------------------------


def can_send(session: Session | None, data: bytes) -> bool:
    """Whether ``data`` may go in 0-RTT with ``session``'s ticket (it fits the ticket)."""
    return session is not None and bool(data) and 0 < len(data) <= session.max_early_data


def send_early_data(core: ConnectionCore, session: Session, data: bytes, compat: bool) -> None:
    """After the first ClientHello: the early key, then ``data`` under it.

    In middlebox compatibility mode the change_cipher_spec goes first (D.4). The write
    key stays the early one until EncryptedExtensions says what the server did.
    """
    params = TLS13_SUITES[session.cipher_suite]
    secret = KeySchedule(params, session.secret).early_traffic(
        core.transcript.digest_with(b"", params)
    )
    core.secret(KEYLOG_LABEL, secret)
    if compat:
        core.send_compat_ccs()
    core.set_write_protection(RecordProtection(params, secret))
    core.records.write(ContentType.application_data, data)
    core.events.append(ev.EarlyDataSent(len(data)))


# -- the server ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether the server reads the offered early data, and why not."""

    accepted: bool
    reason: str = ""


def judge(
    settings: EarlyDataSettings | None,
    offer: Offer13,
    psk: AcceptedPsk | None,
    params: SuiteParams,
    *,
    after_retry: bool,
) -> Verdict | None:
    """The server's answer to an early_data offer (None: the client offered none).

    Checked last, so that only early data the server would otherwise take counts as a
    ticket's one use: the anti-replay register.
    """
    if not offer.extensions.early_data:
        return None
    if settings is None:
        return Verdict(False, "the server takes no early data")
    if after_retry:
        return Verdict(False, "a HelloRetryRequest came first")
    if psk is None:
        return Verdict(False, "no ticket was resumed")
    if psk.index != 0:
        return Verdict(False, "early data goes only with the first offered ticket")
    if psk.contents.max_early_data == 0:
        return Verdict(False, "the ticket allows no early data")
    if psk.contents.cipher_suite != params.suite:
        return Verdict(False, "the ticket's cipher suite was not chosen")
    register = settings.used_tickets
    if register is not None:
        if psk.contents.early_data_scope != register.scope:
            return Verdict(
                False,
                "the ticket came from another server replica or before a restart, "
                "whose record of used tickets is not here",
            )
        assert offer.psks is not None
        if not register.first_use(offer.psks.identities[0].identity):
            if register.is_full():
                return Verdict(False, "the anti-replay register is full")
            return Verdict(False, "replay: this ticket's early data was accepted before")
    return Verdict(True)


def early_traffic_secret(core: ConnectionCore, params: SuiteParams, psk: bytes) -> bytes:
    """The server's copy of client_early_traffic_secret, over the ClientHello just taken."""
    secret = KeySchedule(params, psk).early_traffic(core.transcript.digest())
    core.secret(KEYLOG_LABEL, secret)
    return secret


def read_early_data(
    core: ConnectionCore, params: SuiteParams, secret: bytes, settings: EarlyDataSettings
) -> None:
    """Accepted: read with the early key, up to max_early_data_size, until EndOfEarlyData."""
    core.set_read_protection(RecordProtection(params, secret))
    core.early_data_left = settings.max_size


def skip_early_data(core: ConnectionCore, settings: EarlyDataSettings | None) -> None:
    """Rejected: drop what does not decrypt, up to max_early_data_size (4.2.10)."""
    core.records.skip_early_data = (
        settings.max_size if settings is not None else DEFAULT_MAX_EARLY_DATA
    )
