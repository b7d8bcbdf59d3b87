"""The transition tables: the states each handshake walks through, and what they refuse."""

from __future__ import annotations

import inspect
import re

import pytest

from tlssim.tls import (
    AlertDescription,
    AlertLevel,
    CipherSuite,
    ClientConnection,
    NamedGroup,
    ProtocolVersion,
    ServerConnection,
    SessionCache,
    State,
    Tls12State,
    Tls13State,
    events,
)
from tlssim.tls.client12 import ClientTls12
from tlssim.tls.client13 import ClientTls13
from tlssim.tls.server12 import ServerTls12
from tlssim.tls.server13 import ServerTls13
from tlssim.tls.states import CHANGE_CIPHER_SPEC

from .tlshelpers import make_pair, of_type, pump

TLS12 = (ProtocolVersion.TLSv1_2,)
S13, S12 = Tls13State, Tls12State
Seen = list[object]


def walk(client: ClientConnection, server: ServerConnection) -> tuple[Seen, Seen]:
    """Deliver one record at a time and note each side's handshake state when it changes
    (and where the client paused for the certificate decision)."""
    client_states: Seen = []
    server_states: Seen = []
    client.start()
    for _ in range(20):
        for record in records(client.data_to_send()):
            server.receive_data(record)
            server_states.append(server.handshake_state)
        data = server.data_to_send()
        for record in records(data):
            evs = client.receive_data(record)
            if of_type(evs, events.CertificateReceived):
                client_states.append(("paused in", client.handshake_state))
                client.accept_certificate()
            client_states.append(client.handshake_state)
        if not data:
            break
    return dedupe(client_states), dedupe(server_states)


def records(data: bytes) -> list[bytes]:
    out = []
    while data:
        length = 5 + int.from_bytes(data[3:5], "big")
        out.append(data[:length])
        data = data[length:]
    return out


def dedupe(states: Seen) -> Seen:
    return [s for i, s in enumerate(states) if i == 0 or states[i - 1] != s]


def test_tls13_full_handshake() -> None:
    client, server = make_pair()
    assert client.state is State.START and client.handshake_state is None
    c, s = walk(client, server)
    # EncryptedExtensions .. Finished share one record: the pause shows the table reached CV
    assert c == [S13.WAIT_EE, ("paused in", S13.WAIT_CV), S13.CONNECTED]
    assert s == [S13.WAIT_FINISHED, S13.CONNECTED]
    assert (client.state, server.state) == (State.CONNECTED, State.CONNECTED)


def test_tls13_hello_retry_request_takes_the_second_hello_states() -> None:
    client, server = make_pair(server_kw={"supported_groups": (NamedGroup.secp256r1,)})
    c, s = walk(client, server)
    assert c == [S13.WAIT_SH2, S13.WAIT_EE, ("paused in", S13.WAIT_CV), S13.CONNECTED]
    assert s == [S13.WAIT_CH2, S13.WAIT_FINISHED, S13.CONNECTED]


def test_tls13_psk_resumption_skips_the_certificate_states() -> None:
    key = bytes(range(32))
    client, server = make_pair(server_kw={"ticket_key": key})
    client.start()
    cev, _ = pump(client, server)
    session = of_type(cev, events.SessionReceived)[0].session
    c, s = walk(*make_pair(client_kw={"session": session}, server_kw={"ticket_key": key}))
    assert c == [S13.WAIT_EE, S13.CONNECTED]  # no pause: no Certificate
    assert s == [S13.WAIT_FINISHED, S13.CONNECTED]


@pytest.mark.parametrize(
    ("kind", "suite", "paused_in"),
    [
        ("ecdsa", CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, S12.WAIT_SKE),
        ("rsa", CipherSuite.TLS_RSA_WITH_AES_128_GCM_SHA256, S12.WAIT_SHD),
    ],
)
def test_tls12_full_handshake(kind: str, suite: CipherSuite, paused_in: Tls12State) -> None:
    client, server = make_pair(kind, client_kw={"versions": TLS12, "cipher_suites": (suite,)})
    c, s = walk(client, server)
    assert c == [("paused in", paused_in), S12.WAIT_CCS, S12.WAIT_FINISHED, S12.CONNECTED]
    assert s == [S12.WAIT_CKE, S12.WAIT_CCS, S12.WAIT_FINISHED, S12.CONNECTED]


def test_tls12_staple_pauses_after_certificate_status() -> None:
    client, server = make_pair(client_kw={"versions": TLS12}, ocsp=b"an OCSP response")
    c, _ = walk(client, server)
    assert c[0] == ("paused in", S12.WAIT_SKE)


def test_tls12_session_resumption_goes_straight_to_change_cipher_spec() -> None:
    cache = SessionCache()
    client, server = make_pair(client_kw={"versions": TLS12}, server_kw={"session_cache": cache})
    client.start()
    session = of_type(pump(client, server)[0], events.SessionReceived)[0].session
    c, s = walk(
        *make_pair(
            client_kw={"versions": TLS12, "session": session},
            server_kw={"session_cache": cache},
        )
    )
    assert c == [S12.WAIT_CCS, S12.WAIT_FINISHED, S12.CONNECTED]
    assert s == [S12.WAIT_CCS, S12.WAIT_FINISHED, S12.CONNECTED]


def test_every_table_names_a_handler_and_only_its_version_states() -> None:
    for cls, state_type in (
        (ClientTls13, Tls13State),
        (ServerTls13, Tls13State),
        (ClientTls12, Tls12State),
        (ServerTls12, Tls12State),
    ):
        assert cls.transitions
        for (state, _), step in cls.transitions.items():
            assert isinstance(state, state_type)
            # the class's own method, as its name finds it on the class
            assert getattr(cls, step.handler.__name__) is step.handler
            assert step.next_states and all(isinstance(n, state_type) for n in step.next_states)
    for cls in (ClientTls13, ServerTls13):  # TLS 1.3 drops change_cipher_spec, never steps on it
        assert all(msg != CHANGE_CIPHER_SPEC for _, msg in cls.transitions)


def test_only_the_tables_move_a_handshake_on() -> None:
    """Each handshake object sets its state once, to where it starts; every later state
    comes from its table (the core applies the entries)."""
    for cls in (ClientTls13, ServerTls13, ClientTls12, ServerTls12):
        source = inspect.getsource(inspect.getmodule(cls))  # type: ignore[arg-type]
        assert len(re.findall(r"\bself\.state\s*=", source)) == 1, cls.__name__


def test_tls12_change_cipher_spec_out_of_place_is_unexpected() -> None:
    client, server = make_pair(client_kw={"versions": TLS12})
    client.start()
    server.receive_data(client.data_to_send())
    assert server.data_to_send()
    evs = server.receive_data(bytes([20, 3, 3, 0, 1, 1]))  # CCS before ClientKeyExchange
    assert evs[0] == events.AlertSent(AlertLevel.fatal, AlertDescription.unexpected_message)
    assert server.error is not None and "WAIT_CKE" in str(server.error)
