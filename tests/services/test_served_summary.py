"""The console's copy of a served connection (``ServedConnection.summary_json``) is built
straight from the connection's events; it says exactly what the typed report of the same
connection (``server_view``) says, for every kind of connection the server sees."""

from __future__ import annotations

import json

import pytest

from tests.net.test_echo import serve
from tests.tls.test_client_auth import client_identities
from tests.tls.tlshelpers import HOST, counter_entropy, pki, pump, selector_for
from tlssim.net.echo import Echo
from tlssim.net.used_tickets import UsedTickets
from tlssim.services.served import ObservedServerConnection, ServedConnection, server_view
from tlssim.tls import ClientConfig, ClientConnection, ProtocolVersion, ServerConfig, events
from tlssim.tls.anti_replay import EarlyDataSettings
from tlssim.tls.config import ClientAuth


def _pair(
    client_kw: dict[str, object] | None = None, server_kw: dict[str, object] | None = None
) -> tuple[ClientConnection, ObservedServerConnection]:
    client = ClientConnection(
        ClientConfig(server_name=HOST, entropy=counter_entropy(b"c"), **(client_kw or {}))  # type: ignore[arg-type]
    )
    server = ObservedServerConnection(
        ServerConfig(
            entropy=counter_entropy(b"s"),
            certificate_selector=selector_for(pki().keys["ecdsa"]),
            **(server_kw or {}),  # type: ignore[arg-type]
        )
    )
    return client, server


def _echoed_and_closed(version: ProtocolVersion) -> ObservedServerConnection:
    client, server = _pair(client_kw={"versions": (version,)})
    echo = Echo(server, None)
    client.start()
    serve(client, server, echo)
    client.send_application_data(b"GET / HTTP/1.1\r\n\r\n")
    serve(client, server, echo)
    client.close()
    serve(client, server, echo)
    return server


def _refused() -> ObservedServerConnection:
    client, server = _pair(
        client_kw={"versions": (ProtocolVersion.TLSv1_2,)},
        server_kw={"versions": (ProtocolVersion.TLSv1_3,)},
    )
    client.start()
    pump(client, server)
    return server


def _client_gone() -> ObservedServerConnection:
    client, server = _pair()
    client.start()
    server.receive_data(client.data_to_send())
    server.receive_data(b"")
    return server


def _authenticated_after_the_handshake() -> ObservedServerConnection:
    certified = client_identities()[1]["ecdsa"]
    client, server = _pair(client_kw={"client_certificate": certified})
    echo = Echo(server, ClientAuth(required=True))
    client.start()
    serve(client, server, echo)
    client.send_application_data(b"GET /private HTTP/1.1")
    serve(client, server, echo)
    return server


def _early_data() -> ObservedServerConnection:
    early = EarlyDataSettings(max_size=100, used_tickets=UsedTickets())
    kw = {"ticket_key": bytes(32), "early_data": early}
    client, server = _pair(server_kw=kw)
    client.start()
    c_evs, _ = pump(client, server)
    ticket = next(e for e in c_evs if isinstance(e, events.SessionReceived))
    client, server = _pair(
        client_kw={"session": ticket.session, "early_data": b"early!"}, server_kw=kw
    )
    client.start()
    serve(client, server, Echo(server, None))
    return server


CONNECTIONS = {
    "tls13": lambda: _echoed_and_closed(ProtocolVersion.TLSv1_3),
    "tls12": lambda: _echoed_and_closed(ProtocolVersion.TLSv1_2),
    "refused": _refused,
    "client-gone": _client_gone,
    "post-handshake-auth": _authenticated_after_the_handshake,
    "early-data": _early_data,
}


@pytest.mark.parametrize("kind", sorted(CONNECTIONS))
@pytest.mark.parametrize("replica", [None, "server-2"])
def test_the_summary_is_the_server_views_report(kind: str, replica: str | None) -> None:
    conn = CONNECTIONS[kind]()
    served = ServedConnection(
        transport="TCP",
        peer="127.0.0.1:4433",
        trace_id="ab" * 16,
        conn=conn,
        replica=replica,
        client="OpenSSL 3.0",
        fingerprint="0123456789abcdef",
    )
    summary = served.summary_json()
    expected = {
        "observer": "server",
        "transport": "TCP",
        "peer": "127.0.0.1:4433",
        "started": conn.started_wall,
        "client": "OpenSSL 3.0",
        "fingerprint": "0123456789abcdef",
        "report": server_view(served).to_dict(),
    }
    assert summary == json.dumps(expected)  # the same text, keys in the same order
