"""Events the engine returns from ``receive_data`` and friends, in wire order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tlssim.tls.constants import (
    AlertDescription,
    AlertLevel,
    CipherSuite,
    NamedGroup,
    ProtocolVersion,
    SignatureScheme,
)
from tlssim.tls.errors import TLSError
from tlssim.tls.sessions import Session


class Event:
    """Base class of every engine event."""

    __slots__ = ()


# The three events of every handshake message and secret (about 25 a handshake) store
# their fields through the slots' own setters: a frozen dataclass's generated __init__
# goes through object.__setattr__ for each, which costs nearly twice as much.


def _setters(cls: type, *names: str) -> tuple[Callable[[object, object], None], ...]:
    return tuple(cls.__dict__[name].__set__ for name in names)


@dataclass(frozen=True, slots=True, init=False)
class HandshakeMessageSent(Event):
    """A handshake message we queued; ``fields`` are decoded JSON-serialisable values."""

    name: str
    size: int
    fields: dict[str, object] = field(default_factory=dict)

    def __init__(self, name: str, size: int, fields: dict[str, object] | None = None) -> None:
        _SET_SENT[0](self, name)
        _SET_SENT[1](self, size)
        _SET_SENT[2](self, {} if fields is None else fields)


@dataclass(frozen=True, slots=True, init=False)
class HandshakeMessageReceived(Event):
    name: str
    size: int
    fields: dict[str, object] = field(default_factory=dict)

    def __init__(self, name: str, size: int, fields: dict[str, object] | None = None) -> None:
        _SET_RECEIVED[0](self, name)
        _SET_RECEIVED[1](self, size)
        _SET_RECEIVED[2](self, {} if fields is None else fields)


@dataclass(frozen=True, slots=True, init=False)
class SecretDerived(Event):
    """A traffic secret, labelled as in the NSS key log format (SSLKEYLOGFILE)."""

    label: str
    client_random: bytes
    secret: bytes

    def __init__(self, label: str, client_random: bytes, secret: bytes) -> None:
        _SET_SECRET[0](self, label)
        _SET_SECRET[1](self, client_random)
        _SET_SECRET[2](self, secret)

    def keylog_line(self) -> str:
        return f"{self.label} {self.client_random.hex()} {self.secret.hex()}"


_SET_SENT = _setters(HandshakeMessageSent, "name", "size", "fields")
_SET_RECEIVED = _setters(HandshakeMessageReceived, "name", "size", "fields")
_SET_SECRET = _setters(SecretDerived, "label", "client_random", "secret")


@dataclass(frozen=True, slots=True)
class CertificateReceived(Event):
    """The peer's chain (DER, leaf first): the server's, or a client's when the server asked
    for one. The engine pauses until the caller calls ``accept_certificate()`` or
    ``reject_certificate(alert)``. A client's chain never carries an OCSP staple."""

    chain: tuple[bytes, ...]
    ocsp_response: bytes | None


@dataclass(frozen=True, slots=True, init=False)
class HandshakeComplete(Event):
    version: ProtocolVersion
    cipher_suite: CipherSuite
    group: NamedGroup | None
    signature_scheme: SignatureScheme | None
    server_name: str | None
    #: The (EC)DHE group's name, "rsa" (TLS 1.2 key transport), or for a TLS 1.2 session-id
    #: resumption the original session's ("resumed" if unknown); see ``key_exchange_name``.
    key_exchange: str
    #: True for an abbreviated handshake (TLS 1.2 session id or TLS 1.3 PSK ticket).
    resumed: bool
    #: The server replica that answered, when the client asked for it (tlssim_replica).
    server_replica: str | None

    def __init__(
        self,
        version: ProtocolVersion,
        cipher_suite: CipherSuite,
        group: NamedGroup | None,
        signature_scheme: SignatureScheme | None,
        server_name: str | None,
        key_exchange: str,
        resumed: bool = False,
        server_replica: str | None = None,
    ) -> None:
        # one a handshake on each side: through the slots' setters as the events above
        s = _SET_COMPLETE
        s[0](self, version)
        s[1](self, cipher_suite)
        s[2](self, group)
        s[3](self, signature_scheme)
        s[4](self, server_name)
        s[5](self, key_exchange)
        s[6](self, resumed)
        s[7](self, server_replica)


_SET_COMPLETE = _setters(
    HandshakeComplete,
    "version",
    "cipher_suite",
    "group",
    "signature_scheme",
    "server_name",
    "key_exchange",
    "resumed",
    "server_replica",
)


@dataclass(frozen=True, slots=True)
class SessionReceived(Event):
    """The client got something resumable (a TLS 1.2 session id after the handshake, or a
    TLS 1.3 NewSessionTicket); pass ``session`` back as ``ClientConfig.session``."""

    session: Session


@dataclass(frozen=True, slots=True)
class ApplicationDataReceived(Event):
    data: bytes


@dataclass(frozen=True, slots=True)
class AlertReceived(Event):
    level: AlertLevel | int
    description: AlertDescription | int


@dataclass(frozen=True, slots=True)
class AlertSent(Event):
    level: AlertLevel
    description: AlertDescription


@dataclass(frozen=True, slots=True)
class ConnectionClosed(Event):
    """The connection is over (close_notify, a fatal alert either way, or EOF).

    ``error`` is what ended it, if it was not a clean close: a local ``TLSError`` (we sent
    its alert) or a ``PeerAlert`` (the peer sent one).
    """

    error: TLSError | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class EarlyDataSent(Event):
    """The client sent ``size`` bytes of 0-RTT data right after its ClientHello."""

    size: int


@dataclass(frozen=True, slots=True)
class EarlyDataAnswered(Event):
    """Whether the server took the 0-RTT data the client offered, and why not if it did
    not (both sides report it, at EncryptedExtensions). A client whose early data was
    rejected sends it again as ordinary application data, if it still wants to."""

    accepted: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class EarlyDataReceived(Event):
    """0-RTT data the server accepted (before the handshake completed)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class ClientAuthenticated(Event):
    """Post-handshake authentication (4.6.2) finished: the client's chain (DER, leaf
    first; empty when it sent no certificate and the server did not require one)."""

    chain: tuple[bytes, ...]
