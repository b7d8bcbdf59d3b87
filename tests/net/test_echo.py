"""The server's echo protocol over the engine: plain echo, 0-RTT echoed once connected, and
the private path's post-handshake authentication."""

from __future__ import annotations

import pytest

from tests.tls.test_client_auth import client_identities
from tests.tls.tlshelpers import make_pair, of_type, pump
from tlssim.net.echo import (
    NOBODY,
    Echo,
    asks_for_certificate,
    authenticated_in,
    authenticated_line,
    subject_of,
)
from tlssim.net.used_tickets import UsedTickets
from tlssim.tls import ClientConnection, ProtocolVersion, ServerConnection, events
from tlssim.tls.anti_replay import EarlyDataSettings
from tlssim.tls.config import ClientAuth

ASK = ClientAuth(required=True)


@pytest.mark.parametrize(
    ("request_line", "asks"),
    [
        (b"GET /private HTTP/1.1\r\n\r\n", True),
        (b"GET /private", True),
        (b"GET /private/page?x=1 HTTP/1.1", True),
        (b"GET /privately HTTP/1.1", False),
        (b"POST /private HTTP/1.1", False),
        (b"GET / HTTP/1.1\r\nX: GET /private\r\n", False),
        (b"", False),
    ],
)
def test_which_requests_ask_for_a_certificate(request_line: bytes, asks: bool) -> None:
    assert asks_for_certificate(request_line) is asks


def test_the_reply_line_names_the_subject() -> None:
    sent = b"GET /private HTTP/1.1"
    assert authenticated_in(sent, sent + authenticated_line("CN=x")) == "CN=x"
    assert authenticated_in(sent, sent) is None
    assert authenticated_in(b"GET / HTTP/1.1", b"GET / HTTP/1.1") is None
    assert subject_of(()) == "nobody"


def serve(
    client: ClientConnection, server: ServerConnection, echo: Echo
) -> tuple[list[events.Event], list[events.Event]]:
    """Shuttle bytes both ways, the server answering through ``echo`` and accepting every
    client certificate."""
    c_evs: list[events.Event] = []
    s_evs: list[events.Event] = []
    for _ in range(20):
        moved = False
        if data := client.data_to_send():
            moved = True
            new = server.receive_data(data)
            if server.awaiting_certificate_decision:
                new += server.accept_certificate()
            new += echo.answer(new)
            s_evs += new
        if data := server.data_to_send():
            moved = True
            c_evs += client.receive_data(data)
            if client.awaiting_certificate_decision:
                c_evs += client.accept_certificate()
        if not moved:
            break
    return c_evs, s_evs


def echoed(evs: list[events.Event]) -> bytes:
    return b"".join(e.data for e in of_type(evs, events.ApplicationDataReceived))


def test_private_path_authenticates_then_replies_with_the_echo_and_the_subject() -> None:
    certified = client_identities()[1]["ecdsa"]
    client, server = make_pair(client_kw={"client_certificate": certified})
    echo = Echo(server, ASK)
    client.start()
    serve(client, server, echo)
    client.send_application_data(b"GET / HTTP/1.1")
    c_evs, _ = serve(client, server, echo)
    assert echoed(c_evs) == b"GET / HTTP/1.1"
    client.send_application_data(b"GET /private HTTP/1.1")
    client.send_application_data(b"after")  # held until the certificate came
    c_evs, s_evs = serve(client, server, echo)
    assert of_type(s_evs, events.ClientAuthenticated)
    expected = b"GET /private HTTP/1.1" + authenticated_line(subject_of(certified.chain))
    assert echoed(c_evs) == expected + b"after"


def test_private_path_without_a_certificate_ends_in_certificate_required() -> None:
    client, server = make_pair()
    echo = Echo(server, ASK)
    client.start()
    serve(client, server, echo)
    client.send_application_data(b"GET /private HTTP/1.1")
    c_evs, _ = serve(client, server, echo)
    assert not echoed(c_evs)
    (alert,) = of_type(c_evs, events.AlertReceived)
    assert alert.description.name == "certificate_required"  # type: ignore[union-attr]


def test_tls12_replies_nobody() -> None:
    client, server = make_pair(client_kw={"versions": (ProtocolVersion.TLSv1_2,)})
    echo = Echo(server, ASK)
    client.start()
    serve(client, server, echo)
    client.send_application_data(b"GET /private")
    c_evs, _ = serve(client, server, echo)
    assert echoed(c_evs) == b"GET /private" + authenticated_line(NOBODY)


def test_early_data_is_echoed_once_connected() -> None:
    early = EarlyDataSettings(max_size=100, used_tickets=UsedTickets())
    kw = {"ticket_key": bytes(32), "early_data": early}
    client, server = make_pair(server_kw=kw)
    client.start()
    c_evs, _ = pump(client, server)
    (ticket,) = of_type(c_evs, events.SessionReceived)
    client, server = make_pair(
        client_kw={"session": ticket.session, "early_data": b"early!"}, server_kw=kw
    )
    echo = Echo(server, None)
    client.start()
    c_evs, s_evs = serve(client, server, echo)
    assert of_type(s_evs, events.EarlyDataReceived)
    assert echoed(c_evs) == b"early!"
