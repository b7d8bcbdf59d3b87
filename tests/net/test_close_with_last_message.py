"""A peer's close_notify or fatal alert in the same read as a handshake message, in every
state of both roles and both versions, through the code that drives the engine over a
socket (``client.run.run_client``, ``net.drive.serve_connection``).

OpenSSL's ``s_server </dev/null`` sends ChangeCipherSpec, Finished and close_notify in one
write; our client took all three from one read, then tried to send its application data on
the closed connection (RuntimeError, an internal error). Each case here writes a genuine
flight cut after one message, with the close or alert behind it in the same write, over a
loopback TCP connection; the driver must end with a defined outcome, never an exception.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass

import pytest

from tests.tls.hostile import (
    CCS_RECORD,
    HANDSHAKE,
    Server12,
    Server13,
    make_client,
    record,
)
from tests.tls.tlshelpers import HOST, counter_entropy, pki, selector_for
from tlssim.client.run import (
    SERVER_CLOSED_BEFORE_DATA,
    SERVER_CLOSED_IN_HANDSHAKE,
    ClientRun,
    run_client,
)
from tlssim.net.drive import serve_connection
from tlssim.net.transport import TcpTransport
from tlssim.tls import (
    AlertDescription,
    AlertLevel,
    ClientConfig,
    ClientConnection,
    PeerAlert,
    ProtocolVersion,
    ServerConfig,
    ServerConnection,
    TLSError,
    events,
)
from tlssim.tls.config import ClientAuth
from tlssim.tls.constants import ContentType
from tlssim.tls.messages import NewSessionTicket

A = AlertDescription
CLOSE_NOTIFY = bytes([AlertLevel.warning, A.close_notify])
FATAL = bytes([AlertLevel.fatal, A.internal_error])
ALERTS = {"close_notify": CLOSE_NOTIFY, "fatal": FATAL}
DATA = b"GET / HTTP/1.1\r\n\r\n"


# -- a scripted peer on a loopback port --------------------------------------------------------


class ScriptedPeer:
    """Accepts one connection; after each of the other side's flights writes the next
    answer (one write each), then reads until EOF. ``opening``: written first, unasked."""

    def __init__(self, answers: list[bytes], opening: bytes = b"") -> None:
        self.answers = list(answers)
        self.opening = opening
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(10)
        conn, _ = self.listener.accept()
        with conn:
            conn.settimeout(10)
            if self.opening:
                conn.sendall(self.opening)
            try:
                for answer in self.answers:
                    if not conn.recv(65536):
                        return
                    conn.sendall(answer)
                while conn.recv(65536):
                    pass
            except OSError:
                pass

    def stop(self) -> None:
        self._thread.join(15)
        self.listener.close()


async def _accept_all(_: events.CertificateReceived) -> AlertDescription | None:
    return None


def _drive_client(client: ClientConnection, answers: list[bytes]) -> ClientRun:
    peer = ScriptedPeer(answers)

    async def main() -> ClientRun:
        transport = await TcpTransport.connect("127.0.0.1", peer.port)
        return await run_client(client, transport, _accept_all, DATA, 10, expect_echo=False)

    try:
        return asyncio.run(main())
    finally:
        peer.stop()


# -- our client: the server's flight cut after each message -----------------------------------


@dataclass(frozen=True)
class ClientCase:
    version: str
    after: str  # the last message the server sends before its close or alert
    alert: str
    completes: bool


def _tls13_answers(after: str, alert: bytes) -> tuple[ClientConnection, list[bytes]]:
    s = Server13()
    sh, ee, cert, cv, fin = s.messages
    names = ["ServerHello", "EncryptedExtensions", "Certificate", "CertificateVerify", "Finished"]
    if after == "NewSessionTicket":
        ticket = NewSessionTicket(
            ticket_lifetime=7200, ticket_age_add=1, ticket_nonce=b"\x00", ticket=b"ticket"
        ).serialize()
        flight = s.flight() + s.seal_app(ticket) + s.seal_app(alert, ContentType.alert)
    else:
        upto = names.index(after) + 1
        flight = s.flight([sh, ee, cert, cv, fin][:upto])
        if after == "ServerHello":
            flight = record(HANDSHAKE, sh)  # no CCS: the alert follows ServerHello at once
        seal = s.seal_app if after == "Finished" else s.seal
        flight += seal(alert, ContentType.alert)
    # Same entropy, same ClientHello: a new client the script's flight answers.
    return make_client(None), [flight]


def _tls12_answers(after: str, alert: bytes) -> tuple[ClientConnection, list[bytes]]:
    ocsp = after == "CertificateStatus"
    s = Server12(ocsp=b"a stapled response" if ocsp else None)
    names = ["ServerHello", "Certificate"]
    names += ["CertificateStatus"] if ocsp else []
    names += ["ServerKeyExchange", "ServerHelloDone"]
    client = make_client({"versions": (ProtocolVersion.TLSv1_2,)})
    if after in names:
        upto = names.index(after) + 1
        return client, [s.flight(s.messages[:upto]) + record(ContentType.alert, alert)]
    s.finish()
    final = CCS_RECORD
    if after == "ChangeCipherSpec":
        # The key changed with the CCS: the alert comes under the server's new write key.
        return client, [s.flight(), final + s.seal(alert, ContentType.alert)]
    final += s.seal(s.finished) + s.seal(alert, ContentType.alert)
    return client, [s.flight(), final]


CLIENT_CASES = [
    ClientCase("1.3", after, alert, after in ("Finished", "NewSessionTicket"))
    for after in (
        "ServerHello",
        "EncryptedExtensions",
        "Certificate",
        "CertificateVerify",
        "Finished",
        "NewSessionTicket",
    )
    for alert in ALERTS
] + [
    ClientCase("1.2", after, alert, after == "Finished")
    for after in (
        "ServerHello",
        "Certificate",
        "CertificateStatus",
        "ServerKeyExchange",
        "ServerHelloDone",
        "ChangeCipherSpec",
        "Finished",
    )
    for alert in ALERTS
]


@pytest.mark.parametrize(
    "case", CLIENT_CASES, ids=[f"tls{c.version}-{c.after}-{c.alert}" for c in CLIENT_CASES]
)
def test_our_client_when_the_server_closes_with_a_handshake_message(case: ClientCase) -> None:
    build = _tls13_answers if case.version == "1.3" else _tls12_answers
    client, answers = build(case.after, ALERTS[case.alert])
    run = _drive_client(client, answers)  # never raises
    assert run.completed is case.completes, run.timeline
    assert run.first(events.ConnectionClosed) is not None
    if case.alert == "fatal":
        assert isinstance(run.error, PeerAlert) and run.error.alert == A.internal_error
        assert run.failure is None
    elif case.completes:
        assert run.error is None
        assert run.failure == SERVER_CLOSED_BEFORE_DATA
    else:
        assert run.error is None
        assert run.failure == SERVER_CLOSED_IN_HANDSHAKE
    # nothing was sent as application data on the closed connection
    assert not any(type(t.event).__name__ == "ApplicationDataSent" for t in run.timeline)


# -- our server: the client's flight with its close or alert behind it ---------------------------


@dataclass(frozen=True)
class ServerCase:
    version: str
    after: str
    alert: str
    client_auth: bool = False


def _server(version: ProtocolVersion, client_auth: bool) -> ServerConnection:
    certified = pki().keys["ecdsa"]
    ask = ClientAuth(required=True) if client_auth else None
    return ServerConnection(
        ServerConfig(
            entropy=counter_entropy(b"s"),
            certificate_selector=selector_for(certified),
            versions=(version,),
            client_auth=(lambda _sni: ask) if ask else None,
        )
    )


def _client_for(version: ProtocolVersion, client_auth: bool) -> ClientConnection:
    certified = pki().keys["ecdsa"] if client_auth else None
    return ClientConnection(
        ClientConfig(
            server_name=HOST,
            entropy=counter_entropy(b"c"),
            versions=(version,),
            client_certificate=certified,
        )
    )


def _ending(client: ClientConnection, alert: str) -> None:
    """The client queues its close_notify, or a fatal alert, behind what it has queued."""
    if alert == "close_notify":
        client.close()
    else:
        client._core.fail(TLSError("the peer gives up", A.internal_error))


def _script_for_server(case: ServerCase) -> tuple[ServerConnection, ScriptedClient]:
    version = ProtocolVersion.TLSv1_3 if case.version == "1.3" else ProtocolVersion.TLSv1_2
    return _server(version, case.client_auth), ScriptedClient(
        _client_for(version, case.client_auth), case
    )


class ScriptedClient:
    """A real client engine on a loopback connection that ends its flight ``after`` a
    message with its close or alert, in the same write."""

    def __init__(self, client: ClientConnection, case: ServerCase) -> None:
        self.client = client
        self.case = case
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.listener.settimeout(10)
        conn, _ = self.listener.accept()
        with conn:
            conn.settimeout(10)
            client = self.client
            client.start()
            if self.case.after == "ClientHello":
                _ending(client, self.case.alert)
                conn.sendall(client.data_to_send())
            else:
                conn.sendall(client.data_to_send())
                while not client.closed:
                    data = conn.recv(65536)
                    evs = client.receive_data(data)
                    while client.awaiting_certificate_decision:
                        evs += client.accept_certificate()
                    if not data or client.closed:
                        break
                    if any(
                        isinstance(e, events.HandshakeMessageSent) and e.name == "Finished"
                        for e in evs
                    ):
                        _ending(client, self.case.alert)
                        conn.sendall(client.data_to_send())
                        break
                    conn.sendall(client.data_to_send())
            try:
                while conn.recv(65536):
                    pass
            except OSError:
                pass

    def stop(self) -> None:
        self.thread.join(15)
        self.listener.close()


async def _judge(_: events.CertificateReceived) -> AlertDescription | None:
    return None


SERVER_CASES = [
    ServerCase(version, after, alert, auth)
    for version in ("1.3", "1.2")
    for after, auth in (("ClientHello", False), ("Finished", False), ("Finished", True))
    for alert in ALERTS
]


@pytest.mark.parametrize(
    "case",
    SERVER_CASES,
    ids=[
        f"tls{c.version}-{c.after}{'-client-auth' if c.client_auth else ''}-{c.alert}"
        for c in SERVER_CASES
    ],
)
def test_our_server_when_the_client_closes_with_a_handshake_message(case: ServerCase) -> None:
    server, script = _script_for_server(case)

    async def main() -> list[events.Event]:
        reader, writer = await asyncio.open_connection("127.0.0.1", script.port)
        return await serve_connection(server, TcpTransport(reader, writer), _judge)

    try:
        seen = asyncio.run(main())  # never raises
    finally:
        script.stop()
    closed = [e for e in seen if isinstance(e, events.ConnectionClosed)]
    assert closed and server.closed, seen
    if case.alert == "fatal":
        assert isinstance(server.error, PeerAlert) and server.error.alert == A.internal_error
    else:
        assert server.error is None
    completed = any(isinstance(e, events.HandshakeComplete) for e in seen)
    assert completed is (case.after == "Finished")
    if case.client_auth:
        assert any(isinstance(e, events.CertificateReceived) for e in seen)


def test_the_client_matrix_names_every_message_our_client_takes_in_a_handshake() -> None:
    names13 = {c.after for c in CLIENT_CASES if c.version == "1.3"}
    names12 = {c.after for c in CLIENT_CASES if c.version == "1.2"}
    assert names13 >= {"ServerHello", "EncryptedExtensions", "Certificate", "Finished"}
    assert "ChangeCipherSpec" in names12 and "ServerHelloDone" in names12
