"""A scripted hostile server for our client: a real ServerConnection's flight, opened,
rewritten with the engine's own message types and resealed under the keys the server's
key schedule derived (its SecretDerived events), as a misbehaving server would send it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from tlssim.tls import (
    AlertDescription,
    AlertLevel,
    CipherSuite,
    ClientConfig,
    ClientConnection,
    NamedGroup,
    ProtocolVersion,
    ServerConfig,
    ServerConnection,
    events,
)
from tlssim.tls.config import CertifiedKey
from tlssim.tls.constants import ContentType
from tlssim.tls.extensions import Extension
from tlssim.tls.keyschedule import TLS13_SUITES, next_traffic_secret
from tlssim.tls.messages import ServerHello
from tlssim.tls.record import RecordProtection, Tls12RecordProtection
from tlssim.tls.tls12 import TLS12_SUITES, key_block

from .tlshelpers import HOST, counter_entropy, of_type, pki, selector_for

TLS12 = (ProtocolVersion.TLSv1_2,)
#: A server that wants secp256r1 from a client that sent an X25519 share: HelloRetryRequest.
ONLY_P256 = {"supported_groups": (NamedGroup.secp256r1,)}
#: Our client after a case, and the events it produced.
Outcome = tuple[ClientConnection, list[events.Event]]
HANDSHAKE = int(ContentType.handshake)
APPLICATION_DATA = int(ContentType.application_data)


def record(content_type: int, payload: bytes, version: bytes = b"\x03\x03") -> bytes:
    return bytes([content_type]) + version + len(payload).to_bytes(2, "big") + payload


CCS_RECORD = record(ContentType.change_cipher_spec, b"\x01")


def split_records(data: bytes) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    while data:
        length = int.from_bytes(data[3:5], "big")
        out.append((data[0], data[5 : 5 + length]))
        data = data[5 + length :]
    return out


def split_messages(data: bytes) -> list[bytes]:
    """Raw handshake messages (header included) from concatenated handshake bytes."""
    out: list[bytes] = []
    while data:
        end = 4 + int.from_bytes(data[1:4], "big")
        out.append(data[:end])
        data = data[end:]
    return out


def edit_server_hello(raw: bytes, **changes: object) -> bytes:
    sh = ServerHello.parse(raw[4:])
    return dataclasses.replace(sh, **changes).serialize()  # type: ignore[arg-type]


def server_hello_extensions(raw: bytes) -> tuple[Extension, ...]:
    return ServerHello.parse(raw[4:]).extensions


def feed(client: ClientConnection, data: bytes) -> list[events.Event]:
    """Give the client bytes, accepting the certificate whenever it asks."""
    evs = client.receive_data(data)
    while client.awaiting_certificate_decision:
        evs += client.accept_certificate()
    return evs


def secret(evs: list[events.Event], label: str) -> bytes:
    return next(e.secret for e in evs if isinstance(e, events.SecretDerived) and e.label == label)


def make_client(client_kw: Mapping[str, object] | None) -> ClientConnection:
    return ClientConnection(
        ClientConfig(server_name=HOST, entropy=counter_entropy(b"c"), **(client_kw or {}))  # type: ignore[arg-type]
    )


def _server(
    kind: str, server_kw: Mapping[str, object] | None, ocsp: bytes | None
) -> ServerConnection:
    certified = pki().keys[kind]
    if ocsp is not None:
        certified = CertifiedKey(
            chain=certified.chain, private_key=certified.private_key, ocsp_response=ocsp
        )
    return ServerConnection(
        ServerConfig(
            entropy=counter_entropy(b"s"),
            certificate_selector=selector_for(certified),
            **(server_kw or {}),  # type: ignore[arg-type]
        )
    )


class Server13:
    """Our client against a TLS 1.3 server whose first flight we hold, opened.

    ``messages`` is that flight as raw handshake messages: ServerHello, EncryptedExtensions,
    Certificate, CertificateVerify, Finished (or only the HelloRetryRequest, ``hrr``, when
    the server asked for another key share; ``retry()`` goes on). ``seal`` protects
    what follows ServerHello under the server's handshake traffic key and ``seal_app``
    under its application traffic key, each counting its own sequence numbers.
    """

    def __init__(
        self,
        client_kw: Mapping[str, object] | None = None,
        server_kw: Mapping[str, object] | None = None,
        kind: str = "ecdsa",
    ) -> None:
        self._client_kw = client_kw
        self.client = make_client(client_kw)
        self.client_events = self.client.start()
        self.server = _server(kind, server_kw, None)
        self.hrr: bytes | None = None
        self.messages: list[bytes] = []
        self._open(self.server.receive_data(self.client.data_to_send()))

    def _open(self, server_events: list[events.Event]) -> None:
        self._server_events = server_events
        records = split_records(self.server.data_to_send())
        first = split_messages(records[0][1])
        sh = ServerHello.parse(first[0][4:])
        if sh.is_hello_retry_request:
            self.hrr = first[0]
            return
        params = TLS13_SUITES[CipherSuite(sh.cipher_suite)]
        handshake = secret(server_events, "SERVER_HANDSHAKE_TRAFFIC_SECRET")
        opener = RecordProtection(params, handshake)
        inner = b"".join(
            opener.open(record(t, p)[:5], p)[1] for t, p in records[1:] if t == APPLICATION_DATA
        )
        self.messages = [first[0], *split_messages(inner)]
        self.params = params
        self._hs_secret = handshake
        self._hs = RecordProtection(params, handshake)
        self._app_secret = secret(server_events, "SERVER_TRAFFIC_SECRET_0")
        self._app = RecordProtection(params, self._app_secret)

    def again(self) -> Server13:
        """This script with a new client: same entropy, same ClientHello, so the flight
        and its keys still fit (for running many variations of one flight)."""
        assert self.hrr is None
        copy = Server13.__new__(Server13)
        copy.__dict__.update(self.__dict__)
        copy.client = make_client(self._client_kw)
        copy.client_events = copy.client.start()
        copy.client.data_to_send()
        copy._hs = RecordProtection(self.params, self._hs_secret)
        copy._app_secret = secret(self._server_events, "SERVER_TRAFFIC_SECRET_0")
        copy._app = RecordProtection(self.params, copy._app_secret)
        return copy

    def retry(self, hrr: bytes | None = None) -> list[events.Event]:
        """Send the HelloRetryRequest (or ``hrr``); the server answers the second hello."""
        assert self.hrr is not None
        evs = feed(self.client, record(HANDSHAKE, hrr or self.hrr))
        if not self.client.closed:
            self._open(self.server.receive_data(self.client.data_to_send()))
        return evs

    def seal(self, payload: bytes, content_type: int = HANDSHAKE) -> bytes:
        return self._hs.seal(content_type, payload)

    def seal_app(self, payload: bytes, content_type: int = APPLICATION_DATA) -> bytes:
        return self._app.seal(content_type, payload)

    def next_app_key(self) -> None:
        """What a KeyUpdate does to the server's write key (RFC 8446 7.2)."""
        self._app_secret = next_traffic_secret(self.params, self._app_secret)
        self._app = RecordProtection(self.params, self._app_secret)

    def flight(self, messages: list[bytes] | None = None) -> bytes:
        """ServerHello in the clear, then the rest in one protected record."""
        sh, *rest = self.messages if messages is None else messages
        return record(HANDSHAKE, sh) + CCS_RECORD + (self.seal(b"".join(rest)) if rest else b"")

    def send(self, data: bytes) -> list[events.Event]:
        return feed(self.client, data)

    def connect(self) -> list[events.Event]:
        """The whole genuine flight: the client completes (its Finished stays with us)."""
        evs = self.send(self.flight())
        assert self.client.handshake_complete, evs
        self.client.data_to_send()
        return evs


class Server12:
    """Our client against a TLS 1.2 server: its first flight opened, then its final one.

    ``messages``: ServerHello, Certificate, [CertificateStatus], [ServerKeyExchange],
    ServerHelloDone, in the clear. ``finish()`` feeds them, passes the client's
    ClientKeyExchange, ChangeCipherSpec and Finished to the server and opens its
    ChangeCipherSpec and Finished (``final``); ``seal`` then protects under the server's
    write key from the key block, counting from its Finished.
    """

    def __init__(
        self,
        client_kw: Mapping[str, object] | None = None,
        server_kw: Mapping[str, object] | None = None,
        kind: str = "ecdsa",
        ocsp: bytes | None = None,
    ) -> None:
        self.client = make_client({"versions": TLS12, **(client_kw or {})})
        self.client_events = self.client.start()
        self.server = _server(kind, {"versions": TLS12, **(server_kw or {})}, ocsp)
        hello = self.client.data_to_send()
        self.server.receive_data(hello)
        self.client_random = hello[11:43]
        out = split_records(self.server.data_to_send())
        self.messages = split_messages(b"".join(p for _, p in out))
        self.final: bytes = b""

    def flight(self, messages: list[bytes] | None = None) -> bytes:
        return record(HANDSHAKE, b"".join(self.messages if messages is None else messages))

    def send(self, data: bytes) -> list[events.Event]:
        return feed(self.client, data)

    def finish(self) -> list[events.Event]:
        """Feed the first flight; open the server's answer to the client's Finished."""
        evs = self.send(self.flight())
        sev = self.server.receive_data(self.client.data_to_send())
        master = secret(sev, "CLIENT_RANDOM")
        server_random = self.messages[0][6:38]
        sh = ServerHello.parse(self.messages[0][4:])
        suite = TLS12_SUITES[CipherSuite(sh.cipher_suite)]
        kb = key_block(suite, master, self.client_random, server_random)
        records = split_records(self.server.data_to_send())
        assert records[0] == (ContentType.change_cipher_spec, b"\x01")
        opener = Tls12RecordProtection(suite, kb.server_write_key, kb.server_write_iv)
        header = bytes([HANDSHAKE, 3, 3]) + len(records[1][1]).to_bytes(2, "big")
        self.finished = opener.open(header, records[1][1])[1]
        self._write = Tls12RecordProtection(suite, kb.server_write_key, kb.server_write_iv)
        return evs

    def seal(self, payload: bytes, content_type: int = HANDSHAKE) -> bytes:
        return self._write.seal(content_type, payload)

    def connect(self) -> list[events.Event]:
        evs = self.finish()
        evs += self.send(CCS_RECORD + self.seal(self.finished))
        assert self.client.handshake_complete, evs
        return evs


def assert_client_sent(outcome: Outcome, alert: AlertDescription) -> None:
    client, evs = outcome
    sent = of_type(evs, events.AlertSent)
    assert sent and sent[-1] == events.AlertSent(AlertLevel.fatal, alert), evs[-3:]
    assert client.error is not None and client.error.alert == alert
    assert client.error.sent_by_peer is False
    assert not of_type(evs, events.AlertReceived)
    assert client.closed and evs[-1] == events.ConnectionClosed(client.error)
    assert client.data_to_send()  # the alert goes on the wire
