"""Our client as a strict peer, state by state: in each state of both client transition
tables, every message the table does not take there is unexpected_message (RFC 8446 5, 6.2
and appendix A.1; RFC 5246 7.3), sent by our client. The flights come from a real server
(see ``hostile``), one record per message, protected as that state's messages are.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from tlssim.tls import AlertDescription, HandshakeType, Tls12State, Tls13State, events
from tlssim.tls.certificate_request import CertificateRequest
from tlssim.tls.client12 import ClientTls12
from tlssim.tls.client13 import ClientTls13
from tlssim.tls.constants import ContentType
from tlssim.tls.messages import frame
from tlssim.tls.states import CHANGE_CIPHER_SPEC, HandshakeState

from .hostile import (
    CCS_RECORD,
    HANDSHAKE,
    ONLY_P256,
    Outcome,
    Server12,
    Server13,
    assert_client_sent,
    record,
)

A = AlertDescription

# -- every state, every message its table does not take ----------------------------------------

ALL_MESSAGES = [int(t) for t in HandshakeType if t != HandshakeType.message_hash] + [
    0x63,  # an unknown handshake type
    CHANGE_CIPHER_SPEC,
]


def _unexpected(
    table: Mapping[tuple[HandshakeState, int], object], states: list[HandshakeState]
) -> list[tuple[HandshakeState, int]]:
    return [
        (state, msg)
        for state in states
        for msg in ALL_MESSAGES
        if (state, msg) not in table
        # TLS 1.3 ignores a change_cipher_spec during the handshake (RFC 8446 5, D.4)
        and not (
            msg == CHANGE_CIPHER_SPEC
            and isinstance(state, Tls13State)
            and state not in (Tls13State.WAIT_SH, Tls13State.CONNECTED)
        )
    ]


def _message(msg: int) -> tuple[int, bytes]:
    if msg == CHANGE_CIPHER_SPEC:
        return ContentType.change_cipher_spec, b"\x01"
    return HANDSHAKE, frame(msg, b"\x00\x00\x00\x00")


def _deliver13(state: Tls13State, msg: int) -> Outcome:
    """Bring the client to ``state`` with the genuine flight, one record per message,
    then send ``msg`` protected as that state's messages are."""
    content_type, payload = _message(msg)
    if state == Tls13State.WAIT_SH2:
        s = Server13(server_kw=ONLY_P256)
        retried = s.retry()
        return s.client, retried + s.send(record(content_type, payload))
    s = Server13()
    sh, ee, cert, cv, fin = s.messages
    if state == Tls13State.WAIT_SH:
        return s.client, s.send(record(content_type, payload))
    evs = s.send(record(HANDSHAKE, sh))
    before = {
        Tls13State.WAIT_EE: [],
        Tls13State.WAIT_CERT_CR: [ee],
        Tls13State.WAIT_CERT: [ee, CertificateRequest(schemes=(0x0403,)).serialize()],
        Tls13State.WAIT_CV: [ee, cert],
        Tls13State.WAIT_FINISHED: [ee, cert, cv],
        Tls13State.CONNECTED: [ee, cert, cv, fin],
    }[state]
    for message in before:
        evs += s.send(s.seal(message))
    assert s.client.handshake_state == state, evs
    if content_type == ContentType.change_cipher_spec:
        return s.client, evs + s.send(record(content_type, payload))
    seal = s.seal_app if state == Tls13State.CONNECTED else s.seal
    return s.client, evs + s.send(seal(payload, content_type))


def _deliver12(state: Tls12State, msg: int) -> Outcome:
    content_type, payload = _message(msg)
    s = Server12(ocsp=b"a stapled response") if state == Tls12State.WAIT_CERT_STATUS else Server12()
    sh, cert, *rest = s.messages
    evs: list[events.Event] = []
    if state in (Tls12State.WAIT_FINISHED, Tls12State.CONNECTED):
        evs += s.finish()
        evs += s.send(CCS_RECORD)
        if state == Tls12State.CONNECTED:
            evs += s.send(s.seal(s.finished))
        assert s.client.handshake_state == state, evs
        return s.client, evs + s.send(s.seal(payload, content_type))
    before = {
        Tls12State.WAIT_SH: [],
        Tls12State.WAIT_CERT: [sh],
        Tls12State.WAIT_CERT_STATUS: [sh, cert],
        Tls12State.WAIT_SKE: [sh, cert],
        Tls12State.WAIT_SHD: [sh, cert, *rest[:-1]],
        Tls12State.WAIT_CCS: [sh, cert, *rest],
    }[state]
    for message in before:
        evs += s.send(record(HANDSHAKE, message))
    assert s.client.handshake_state == (state if before else None), evs
    return s.client, evs + s.send(record(content_type, payload))


S13, S12 = Tls13State, Tls12State
CLIENT13_STATES: list[HandshakeState] = [
    S13.WAIT_SH, S13.WAIT_SH2, S13.WAIT_EE, S13.WAIT_CERT_CR, S13.WAIT_CERT, S13.WAIT_CV,
    S13.WAIT_FINISHED, S13.CONNECTED,
]  # fmt: skip
CLIENT12_STATES: list[HandshakeState] = [
    S12.WAIT_SH, S12.WAIT_CERT, S12.WAIT_CERT_STATUS, S12.WAIT_SKE, S12.WAIT_SHD, S12.WAIT_CCS,
    S12.WAIT_FINISHED, S12.CONNECTED,
]  # fmt: skip
MATRIX13 = _unexpected(ClientTls13.transitions, CLIENT13_STATES)
MATRIX12 = _unexpected(ClientTls12.transitions, CLIENT12_STATES)


def _id(case: tuple[HandshakeState, int]) -> str:
    state, msg = case
    name = "ChangeCipherSpec" if msg == CHANGE_CIPHER_SPEC else f"type{msg}"
    return f"{state.name}-{name}"


@pytest.mark.parametrize("case", MATRIX13, ids=[_id(c) for c in MATRIX13])
def test_unexpected_message_in_every_tls13_state(case: tuple[Tls13State, int]) -> None:
    """RFC 8446 5, 6.2 and appendix A.1: a message the state machine does not take there."""
    assert_client_sent(_deliver13(*case), A.unexpected_message)


@pytest.mark.parametrize("case", MATRIX12, ids=[_id(c) for c in MATRIX12])
def test_unexpected_message_in_every_tls12_state(case: tuple[Tls12State, int]) -> None:
    """RFC 5246 7.3, 7.4: messages out of the order of section 7.3."""
    assert_client_sent(_deliver12(*case), A.unexpected_message)


def test_the_matrices_cover_every_client_state() -> None:
    assert {s for s, _ in MATRIX13} == set(Tls13State) - {  # the server's own states
        Tls13State.WAIT_CH,
        Tls13State.WAIT_CH2,
        Tls13State.WAIT_EOED,
        Tls13State.PHA_WAIT_CERT,
        Tls13State.PHA_WAIT_CV,
        Tls13State.PHA_WAIT_FINISHED,
    }
    assert {s for s, _ in MATRIX12} == set(Tls12State) - {  # the server's own states
        Tls12State.WAIT_CH,
        Tls12State.WAIT_CKE,
        Tls12State.WAIT_CV,
    }
