"""What a TLS 1.3 ClientHello offers (RFC 8446 4.1.2, 4.2), and which ticket to resume."""

from __future__ import annotations

import hmac

from tlssim.tls.constants import ExtensionType, SignatureScheme
from tlssim.tls.errors import DecryptError, IllegalParameter, MissingExtension
from tlssim.tls.hello_extensions import HelloExtensions
from tlssim.tls.keyschedule import TLS13_SUITES, SuiteParams, Transcript
from tlssim.tls.messages import ClientHello
from tlssim.tls.tickets import (
    PSK_DHE_KE,
    TicketContents,
    compute_binder,
    open_ticket,
    truncated_hello,
)

_SCHEMES_BY_VALUE = {int(s): s for s in SignatureScheme}


class Offer13:
    """What a TLS 1.3 ClientHello offers, validated once."""

    __slots__ = (
        "extensions",
        "groups",
        "hello",
        "psk_dhe_ke",
        "psks",
        "schemes",
        "server_name",
        "shares",
        "status_request",
    )

    def __init__(self, hello: ClientHello, exts: HelloExtensions) -> None:
        self.hello = hello
        self.extensions = exts
        groups, shares, schemes = exts.supported_groups, exts.key_share, exts.signature_algorithms
        if groups is None:
            raise MissingExtension("ClientHello without supported_groups")
        if shares is None:
            raise MissingExtension("ClientHello without key_share")
        if schemes is None:
            raise MissingExtension("ClientHello without signature_algorithms")
        if hello.legacy_compression_methods != b"\x00":
            raise IllegalParameter("TLS 1.3 ClientHello must offer only null compression")
        self.groups = groups
        self.shares = shares
        for group, _ in shares:
            if group not in groups:
                raise IllegalParameter("key share for a group not in supported_groups")
        known = _SCHEMES_BY_VALUE  # the members by value: no Enum call for each
        self.schemes = tuple([known[s] for s in schemes if s in known])
        self.server_name = exts.server_name
        self.status_request = exts.status_request
        # pre_shared_key (4.2.11): the last extension, and only with psk_key_exchange_modes
        self.psks = exts.pre_shared_key
        self.psk_dhe_ke = False
        if self.psks is not None:
            if hello.extensions[-1].type != ExtensionType.pre_shared_key:
                raise IllegalParameter("pre_shared_key is not the last extension")
            modes = exts.psk_key_exchange_modes
            if modes is None:
                raise MissingExtension("pre_shared_key without psk_key_exchange_modes")
            self.psk_dhe_ke = PSK_DHE_KE in modes


class AcceptedPsk:
    """The offered identity the server resumes (its index) and what its ticket held."""

    __slots__ = ("contents", "index")

    def __init__(self, index: int, contents: TicketContents) -> None:
        self.index = index
        self.contents = contents


def accept_psk(
    ticket_key: bytes | None,
    offer: Offer13,
    raw: bytes,
    candidates: tuple[SuiteParams, ...],
    transcript: Transcript,
) -> tuple[AcceptedPsk | None, SuiteParams]:
    """The first offered ticket we sealed that fits, with the suite to use (4.2.11).

    A ticket that does not open (another key, tampered), is for another SNI, too old by
    the client's account, or whose hash fits no common suite is skipped: a full
    handshake follows. The chosen one's binder must verify, else decrypt_error.
    """
    fallback = candidates[0]
    if ticket_key is None or offer.psks is None or not offer.psk_dhe_ke:
        return None, fallback
    for index, identity in enumerate(offer.psks.identities):
        contents = open_ticket(ticket_key, identity.identity)
        if (
            contents is None
            or contents.server_name != offer.server_name
            or contents.cipher_suite not in TLS13_SUITES
            or not contents.age_is_acceptable(identity.obfuscated_ticket_age)
        ):
            continue
        hash_name = TLS13_SUITES[contents.cipher_suite].hash_name
        params = next((p for p in candidates if p.hash_name == hash_name), None)
        if params is None or len(contents.psk) != params.hash_length:
            continue
        truncated = truncated_hello(raw, offer.psks)
        expected = compute_binder(params, contents.psk, transcript.digest_with(truncated, params))
        if not hmac.compare_digest(expected, offer.psks.binders[index]):
            raise DecryptError("PSK binder does not verify")
        return AcceptedPsk(index, contents), params
    return None, fallback
