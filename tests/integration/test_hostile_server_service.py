"""The client service against a hostile TLS server on a loopback port.

A tiny TCP server answers ``tlssim handshake --tcp`` with a real ServerConnection's flight,
rewritten the way a misbehaving server would (tests/tls/hostile.py has the tools, and
tests/tls/test_hostile_server.py the full table in memory). The report must name the alert
the RFC asks for, sent by the client.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import LocalStack
from tests.tls.hostile import (
    APPLICATION_DATA,
    CCS_RECORD,
    HANDSHAKE,
    edit_server_hello,
    record,
    secret,
    split_messages,
    split_records,
)
from tests.tls.tlshelpers import HOST, counter_entropy, pki, selector_for
from tlssim.report.model import Alert, Party
from tlssim.tls import CipherSuite, ProtocolVersion, ServerConfig, ServerConnection
from tlssim.tls.constants import DOWNGRADE_TLS12
from tlssim.tls.extensions import Extension
from tlssim.tls.keyschedule import TLS13_SUITES
from tlssim.tls.messages import Certificate, EncryptedExtensions, ServerHello
from tlssim.tls.record import RecordProtection

pytestmark = pytest.mark.integration

#: From the client's first record to what the hostile server sends back.
Rewrite = Callable[[bytes], bytes]


def _server(versions: tuple[ProtocolVersion, ...]) -> ServerConnection:
    return ServerConnection(
        ServerConfig(
            entropy=counter_entropy(b"hostile"),
            certificate_selector=selector_for(pki().keys["ecdsa"]),
            versions=versions,
        )
    )


def _tls13(edit: Callable[[list[bytes]], list[bytes]]) -> Rewrite:
    """A TLS 1.3 flight whose messages ``edit`` rewrites, resealed under the server's keys."""

    def rewrite(hello: bytes) -> bytes:
        server = _server((ProtocolVersion.TLSv1_3,))
        sev = server.receive_data(hello)
        records = split_records(server.data_to_send())
        sh = split_messages(records[0][1])[0]
        params = TLS13_SUITES[CipherSuite(ServerHello.parse(sh[4:]).cipher_suite)]
        key = secret(sev, "SERVER_HANDSHAKE_TRAFFIC_SECRET")
        opener, sealer = RecordProtection(params, key), RecordProtection(params, key)
        inner = b"".join(
            opener.open(record(t, p)[:5], p)[1] for t, p in records[1:] if t == APPLICATION_DATA
        )
        first, *rest = edit([sh, *split_messages(inner)])
        sealed = sealer.seal(HANDSHAKE, b"".join(rest)) if rest else b""
        return record(HANDSHAKE, first) + CCS_RECORD + sealed

    return rewrite


def _downgrade_sentinel(hello: bytes) -> bytes:
    """A TLS 1.2 flight whose ServerHello.random ends in DOWNGRD\\x01."""
    server = _server((ProtocolVersion.TLSv1_2,))
    server.receive_data(hello)
    sh, *rest = split_messages(b"".join(p for _, p in split_records(server.data_to_send())))
    random = ServerHello.parse(sh[4:]).random[:24] + DOWNGRADE_TLS12
    return record(HANDSHAKE, b"".join([edit_server_hello(sh, random=random), *rest]))


class HostileServer:
    """Accepts one connection, answers its ClientHello with ``rewrite``, keeps what comes
    back until the client closes."""

    def __init__(self, rewrite: Rewrite) -> None:
        self.rewrite = rewrite
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received = b""
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(30)
        conn, _ = self.listener.accept()
        with conn:
            conn.settimeout(10)
            hello = b""
            while len(hello) < 5 or len(hello) < 5 + int.from_bytes(hello[3:5], "big"):
                chunk = conn.recv(65536)
                if not chunk:
                    return
                hello += chunk
            conn.sendall(self.rewrite(hello))
            try:
                while chunk := conn.recv(65536):
                    self.received += chunk
            except OSError:
                pass

    def stop(self) -> None:
        self._thread.join(15)
        self.listener.close()


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "ca.pem"
    path.write_bytes(pki().ca_pem)
    return path


CASES: dict[str, tuple[Rewrite, str]] = {
    # RFC 8446 4.1.3: a cipher suite that was not offered
    "unoffered-suite": (
        _tls13(lambda m: [edit_server_hello(m[0], cipher_suite=0x1305), *m[1:]]),
        "illegal_parameter",
    ),
    # RFC 8446 4.2: an extension the client did not send, in EncryptedExtensions
    "unknown-extension-in-ee": (
        _tls13(
            lambda m: [
                m[0],
                EncryptedExtensions(extensions=(Extension(0xFEFE, b""),)).serialize(),
                *m[2:],
            ]
        ),
        "unsupported_extension",
    ),
    # RFC 8446 4.4.2.4: an empty Certificate
    "empty-certificate": (
        _tls13(lambda m: [m[0], m[1], Certificate(entries=()).serialize(), *m[3:]]),
        "decode_error",
    ),
    # RFC 8446 4.1.3: a TLS 1.2 ServerHello with the downgrade sentinel
    "downgrade-sentinel": (_downgrade_sentinel, "illegal_parameter"),
}


@pytest.fixture(params=list(CASES))
def hostile(request: pytest.FixtureRequest) -> Iterator[tuple[HostileServer, str]]:
    rewrite, alert = CASES[request.param]
    server = HostileServer(rewrite)
    yield server, alert
    server.stop()


def test_client_service_reports_the_alert_it_sent(
    stack: LocalStack, hostile: tuple[HostileServer, str], ca_file: Path
) -> None:
    server, alert = hostile
    report = stack.handshake(
        *("--tcp", f"127.0.0.1:{server.port}", "--ca-file", str(ca_file)),
        *("--server-name", HOST, "--revocation", "off"),
        ok=False,
    )
    assert report.alert == Alert(level="fatal", description=alert, sent_by=Party.CLIENT)
    server.stop()
    assert server.received, "the client's alert reached the server"
