"""What a completed handshake settled on, and the one rule that names its key exchange."""

from __future__ import annotations

from dataclasses import dataclass

from tlssim.tls import events as ev
from tlssim.tls.constants import (
    CipherSuite,
    NamedGroup,
    ProtocolVersion,
    SignatureScheme,
    name_of,
)
from tlssim.tls.sessions import Session


def key_exchange_name(group: NamedGroup | None, resumed_from: Session | None = None) -> str:
    """How the keys were agreed, as reports and logs name it.

    The (EC)DHE group's name whenever there was one: every TLS 1.3 handshake (a psk_dhe_ke
    resumption too) and TLS 1.2 ECDHE. A TLS 1.2 session-id resumption agrees no key: it
    carries the original session's name, or "resumed" when the session does not know it.
    Otherwise TLS 1.2 RSA key transport: "rsa".
    """
    if group is not None:
        return name_of(NamedGroup, group)
    if resumed_from is not None:
        return resumed_from.key_exchange or "resumed"
    return "rsa"


@dataclass(frozen=True, slots=True, kw_only=True, init=False)
class Negotiated:
    """What the handshake settled on."""

    version: ProtocolVersion
    cipher_suite: CipherSuite
    group: NamedGroup | None
    signature_scheme: SignatureScheme | None
    server_name: str | None
    #: ``key_exchange_name(...)``: the group, "rsa", or a resumed session's.
    key_exchange: str
    #: TLS 1.2: whether the RFC 7627 extended master secret was used (always False in 1.3).
    extended_master_secret: bool
    #: Whether this was an abbreviated (resumed) handshake.
    resumed: bool
    #: The server replica that answered, when the client asked (tlssim_replica).
    server_replica: str | None

    def __init__(
        self,
        *,
        version: ProtocolVersion,
        cipher_suite: CipherSuite,
        group: NamedGroup | None,
        signature_scheme: SignatureScheme | None,
        server_name: str | None,
        key_exchange: str,
        extended_master_secret: bool = False,
        resumed: bool = False,
        server_replica: str | None = None,
    ) -> None:
        # one a handshake on each side: through the slots' setters, not object.__setattr__
        s = _SET_NEGOTIATED
        s[0](self, version)
        s[1](self, cipher_suite)
        s[2](self, group)
        s[3](self, signature_scheme)
        s[4](self, server_name)
        s[5](self, key_exchange)
        s[6](self, extended_master_secret)
        s[7](self, resumed)
        s[8](self, server_replica)

    def event(self) -> ev.HandshakeComplete:
        return ev.HandshakeComplete(
            self.version,
            self.cipher_suite,
            self.group,
            self.signature_scheme,
            self.server_name,
            self.key_exchange,
            self.resumed,
            self.server_replica,
        )


_SET_NEGOTIATED = tuple(
    Negotiated.__dict__[name].__set__
    for name in (
        "version",
        "cipher_suite",
        "group",
        "signature_scheme",
        "server_name",
        "key_exchange",
        "extended_master_secret",
        "resumed",
        "server_replica",
    )
)
