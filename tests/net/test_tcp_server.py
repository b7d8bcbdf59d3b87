"""The engine served from the event loop's callbacks (``net.tcp_server.EngineProtocol``):
what ``serve_connection`` over a ``TcpTransport`` does, on a loopback connection: the echo,
the close, a client certificate decided in a task while the client's next bytes wait, the
idle limit, and an engine that fails."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import socket
from typing import Any

import pytest

from tests.net.test_close_with_last_message import (
    SERVER_CASES,
    ServerCase,
    _script_for_server,
)
from tests.tls.tlshelpers import HOST, counter_entropy, pki, selector_for
from tlssim.client.run import run_client
from tlssim.net import tcp_server
from tlssim.net.tcp_server import EngineProtocol
from tlssim.net.transport import TcpTransport
from tlssim.tls import (
    AlertDescription,
    ClientConfig,
    ClientConnection,
    PeerAlert,
    ProtocolVersion,
    ServerConfig,
    ServerConnection,
    events,
)
from tlssim.tls.config import ClientAuth

A = AlertDescription
DATA = b"GET / HTTP/1.1\r\n\r\n"


class Recorded(ServerConnection):
    """A server connection that keeps every event it returned."""

    def __init__(self, config: ServerConfig) -> None:
        super().__init__(config)
        self.seen: list[events.Event] = []

    def receive_data(self, data: bytes) -> list[events.Event]:
        return self._kept(super().receive_data(data))

    def accept_certificate(self) -> list[events.Event]:
        return self._kept(super().accept_certificate())

    def reject_certificate(self, alert: AlertDescription = A.bad_certificate) -> list[events.Event]:
        return self._kept(super().reject_certificate(alert))

    def request_client_certificate(self, ask: ClientAuth) -> list[events.Event]:
        return self._kept(super().request_client_certificate(ask))

    def _kept(self, evs: list[events.Event]) -> list[events.Event]:
        self.seen.extend(evs)
        return evs


def _server(client_auth: bool = False) -> Recorded:
    ask = ClientAuth(required=True) if client_auth else None
    return Recorded(
        ServerConfig(
            entropy=counter_entropy(b"s"),
            certificate_selector=selector_for(pki().keys["ecdsa"]),
            client_auth=(lambda _sni: ask) if ask else None,
        )
    )


def _client(client_auth: bool = False) -> ClientConnection:
    return ClientConnection(
        ClientConfig(
            server_name=HOST,
            entropy=counter_entropy(b"c"),
            versions=(ProtocolVersion.TLSv1_3,),
            client_certificate=pki().keys["ecdsa"] if client_auth else None,
        )
    )


async def _accept_all(_: events.CertificateReceived) -> AlertDescription | None:
    return None


class Served:
    """A listener whose one connection is served by ``conn``; ``peer`` once it closed."""

    def __init__(self, conn: ServerConnection, judge: Any = None) -> None:
        self.conn = conn
        self.judge = judge
        self.closed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.server: asyncio.Server | None = None

    def protocol(self) -> EngineProtocol:
        return EngineProtocol(
            self.conn, contextvars.copy_context(), self.closed.set_result, self.judge
        )

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(self.protocol, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port


@pytest.mark.parametrize(
    "case",
    SERVER_CASES,
    ids=[
        f"tls{c.version}-{c.after}{'-client-auth' if c.client_auth else ''}-{c.alert}"
        for c in SERVER_CASES
    ],
)
def test_a_client_that_closes_with_a_handshake_message_gets_a_defined_end(
    case: ServerCase,
) -> None:
    server, script = _script_for_server(case)
    seen: list[events.Event] = []
    receive, accept = server.receive_data, server.accept_certificate

    def receive_data(data: bytes) -> list[events.Event]:
        evs = receive(data)
        seen.extend(evs)
        return evs

    def accept_certificate() -> list[events.Event]:
        evs = accept()
        seen.extend(evs)
        return evs

    server.receive_data = receive_data  # type: ignore[method-assign]
    server.accept_certificate = accept_certificate  # type: ignore[method-assign]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        closed: asyncio.Future[Any] = loop.create_future()
        await loop.create_connection(
            lambda: EngineProtocol(
                server, contextvars.copy_context(), closed.set_result, _accept_all
            ),
            "127.0.0.1",
            script.port,
        )
        await asyncio.wait_for(closed, 15)

    try:
        asyncio.run(main())
    finally:
        script.stop()
    assert server.closed
    if case.alert == "fatal":
        assert isinstance(server.error, PeerAlert) and server.error.alert == A.internal_error
    else:
        assert server.error is None
    completed = any(isinstance(e, events.HandshakeComplete) for e in seen)
    assert completed is (case.after == "Finished")
    if case.client_auth:
        assert any(isinstance(e, events.CertificateReceived) for e in seen)


def test_the_handshake_the_echo_and_the_close() -> None:
    async def main() -> None:
        served = Served(_server())
        port = await served.start()
        run = await run_client(
            _client(), await TcpTransport.connect("127.0.0.1", port), _accept_all, DATA, 10
        )
        assert run.completed and run.echoed == DATA and run.failure is None
        peer = await asyncio.wait_for(served.closed, 10)
        assert isinstance(peer, tuple) and peer[0] == "127.0.0.1"
        assert served.conn.closed and served.conn.error is None

    asyncio.run(main())


def test_the_client_certificate_is_decided_while_the_next_bytes_wait() -> None:
    """The client's Finished and its request come together; the judge takes its time, and
    the request is answered after the decision, over the same connection."""
    decided: list[bool] = []

    async def slow_judge(_: events.CertificateReceived) -> AlertDescription | None:
        await asyncio.sleep(0.05)
        decided.append(True)
        return None

    async def main() -> None:
        server = _server(client_auth=True)
        served = Served(server, slow_judge)
        port = await served.start()
        run = await run_client(
            _client(client_auth=True),
            await TcpTransport.connect("127.0.0.1", port),
            _accept_all,
            DATA,
            10,
        )
        assert decided and run.completed and run.echoed == DATA
        await asyncio.wait_for(served.closed, 10)
        assert any(isinstance(e, events.HandshakeComplete) for e in server.seen)

    asyncio.run(main())


def test_a_refused_certificate_ends_the_connection_with_the_judges_alert() -> None:
    async def refuse(_: events.CertificateReceived) -> AlertDescription | None:
        await asyncio.sleep(0)
        return A.certificate_revoked

    async def main() -> None:
        served = Served(_server(client_auth=True), refuse)
        port = await served.start()
        run = await run_client(
            _client(client_auth=True),
            await TcpTransport.connect("127.0.0.1", port),
            _accept_all,
            DATA,
            10,
        )
        assert run.echoed == b""
        await asyncio.wait_for(served.closed, 10)
        assert served.conn.error is not None
        assert served.conn.error.alert == A.certificate_revoked

    asyncio.run(main())


def test_an_idle_client_is_let_go(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tcp_server, "SERVER_IDLE_TIMEOUT_S", 0.2)

    async def main() -> None:
        served = Served(_server())
        port = await served.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(reader.read(), 10) == b""  # the server's FIN
        await asyncio.wait_for(served.closed, 10)
        writer.close()

    asyncio.run(main())


def test_an_engine_that_fails_is_logged_and_its_socket_closed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(ServerConnection):
        def receive_data(self, data: bytes) -> list[events.Event]:
            raise RuntimeError("a bug")

    async def main() -> None:
        conn = Broken(
            ServerConfig(
                entropy=counter_entropy(b"s"),
                certificate_selector=selector_for(pki().keys["ecdsa"]),
            )
        )
        served = Served(conn)
        port = await served.start()
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"\x16\x03\x01\x00\x01\x01")
            sock.settimeout(10)
            assert await asyncio.to_thread(sock.recv, 100) == b""
        await asyncio.sleep(0.05)
        assert not served.closed.done()  # no outcome to tell of

    with caplog.at_level(logging.ERROR, logger="tlssim.net.tcp_server"):
        asyncio.run(main())
    assert "serving a TCP connection failed" in caplog.text
