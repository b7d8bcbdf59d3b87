"""What the story says about the keys is what the engine computed, checked on one handshake:
with extended_master_secret (RFC 7627, always negotiated between our client and server) the
master secret is PRF(premaster, "extended master secret", session_hash), the session hash
covering the handshake messages up to the ClientKeyExchange."""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tlssim.report.model import Direction, Step
from tlssim.report.walkthrough import Context, KeyExchange, explain
from tlssim.tls import CipherSuite, ClientConnection, ProtocolVersion, ServerConnection, events
from tlssim.tls.tls12 import prf

from .tlshelpers import make_pair, of_type, pki

HANDSHAKE, CHANGE_CIPHER_SPEC = 22, 20


def _handshake_messages(wire: bytes) -> list[bytes]:
    """The plaintext handshake messages of one direction: every handshake record before its
    first ChangeCipherSpec, cut into messages."""
    body, at = b"", 0
    while at + 5 <= len(wire):
        kind, length = wire[at], int.from_bytes(wire[at + 3 : at + 5], "big")
        if kind == CHANGE_CIPHER_SPEC:
            break
        if kind == HANDSHAKE:
            body += wire[at + 5 : at + 5 + length]
        at += 5 + length
    messages = []
    while body:
        length = 4 + int.from_bytes(body[1:4], "big")
        messages.append(body[:length])
        body = body[length:]
    return messages


def _pump(
    client: ClientConnection, server: ServerConnection
) -> tuple[list[events.Event], bytes, bytes]:
    """Both directions' bytes, as they went on the wire, and the client's events."""
    client_events: list[events.Event] = list(client.start())
    sent, received = b"", b""
    for _ in range(20):
        out = client.data_to_send()
        sent += out
        if out:
            server.receive_data(out)
        back = server.data_to_send()
        received += back
        if back:
            new = client.receive_data(back)
            client_events += new
            if any(isinstance(e, events.CertificateReceived) for e in new):
                client_events += client.accept_certificate()
        if not out and not back:
            break
    return client_events, sent, received


def test_the_extended_master_secret_is_what_the_story_says() -> None:
    suite = CipherSuite.TLS_RSA_WITH_AES_128_GCM_SHA256
    client, server = make_pair(
        "rsa", client_kw={"versions": (ProtocolVersion.TLSv1_2,), "cipher_suites": (suite,)}
    )
    client_events, sent, received = _pump(client, server)
    assert of_type(client_events, events.HandshakeComplete)

    # What the engine computed: the master secret of its key log line.
    (derived,) = of_type(client_events, events.SecretDerived)
    assert derived.label == "CLIENT_RANDOM"
    master = derived.secret

    # The ingredients, from the wire: the premaster the client sent under the server's key,
    # and every handshake message up to the ClientKeyExchange.
    hello, *flight = _handshake_messages(sent)
    server_messages = _handshake_messages(received)
    (client_key_exchange,) = flight
    key = pki().keys["rsa"].private_key
    assert isinstance(key, rsa.RSAPrivateKey)
    premaster = key.decrypt(client_key_exchange[6:], padding.PKCS1v15())
    session_hash = hashlib.sha256(b"".join([hello, *server_messages, client_key_exchange])).digest()
    client_random, server_random = hello[6:38], server_messages[0][6:38]

    assert master == prf("sha256", premaster, b"extended master secret", session_hash, 48)
    assert master != prf("sha256", premaster, b"master secret", client_random + server_random, 48)

    # What the story says about that handshake, from the fields the engine reported.
    (server_hello,) = [
        e
        for e in client_events
        if isinstance(e, events.HandshakeMessageReceived) and e.name == "ServerHello"
    ]
    assert server_hello.fields["extended_master_secret"] is True
    context = Context(
        tls13=False,
        kind=KeyExchange.RSA,
        group=None,
        resumed=False,
        chain=(),
        ems=bool(server_hello.fields["extended_master_secret"]),
    )
    keys = Step(
        name="SecretDerived",
        direction=Direction.LOCAL,
        at_ms=0.0,
        size=0,
        fields={"label": derived.label},
    )
    said = explain(keys, context)
    assert '"extended master secret", session hash' in said, said
    assert "client random, server random" not in said, said
    assert "ClientKeyExchange" in said, said


def test_without_extended_master_secret_the_story_names_both_randoms() -> None:
    context = Context(tls13=False, kind=KeyExchange.ECDHE, group="x25519", resumed=False, chain=())
    keys = Step(
        name="SecretDerived",
        direction=Direction.LOCAL,
        at_ms=0.0,
        size=0,
        fields={"label": "CLIENT_RANDOM"},
    )
    said = explain(keys, context)
    assert '"master secret", client random + server random' in said, said
