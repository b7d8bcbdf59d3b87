"""Side channels: RSA key transport (RFC 5246 7.4.7.1) and constant-time comparisons.

A bad EncryptedPreMasterSecret (wrong padding, wrong client_version, wrong length, garbage)
must take the same path as a good one until Finished: the same handlers in the same order,
the same random bytes drawn, the same events, and in the end the same alert as a good
premaster whose Finished record was tampered with (an attacker without the premaster can
do no better). Finished, PSK binders and the premaster's version are compared with
``hmac.compare_digest``.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tlssim.tls import (
    AlertDescription,
    AlertLevel,
    CipherSuite,
    ClientConfig,
    ClientConnection,
    ProtocolVersion,
    ServerConfig,
    ServerConnection,
    events,
)
from tlssim.tls.server12 import ServerTls12
from tlssim.tls.states import HandshakeState, Transition

from .tlshelpers import HOST, counter_entropy, make_pair, of_type, pki, pump, selector_for

RSA_KX = CipherSuite.TLS_RSA_WITH_AES_128_GCM_SHA256
TLS12 = (ProtocolVersion.TLSv1_2,)


@pytest.fixture
def handlers(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names of the server's TLS 1.2 handlers, in the order its table ran them."""
    reached: list[str] = []

    def traced(step: Transition[Any]) -> Transition[Any]:
        def handler(hs: Any, body: bytes, raw: bytes) -> HandshakeState | None:
            reached.append(step.handler.__name__)
            return step.handler(hs, body, raw)

        return Transition(handler, step.next_states)

    for key, step in list(ServerTls12.transitions.items()):
        monkeypatch.setitem(ServerTls12.transitions, key, traced(step))
    yield reached


def _encrypt(premaster: bytes) -> bytes:
    key = pki().keys["rsa"].private_key
    assert isinstance(key, rsa.RSAPrivateKey)
    return key.public_key().encrypt(premaster, padding.PKCS1v15())


BAD_PREMASTERS: dict[str, Callable[[bytes], bytes]] = {
    "good": lambda original: original,
    "flipped-bit": lambda o: o[:100] + bytes([o[100] ^ 1]) + o[100 + 1 :],
    "wrong-version": lambda _: _encrypt(b"\x03\x01" + bytes(46)),
    "short-premaster": lambda _: _encrypt(b"\x03\x03" + bytes(45)),
    "long-premaster": lambda _: _encrypt(b"\x03\x03" + bytes(47)),
    "not-pkcs1": lambda o: bytes(len(o)),
    "too-short": lambda o: o[:64],
}


class DrawCounter:
    """Entropy that counts the bytes the server draws."""

    def __init__(self) -> None:
        self.inner = counter_entropy(b"s")
        self.draws: list[int] = []

    def __call__(self, n: int) -> bytes:
        self.draws.append(n)
        return self.inner(n)


def _run(case: str) -> tuple[list[events.Event], list[int], ServerConnection]:
    """A TLS 1.2 RSA key-transport handshake whose ClientKeyExchange is ``case``; for the
    good premaster the client's Finished record is tampered with instead."""
    client = ClientConnection(
        ClientConfig(
            server_name=HOST, entropy=counter_entropy(b"c"), versions=TLS12, cipher_suites=(RSA_KX,)
        )
    )
    draws = DrawCounter()
    server = ServerConnection(
        ServerConfig(entropy=draws, certificate_selector=selector_for(pki().keys["rsa"]))
    )
    client.start()
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    client.accept_certificate()
    flight = bytearray(client.data_to_send())
    cke_length = int.from_bytes(flight[3:5], "big")
    original = bytes(flight[11 : 5 + cke_length])
    encrypted = BAD_PREMASTERS[case](original)
    cke_body = len(encrypted).to_bytes(2, "big") + encrypted
    cke = bytes([16]) + len(cke_body).to_bytes(3, "big") + cke_body
    rest = flight[5 + cke_length :]
    if case == "good":
        rest[-1] ^= 1  # the Finished record's tag
    sev = server.receive_data(bytes([22, 3, 3]) + len(cke).to_bytes(2, "big") + cke + rest)
    return sev, draws.draws, server


def _shape(evs: list[events.Event]) -> list[tuple[str, object]]:
    """The events as the path taken: types, message names and fields, no values."""
    out: list[tuple[str, object]] = []
    for e in evs:
        if isinstance(e, events.HandshakeMessageReceived | events.HandshakeMessageSent):
            out.append((type(e).__name__, (e.name, sorted(e.fields))))  # sizes are on the wire
        elif isinstance(e, events.SecretDerived):
            out.append((type(e).__name__, (e.label, len(e.secret))))
        else:
            out.append((type(e).__name__, e))
    return out


@pytest.mark.parametrize("case", [c for c in BAD_PREMASTERS if c != "good"])
def test_bad_premaster_takes_the_path_of_a_good_one(case: str, handlers: list[str]) -> None:
    good_events, good_draws, _ = _run("good")
    good_path = list(handlers)
    handlers.clear()
    bad_events, bad_draws, server = _run(case)
    assert (
        handlers
        == good_path
        == [
            "on_client_hello",
            "on_client_key_exchange",
            "on_change_cipher_spec",
        ]
    )
    assert bad_draws == good_draws  # the random premaster is drawn either way, before decrypting
    assert _shape(bad_events) == _shape(good_events)
    assert of_type(bad_events, events.AlertSent) == [
        events.AlertSent(AlertLevel.fatal, AlertDescription.bad_record_mac)
    ]
    assert server.error is not None and not server.error.sent_by_peer


def test_good_premaster_completes(handlers: list[str]) -> None:
    client, server = make_pair("rsa", client_kw={"versions": TLS12, "cipher_suites": (RSA_KX,)})
    client.start()
    pump(client, server)
    assert server.negotiated is not None and server.negotiated.key_exchange == "rsa"
    assert handlers[-1] == "on_finished"


@pytest.fixture
def comparisons(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, bytes]]:
    seen: list[tuple[bytes, bytes]] = []
    original = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        seen.append((bytes(a), bytes(b)))
        return original(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    return seen


@pytest.mark.parametrize(
    ("client_kw", "lengths"),
    [({}, {32}), ({"versions": TLS12}, {12})],
    ids=["tls1.3", "tls1.2"],
)
def test_finished_is_compared_in_constant_time(
    comparisons: list[tuple[bytes, bytes]], client_kw: dict[str, object], lengths: set[int]
) -> None:
    client, server = make_pair(client_kw=client_kw)
    client.start()
    pump(client, server)
    assert client.handshake_complete and server.handshake_complete
    finished = [a for a, b in comparisons if a == b]
    assert len(finished) == 2  # the client's check of the server's, and the other way
    assert {len(f) for f in finished} == lengths


def test_psk_binder_and_rsa_premaster_version_are_compared_in_constant_time(
    comparisons: list[tuple[bytes, bytes]],
) -> None:
    key = bytes(32)
    client, server = make_pair(server_kw={"ticket_key": key})
    client.start()
    session = of_type(pump(client, server)[0], events.SessionReceived)[0].session
    comparisons.clear()
    client, server = make_pair(client_kw={"session": session}, server_kw={"ticket_key": key})
    client.start()
    pump(client, server)
    assert server.negotiated is not None and server.negotiated.resumed
    assert len(comparisons) == 3  # the binder, then both Finished messages
    comparisons.clear()
    client, server = make_pair("rsa", client_kw={"versions": TLS12, "cipher_suites": (RSA_KX,)})
    client.start()
    pump(client, server)
    assert (b"\x03\x03", b"\x03\x03") in comparisons
