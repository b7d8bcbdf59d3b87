"""What a TLS 1.3 ClientHello offers (RFC 8446 4.1.2, 4.2), and which ticket to resume."""

from __future__ import annotations

import hmac

from tlssim.tls.constants import ExtensionType, SignatureScheme
from tlssim.tls.errors import DecryptError, IllegalParameter, MissingExtension
from tlssim.tls.extensions import (
    decode_client_key_shares,
    decode_server_name,
    decode_status_request,
    decode_uint16_list,
)
from tlssim.tls.keyschedule import TLS13_SUITES, SuiteParams, Transcript
from tlssim.tls.messages import ClientHello
from tlssim.tls.tickets import (
    PSK_DHE_KE,
    OfferedPsks,
    TicketContents,
    compute_binder,
    decode_psk_modes,
    open_ticket,
    truncated_hello,
)


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

    def __init__(self, hello: ClientHello, exts: dict[int, bytes]) -> None:
        self.hello = hello
        self.extensions = exts
        for needed in (
            ExtensionType.supported_groups,
            ExtensionType.key_share,
            ExtensionType.signature_algorithms,
        ):
            if needed not in exts:
                raise MissingExtension(f"ClientHello without {ExtensionType(needed).name}")
        if hello.legacy_compression_methods != b"\x00":
            raise IllegalParameter("TLS 1.3 ClientHello must offer only null compression")
        self.groups = decode_uint16_list(exts[ExtensionType.supported_groups])
        self.shares = decode_client_key_shares(exts[ExtensionType.key_share])
        for group, _ in self.shares:
            if group not in self.groups:
                raise IllegalParameter("key share for a group not in supported_groups")
        self.schemes = tuple(
            SignatureScheme(s)
            for s in decode_uint16_list(exts[ExtensionType.signature_algorithms])
            if s in SignatureScheme._value2member_map_
        )
        name_ext = exts.get(ExtensionType.server_name)
        self.server_name = decode_server_name(name_ext) if name_ext is not None else None
        status = exts.get(ExtensionType.status_request)
        self.status_request = status is not None and decode_status_request(status)
        # pre_shared_key (4.2.11): the last extension, and only with psk_key_exchange_modes
        self.psks: OfferedPsks | None = None
        self.psk_dhe_ke = False
        psk_body = exts.get(ExtensionType.pre_shared_key)
        if psk_body is not None:
            if hello.extensions[-1].type != ExtensionType.pre_shared_key:
                raise IllegalParameter("pre_shared_key is not the last extension")
            modes = exts.get(ExtensionType.psk_key_exchange_modes)
            if modes is None:
                raise MissingExtension("pre_shared_key without psk_key_exchange_modes")
            self.psks = OfferedPsks.decode(psk_body)
            self.psk_dhe_ke = PSK_DHE_KE in decode_psk_modes(modes)


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
