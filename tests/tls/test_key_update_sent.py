"""The client's own KeyUpdate (RFC 8446 4.6.3): sent under the old key, everything after it
under the next secret; a server asked to update answers with its own before its data."""

from __future__ import annotations

import pytest

from tlssim.client.request import BadRequest, plan_for
from tlssim.rpc.v1 import client_pb2
from tlssim.tls import ClientConnection, ProtocolVersion, ServerConnection, events
from tlssim.tls.errors import LocalProtocolError

from .tlshelpers import make_pair, of_type, pump


def _connected(
    version: ProtocolVersion = ProtocolVersion.TLSv1_3,
) -> tuple[ClientConnection, ServerConnection]:
    client, server = make_pair(client_kw={"versions": (version,)})
    client.start()
    pump(client, server)
    assert client.handshake_complete and server.handshake_complete
    return client, server


def test_update_requested_is_answered_and_data_flows_under_the_new_keys() -> None:
    client, server = _connected()
    sent = client.update_keys(request_peer=True)
    assert [(e.name, e.fields) for e in of_type(sent, events.HandshakeMessageSent)] == [
        ("KeyUpdate", {"request": "update_requested"})
    ]
    client.send_application_data(b"after the update")
    server_events = server.receive_data(client.data_to_send())
    received = of_type(server_events, events.HandshakeMessageReceived)
    assert [(e.name, e.fields["request"]) for e in received] == [("KeyUpdate", "update_requested")]
    data = of_type(server_events, events.ApplicationDataReceived)
    assert [d.data for d in data] == [b"after the update"]
    # the server owes an update of its own, sent before its next data
    answer = of_type(server_events, events.HandshakeMessageSent)
    assert [(e.name, e.fields["request"]) for e in answer] == [
        ("KeyUpdate", "update_not_requested")
    ]
    server.send_application_data(b"echo")
    client_events = client.receive_data(server.data_to_send())
    assert [e.name for e in of_type(client_events, events.HandshakeMessageReceived)] == [
        "KeyUpdate"
    ]
    assert [d.data for d in of_type(client_events, events.ApplicationDataReceived)] == [b"echo"]
    assert not client.closed and not server.closed


def test_update_not_requested_is_not_answered() -> None:
    client, server = _connected()
    client.update_keys(request_peer=False)
    client.send_application_data(b"x")
    server_events = server.receive_data(client.data_to_send())
    assert not of_type(server_events, events.HandshakeMessageSent)
    assert [d.data for d in of_type(server_events, events.ApplicationDataReceived)] == [b"x"]


def test_no_key_update_in_tls12_nor_before_the_handshake() -> None:
    client, _ = _connected(ProtocolVersion.TLSv1_2)
    with pytest.raises(LocalProtocolError, match=r"only in TLS 1\.3"):
        client.update_keys()
    fresh, _ = make_pair()
    with pytest.raises(LocalProtocolError, match="cannot update keys"):
        fresh.update_keys()


@pytest.mark.parametrize("version", ["1.2", "1.1", "1.0"])
def test_a_request_for_key_update_below_tls13_is_invalid(version: str) -> None:
    request = client_pb2.HandshakeRequest(tls_version=version, key_update=True, allow_legacy=True)
    with pytest.raises(BadRequest, match=r"only in TLS 1\.3"):
        plan_for(request)


def test_a_request_for_key_update_is_planned() -> None:
    assert plan_for(client_pb2.HandshakeRequest(tls_version="1.3", key_update=True)).key_update
    assert plan_for(client_pb2.HandshakeRequest(key_update=True)).key_update
    assert not plan_for(client_pb2.HandshakeRequest()).key_update
