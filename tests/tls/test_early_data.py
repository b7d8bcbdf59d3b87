"""0-RTT (RFC 8446 4.2.10, 4.5, 8): early data accepted, rejected, skipped and replayed."""

from __future__ import annotations

import dataclasses

import pytest

from tlssim.net.used_tickets import UsedTickets
from tlssim.tls import (
    AlertDescription,
    ClientConfig,
    ClientConnection,
    NamedGroup,
    ServerConfig,
    ServerConnection,
    Session,
    events,
)
from tlssim.tls.anti_replay import EarlyDataSettings
from tlssim.tls.constants import ContentType

from .tlshelpers import HOST, counter_entropy, of_type, pki, pump, selector_for

TICKET_KEY = bytes(range(32))
EARLY = b"GET /early HTTP/1.1\r\n\r\n"


def settings(anti_replay: bool = True, max_size: int = 1024) -> EarlyDataSettings:
    return EarlyDataSettings(max_size=max_size, used_tickets=UsedTickets() if anti_replay else None)


def server_for(early: EarlyDataSettings | None, **kw: object) -> ServerConnection:
    return ServerConnection(
        ServerConfig(
            entropy=counter_entropy(b"s"),
            certificate_selector=selector_for(pki().keys["ecdsa"]),
            **{"ticket_key": TICKET_KEY, "early_data": early, **kw},  # type: ignore[arg-type]
        )
    )


def first_session(early: EarlyDataSettings | None) -> Session:
    client = ClientConnection(ClientConfig(server_name=HOST, entropy=counter_entropy(b"c")))
    client.start()
    cev, _ = pump(client, server_for(early))
    (received,) = of_type(cev, events.SessionReceived)
    return received.session


def resume(
    server: ServerConnection, session: Session, data: bytes = EARLY, **kw: object
) -> ClientConnection:
    return ClientConnection(
        ClientConfig(
            server_name=HOST,
            entropy=counter_entropy(b"c2"),
            session=session,
            early_data=data,
            **kw,  # type: ignore[arg-type]
        )
    )


def names(evs: list[events.Event], kind: type[events.Event]) -> list[str]:
    return [e.name for e in evs if isinstance(e, kind)]  # type: ignore[attr-defined]


def test_ticket_carries_max_early_data_size() -> None:
    session = first_session(settings(max_size=777))
    assert session.max_early_data == 777
    assert first_session(None).max_early_data == 0


def test_accepted_early_data_reaches_the_server_before_the_handshake_completes() -> None:
    early = settings()
    session = first_session(early)
    server = server_for(early)
    client = resume(server, session)
    cev = client.start()
    assert of_type(cev, events.EarlyDataSent) == [events.EarlyDataSent(len(EARLY))]
    flight = client.data_to_send()
    sev = server.receive_data(flight)
    assert of_type(sev, events.EarlyDataReceived) == [events.EarlyDataReceived(EARLY)]
    assert of_type(sev, events.EarlyDataAnswered) == [events.EarlyDataAnswered(True, "")]
    assert not server.handshake_complete
    cev += client.receive_data(server.data_to_send())
    assert of_type(cev, events.EarlyDataAnswered) == [events.EarlyDataAnswered(True, "")]
    assert names(cev, events.HandshakeMessageSent)[-2:] == ["EndOfEarlyData", "Finished"]
    sev = server.receive_data(client.data_to_send())
    assert "EndOfEarlyData" in names(sev, events.HandshakeMessageReceived)
    (done,) = of_type(sev, events.HandshakeComplete)
    assert done.resumed
    # both derived the same early secret, logged as NSS names it
    labels = [e for e in cev if isinstance(e, events.SecretDerived)]
    assert labels[0].label == "CLIENT_EARLY_TRAFFIC_SECRET"
    # after 0-RTT the connection carries ordinary data both ways
    client.send_application_data(b"after")
    assert of_type(server.receive_data(client.data_to_send()), events.ApplicationDataReceived)


def test_anti_replay_takes_a_tickets_early_data_once() -> None:
    early = settings()
    session = first_session(early)
    server = server_for(early)
    client = resume(server, session)
    client.start()
    flight = client.data_to_send()
    assert of_type(server.receive_data(flight), events.EarlyDataReceived)
    # the same flight again, on a new connection: resumed 1-RTT, early data skipped
    replayed = server_for(early)
    sev = replayed.receive_data(flight)
    assert not of_type(sev, events.EarlyDataReceived)
    (answer,) = of_type(sev, events.EarlyDataAnswered)
    assert not answer.accepted and "replay" in answer.reason
    assert not replayed.closed  # the early records were skipped, not an error


def test_early_data_is_taken_only_where_the_tickets_register_is() -> None:
    """Replicas share the ticket key, not their registers: a flight copied to a second
    replica (or replayed after a restart emptied the register) resumes, 1-RTT only."""
    issuer = settings()
    session = first_session(issuer)
    client = resume(server_for(issuer), session)
    client.start()
    flight = client.data_to_send()
    for elsewhere in (settings(), settings()):  # another replica; the same one restarted
        other = server_for(elsewhere)
        sev = other.receive_data(flight)
        assert not of_type(sev, events.EarlyDataReceived)
        (answer,) = of_type(sev, events.EarlyDataAnswered)
        assert not answer.accepted and "another server replica" in answer.reason
        assert not other.closed
        assert isinstance(elsewhere.used_tickets, UsedTickets)
        assert len(elsewhere.used_tickets) == 0  # nothing was spent there
    # where the ticket was issued it is taken, once
    sev = server_for(issuer).receive_data(flight)
    assert of_type(sev, events.EarlyDataReceived) == [events.EarlyDataReceived(EARLY)]


def test_a_full_handshake_resumes_elsewhere_without_early_data() -> None:
    issuer, elsewhere = settings(), settings()
    session = first_session(issuer)
    server = server_for(elsewhere)
    client = resume(server, session)
    started = client.start()
    cev, sev = pump(client, server)
    cev = started + cev
    (done,) = of_type(sev, events.HandshakeComplete)
    assert done.resumed
    assert of_type(cev, events.EarlyDataAnswered)[0].accepted is False


def test_without_anti_replay_a_replayed_flight_is_accepted_again() -> None:
    early = settings(anti_replay=False)
    session = first_session(early)
    client = resume(server_for(early), session)
    client.start()
    data = client.data_to_send()
    for _ in range(2):
        sev = server_for(early).receive_data(data)
        assert of_type(sev, events.EarlyDataReceived) == [events.EarlyDataReceived(EARLY)]


def test_rejected_early_data_is_skipped_and_the_client_carries_on() -> None:
    session = first_session(settings())
    server = server_for(None)  # the server no longer takes early data
    client = resume(server, session)
    client.start()
    cev, sev = pump(client, server)
    (answer,) = of_type(sev, events.EarlyDataAnswered)
    assert answer == events.EarlyDataAnswered(False, "the server takes no early data")
    assert of_type(cev, events.EarlyDataAnswered)[0].accepted is False
    assert server.handshake_complete and client.handshake_complete
    assert not of_type(sev, events.EarlyDataReceived)
    assert "EndOfEarlyData" not in names(cev, events.HandshakeMessageSent)
    client.send_application_data(EARLY)  # the client sends it again, now 1-RTT
    assert of_type(server.receive_data(client.data_to_send()), events.ApplicationDataReceived)


def test_skipping_stops_at_max_early_data_size() -> None:
    session = dataclasses.replace(first_session(settings()), max_early_data=40000)
    server = server_for(settings(max_size=16384, anti_replay=False), ticket_key=bytes(32))
    client = resume(server, session, data=b"x" * 20000)
    client.start()
    sev = server.receive_data(client.data_to_send())
    # another ticket key: a full handshake, the early records skipped up to 16384 bytes
    assert of_type(sev, events.EarlyDataAnswered)[0].reason == "no ticket was resumed"
    assert server.closed
    (sent,) = of_type(sev, events.AlertSent)
    assert sent.description == AlertDescription.unexpected_message


def test_early_data_too_big_for_the_ticket_is_not_sent() -> None:
    session = first_session(settings(max_size=8))
    client = resume(server_for(settings()), session, data=b"more than eight bytes")
    cev = client.start()
    assert not of_type(cev, events.EarlyDataSent)


def test_hello_retry_request_rejects_early_data() -> None:
    early = settings()
    session = first_session(early)
    server = server_for(early, supported_groups=(NamedGroup.secp256r1,))
    client = resume(server, session, key_share_groups=(NamedGroup.x25519,))
    client.start()
    _cev, sev = pump(client, server)
    assert "HelloRetryRequest" in names(sev, events.HandshakeMessageSent)
    assert of_type(sev, events.EarlyDataAnswered)[0].reason == "a HelloRetryRequest came first"
    assert server.handshake_complete and client.handshake_complete


def test_more_early_data_than_allowed_is_unexpected_message() -> None:
    early = settings(max_size=10)
    session = dataclasses.replace(first_session(early), max_early_data=100)
    server = server_for(early)
    client = resume(server, session, data=b"y" * 50)
    client.start()
    sev = server.receive_data(client.data_to_send())
    assert of_type(sev, events.AlertSent)[0].description == AlertDescription.unexpected_message


def test_register_fails_closed_when_full() -> None:
    register = UsedTickets(capacity=1)
    assert register.first_use(b"a")
    assert not register.first_use(b"a")
    assert not register.first_use(b"b")  # full: refused rather than forgotten


@pytest.mark.parametrize("anti_replay", [True, False])
def test_early_data_record_is_application_data_outside(anti_replay: bool) -> None:
    early = settings(anti_replay)
    session = first_session(early)
    client = resume(server_for(early), session)
    client.start()
    flight = client.data_to_send()
    types = []
    while flight:
        types.append(flight[0])
        flight = flight[5 + int.from_bytes(flight[3:5], "big") :]
    assert types == [
        ContentType.handshake,
        ContentType.change_cipher_spec,
        ContentType.application_data,
    ]
