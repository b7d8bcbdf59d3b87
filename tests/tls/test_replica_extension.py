"""tlssim_replica: a client that asks learns which server replica answered, in TLS 1.3
(EncryptedExtensions) and 1.2 (ServerHello), full and resumed; nobody else sees it."""

from __future__ import annotations

import pytest

from tlssim.tls import ProtocolVersion, SessionCache, events
from tlssim.tls.extensions import REPLICA_BYTES, decode_replica, encode_replica

from .tlshelpers import make_pair, of_type, pump

TLS12 = (ProtocolVersion.TLSv1_2,)
TLS13 = (ProtocolVersion.TLSv1_3,)
SHARED_TICKET_KEY = bytes(range(32))


def completed(evs: list[events.Event]) -> events.HandshakeComplete:
    (done,) = of_type(evs, events.HandshakeComplete)
    return done


def handshake(
    versions: tuple[ProtocolVersion, ...], *, ask: bool, replica: str | None, **client_kw: object
) -> list[events.Event]:
    client, server = make_pair(
        client_kw={"versions": versions, "ask_replica": ask, **client_kw},
        server_kw={
            "replica": replica,
            "ticket_key": SHARED_TICKET_KEY,
            "session_cache": SessionCache(max_size=8),
        },
    )
    client.start()
    cev, _ = pump(client, server)
    return cev


@pytest.mark.parametrize("versions", [TLS13, TLS12], ids=["tls13", "tls12"])
def test_a_client_that_asks_learns_the_replica(versions: tuple[ProtocolVersion, ...]) -> None:
    assert completed(handshake(versions, ask=True, replica="server.2")).server_replica == "server.2"


@pytest.mark.parametrize("versions", [TLS13, TLS12], ids=["tls13", "tls12"])
def test_no_name_unless_asked_and_known(versions: tuple[ProtocolVersion, ...]) -> None:
    assert completed(handshake(versions, ask=False, replica="server.2")).server_replica is None
    assert completed(handshake(versions, ask=True, replica=None)).server_replica is None


def test_the_client_hello_carries_the_ask_only_when_configured() -> None:
    for ask in (False, True):
        client, _ = make_pair(client_kw={"ask_replica": ask})
        (sent, *_) = client.start()
        assert isinstance(sent, events.HandshakeMessageSent) and sent.name == "ClientHello"
        names = sent.fields["extensions"]
        assert isinstance(names, list)
        assert ("tlssim_replica" in names) is ask


def test_a_ticket_resumes_at_another_replica_sharing_the_key_and_names_it() -> None:
    first = handshake(TLS13, ask=True, replica="server.1")
    (session,) = [e.session for e in first if isinstance(e, events.SessionReceived)]
    again = completed(handshake(TLS13, ask=True, replica="server.3", session=session))
    assert again.resumed and again.server_replica == "server.3"


def test_names_round_trip_in_one_size_whoever_answers() -> None:
    assert decode_replica(encode_replica("server.1")) == "server.1"
    assert len(encode_replica("a")) == len(encode_replica("server.12")) == 1 + REPLICA_BYTES
    assert decode_replica(encode_replica("x" * 400)) == "x" * REPLICA_BYTES
