"""Connection states and the shape of a handshake's transition table.

A connection has a coarse public ``State`` (START, HANDSHAKING, CONNECTED, CLOSED). Once
the first hello picked a version, a handshake object drives the connection through that
version's states (``Tls13State``, ``Tls12State``) with a table

    {(state, message type): step(handler, next state, ...)}

whose handlers are the handshake class's own methods (``ClientTls13.on_server_hello``), so
mypy checks each against the class and a rename follows it. A handler whose entry lists one
next state returns None; where the protocol branches (HelloRetryRequest or ServerHello,
resumed or full, optional messages) the entry lists every possible next state and the
handler returns the one taken. The core's dispatcher applies it; a message with no entry
for the current state is an unexpected_message. A message the handshake sends on the
caller's request, not in answer to one (the server's post-handshake CertificateRequest), is
keyed ``sent(message type)``; ``ConnectionCore.step_sent`` applies its entry.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar

from tlssim.tls.constants import ContentType, HandshakeType, ProtocolVersion, name_of


class State(enum.Enum):
    """Where a connection is, whatever the version."""

    START = "START"
    HANDSHAKING = "HANDSHAKING"
    CONNECTED = "CONNECTED"
    CLOSED = "CLOSED"


class Tls13State(enum.Enum):
    """RFC 8446 appendix A (A.1 client, A.2 server), for the messages this engine takes.

    WAIT_SH2 and WAIT_CH2 are WAIT_SH and the server's START after a HelloRetryRequest,
    kept apart because a second HelloRetryRequest is not allowed (4.1.4). A server that
    accepted 0-RTT reads early data in WAIT_EOED until the client's EndOfEarlyData.
    """

    WAIT_SH = "WAIT_SH"
    WAIT_SH2 = "WAIT_SH2"
    WAIT_EE = "WAIT_EE"
    WAIT_CERT_CR = "WAIT_CERT_CR"
    WAIT_CERT = "WAIT_CERT"
    WAIT_CV = "WAIT_CV"
    WAIT_CH = "WAIT_CH"
    WAIT_CH2 = "WAIT_CH2"
    WAIT_EOED = "WAIT_EOED"
    WAIT_FINISHED = "WAIT_FINISHED"
    CONNECTED = "CONNECTED"
    #: Post-handshake authentication (4.6.2): the server asked, the client's answer is due.
    PHA_WAIT_CERT = "PHA_WAIT_CERT"
    PHA_WAIT_CV = "PHA_WAIT_CV"
    PHA_WAIT_FINISHED = "PHA_WAIT_FINISHED"


class Tls12State(enum.Enum):
    """The message order of RFC 5246 section 7.3 (and RFC 6066 CertificateStatus).

    A server asking for a client certificate waits for it in WAIT_CERT and, when one came,
    for its CertificateVerify in WAIT_CV.
    """

    WAIT_SH = "WAIT_SH"
    WAIT_CERT = "WAIT_CERT"
    WAIT_CERT_STATUS = "WAIT_CERT_STATUS"
    WAIT_SKE = "WAIT_SKE"
    WAIT_SHD = "WAIT_SHD"
    WAIT_CH = "WAIT_CH"
    WAIT_CKE = "WAIT_CKE"
    WAIT_CV = "WAIT_CV"
    WAIT_CCS = "WAIT_CCS"
    WAIT_FINISHED = "WAIT_FINISHED"
    CONNECTED = "CONNECTED"


#: A TLS 1.2 change_cipher_spec record, as it appears in transition tables (not a
#: handshake type: 0x100 keeps it apart from every one).
CHANGE_CIPHER_SPEC = 0x100 | ContentType.change_cipher_spec

#: A message this side sends, as a transition table keys it (0x200 keeps it apart from every
#: message received and from CHANGE_CIPHER_SPEC).
SENT = 0x200


def sent(msg_type: int) -> int:
    return SENT | msg_type


HandshakeState = Tls13State | Tls12State
H = TypeVar("H", bound="Handshake")


def message_name(msg_type: int) -> str:
    if msg_type == CHANGE_CIPHER_SPEC:
        return "ChangeCipherSpec"
    return name_of(HandshakeType, msg_type)


class Transition(NamedTuple, Generic[H]):
    """One table entry: the handshake class's method that takes the message (body, whole
    message) and the states it may lead to."""

    handler: Callable[[H, bytes, bytes], HandshakeState | None]
    next_states: tuple[HandshakeState, ...]


def step(
    handler: Callable[[H, bytes, bytes], HandshakeState | None], *next_states: HandshakeState
) -> Transition[H]:
    """A table entry: `handler`, which returns the state taken when there are several."""
    if not next_states:
        raise ValueError(f"{handler.__name__}: a transition needs a next state")
    return Transition(handler, next_states)


#: A handshake class's transition table.
Table = dict[tuple[HandshakeState, int], Transition[H]]


class Handshake:
    """What the core asks of a handshake object (one per role and version)."""

    version: ClassVar[ProtocolVersion]
    #: The class's table (set below each class, whose methods it holds).
    transitions: ClassVar[dict[tuple[HandshakeState, int], Transition[Any]]]
    state: HandshakeState
