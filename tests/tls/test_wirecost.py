"""The handshake's cost on the wire, from the steps our client records: flights, key shares,
certificate chain and CertificateVerify, classical against post-quantum."""

from __future__ import annotations

from tlssim.report.model import Direction, Step
from tlssim.report.wirecost import HandshakeCost, cost_lines, handshake_cost
from tlssim.tls import (
    CertifiedKey,
    ClientConfig,
    ClientConnection,
    NamedGroup,
    ServerConfig,
    ServerConnection,
    events,
)

from .tlshelpers import HOST, counter_entropy, mldsa_pki, pki, pump, selector_for


def _cost(certified: CertifiedKey, **client_kw: object) -> HandshakeCost:
    client = ClientConnection(
        ClientConfig(server_name=HOST, entropy=counter_entropy(b"c"), **client_kw)  # type: ignore[arg-type]
    )
    server = ServerConnection(
        ServerConfig(entropy=counter_entropy(b"s"), certificate_selector=selector_for(certified))
    )
    evs = client.start()
    client_events, _ = pump(client, server)
    steps = []
    for at, ev in enumerate([*evs, *client_events]):
        if isinstance(ev, events.HandshakeMessageSent | events.HandshakeMessageReceived):
            direction = (
                Direction.SENT
                if isinstance(ev, events.HandshakeMessageSent)
                else Direction.RECEIVED
            )
            steps.append(
                Step(name=ev.name, direction=direction, at_ms=at, size=ev.size, fields=ev.fields)
            )
    return handshake_cost(steps)


def test_flights_of_a_tls13_handshake_add_up() -> None:
    cost = _cost(pki().keys["ecdsa"])
    assert [(f.direction, f.messages[0], f.messages[-1]) for f in cost.flights[:3]] == [
        ("sent", "ClientHello", "ClientHello"),
        ("received", "ServerHello", "Finished"),
        ("sent", "ChangeCipherSpec", "Finished"),
    ]
    assert sum(f.size for f in cost.flights) == cost.sent + cost.received
    assert cost.client_key_shares == (1216, 32)  # X25519MLKEM768 and x25519
    assert cost.server_key_share == 1120  # ciphertext 1088 and X25519 32


def test_classical_key_exchange_is_a_tenth_of_the_hybrid() -> None:
    classical = _cost(
        pki().keys["ecdsa"],
        supported_groups=(NamedGroup.x25519,),
        key_share_groups=(NamedGroup.x25519,),
    )
    assert classical.client_key_shares == (32,) and classical.server_key_share == 32


def test_mldsa_makes_the_server_flight_heavy() -> None:
    ecdsa = _cost(pki().keys["ecdsa"])
    mldsa65 = _cost(mldsa_pki().keys["mldsa65"])
    assert ecdsa.certificate_verify <= 8 + 72  # a DER ECDSA P-256 signature: at most 72
    assert mldsa65.certificate_verify == 8 + 3309
    # the ML-DSA-65 leaf carries a 1952-byte key and a 3309-byte signature
    assert mldsa65.certificates[0] > 1952 + 3309
    assert mldsa65.received - ecdsa.received > 3309 + 1952 + 3309
    lines = cost_lines(mldsa65)
    assert lines[0].startswith(
        f"handshake messages: {mldsa65.sent} B sent, {mldsa65.received} B received"
    )
    assert f"signature {mldsa65.certificate_verify} B" in lines[1]
