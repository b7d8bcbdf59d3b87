"""Our client service against a TLS server we did not write: OpenSSL through Python's ssl."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.integration.conftest import LocalStack
from tests.peers import ServerPeer
from tlssim.pki.throwaway import make_ca, make_leaf
from tlssim.report.model import ApplicationData, Report
from tlssim.report.revocation import RevocationStatus

pytestmark = pytest.mark.integration

NAME = "openssl.example.test"


class EchoServer:
    """A Python ssl (OpenSSL) TLS 1.3 echo server on a loopback port, one thread per client."""

    def __init__(self, cert_file: Path, key_file: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        # Python's own cipher string leaves out RSA key transport; OpenSSL's DEFAULT keeps it
        # (no security level change is needed for the AES-GCM RSA suites).
        self.context.set_ciphers("DEFAULT")
        self.context.load_cert_chain(cert_file, key_file)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.seen: list[tuple[str | None, tuple[str, str, int] | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _ = self.listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._echo, args=(raw,), daemon=True).start()

    def _echo(self, raw: socket.socket) -> None:
        raw.settimeout(10)
        try:
            with self.context.wrap_socket(raw, server_side=True) as tls:
                self.seen.append((tls.version(), tls.cipher()))
                while data := tls.recv(4096):
                    tls.sendall(data)
        except (OSError, ssl.SSLError):
            pass

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.listener.close()


def handshake(stack: LocalStack, port: int, ca_file: Path, *extra: str) -> Report:
    """Our client against a server on 127.0.0.1:`port` for NAME, trusting `ca_file`: it
    must succeed."""
    return stack.handshake(
        *("--tcp", f"127.0.0.1:{port}", "--ca-file", str(ca_file), "--server-name", NAME),
        *extra,
        ok=True,
    )


@pytest.fixture(scope="module", params=["ecdsa", "rsa"])
def openssl_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[EchoServer, Path]]:
    tmp = tmp_path_factory.mktemp(f"openssl-{request.param}")
    ca, ca_key = make_ca("Interop Test Root")
    key = (
        ec.generate_private_key(ec.SECP256R1())
        if request.param == "ecdsa"
        else (rsa.generate_private_key(public_exponent=65537, key_size=2048))
    )
    leaf = make_leaf(ca, ca_key, NAME, key)
    (tmp / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (tmp / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (tmp / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server = EchoServer(tmp / "leaf.pem", tmp / "key.pem")
    yield server, tmp / "ca.pem"
    server.stop()


@pytest.mark.parametrize("group", ["x25519", "secp256r1"])
@pytest.mark.parametrize(
    "suite", ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]
)
def test_our_client_with_an_openssl_server(
    stack: LocalStack, openssl_server: tuple[EchoServer, Path], group: str, suite: str
) -> None:
    server, ca_file = openssl_server
    report = handshake(
        stack,
        server.port,
        ca_file,
        *("--group", group, "--cipher", suite, "--revocation", "off"),
        *("--data", "hello openssl"),
    )
    assert report.version == "TLSv1.3"
    assert report.cipher_suite == suite
    assert report.key_exchange == group
    assert report.application_data == ApplicationData(sent=13, echoed=13)
    assert (server.seen[-1][1] or ("",))[0] == suite


def test_soft_fail_without_a_staple_or_a_responder_for_this_ca(
    stack: LocalStack, openssl_server: tuple[EchoServer, Path]
) -> None:
    server, ca_file = openssl_server
    report = handshake(stack, server.port, ca_file, "--revocation", "soft")
    assert report.revocation.status in (RevocationStatus.UNKNOWN, RevocationStatus.UNAVAILABLE)
    assert report.warnings, report


@pytest.mark.parametrize(
    ("suite", "needs"),
    [
        ("TLS_RSA_WITH_AES_128_GCM_SHA256", "rsa"),
        ("TLS_RSA_WITH_AES_256_GCM_SHA384", "rsa"),
        ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "rsa"),
        ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "rsa"),
        ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ecdsa"),
    ],
)
def test_our_client_with_an_openssl_server_tls12(
    stack: LocalStack,
    openssl_server: tuple[EchoServer, Path],
    request: pytest.FixtureRequest,
    suite: str,
    needs: str,
) -> None:
    server, ca_file = openssl_server
    if request.node.callspec.params["openssl_server"] != needs:
        pytest.skip(f"{suite} needs an {needs} certificate")
    report = handshake(
        stack, server.port, ca_file, "--tls", "1.2", "--cipher", suite, "--revocation", "off"
    )
    assert report.version == "TLSv1.2"
    assert report.cipher_suite == suite
    assert server.seen[-1][0] == "TLSv1.2"


def test_forward_secrecy_shown_with_a_recorded_session(
    stack: LocalStack,
    openssl_server: tuple[EchoServer, Path],
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    """With the server's key, a recorded RSA-key-transport session opens; ECDHE's does not."""
    if request.node.callspec.params["openssl_server"] != "rsa":
        pytest.skip("RSA key transport needs an RSA certificate")
    server, ca_file = openssl_server
    key_file = ca_file.parent / "key.pem"
    for kx in ("rsa", "ecdhe"):
        done = stack.tlssim(
            "handshake",
            "--tcp",
            f"127.0.0.1:{server.port}",
            "--ca-file",
            str(ca_file),
            "--server-name",
            NAME,
            "--tls",
            "1.2",
            "--kx",
            kx,
            "--revocation",
            "off",
            "--data",
            "the secret recipe",
            "--capture",
            str(tmp_path / f"{kx}.json"),
        )
        assert done.returncode == 0, done.stdout + done.stderr

    opened = stack.tlssim("decrypt", str(tmp_path / "rsa.json"), "--key", str(key_file))
    assert opened.returncode == 0, opened.stderr
    assert "TLS_RSA_WITH_" in opened.stdout
    assert opened.stdout.count("the secret recipe") == 2  # sent, and echoed back

    sealed = stack.tlssim("decrypt", str(tmp_path / "ecdhe.json"), "--key", str(key_file))
    assert sealed.returncode == 1
    assert "the secret recipe" not in sealed.stdout
    assert "ephemeral" in sealed.stderr


def test_no_echo_against_openssl_s_server(
    stack: LocalStack, openssl_server: tuple[EchoServer, Path], tmp_path: Path
) -> None:
    """`openssl s_server` prints what it gets and answers nothing: --no-echo finishes at once."""
    _, ca_file = openssl_server
    folder = ca_file.parent
    command = ["openssl", "s_server", "-quiet", "-accept", "127.0.0.1:{port}"]
    command += ["-cert", str(folder / "leaf.pem"), "-key", str(folder / "key.pem")]
    with ServerPeer("openssl", command, tmp_path / "s_server.log") as server:
        started = time.monotonic()
        report = handshake(stack, server.port, ca_file, "--no-echo", "--revocation", "off")
        took = time.monotonic() - started
    assert report.application_data.echoed == 0
    assert took < 5  # no wait for an echo that never comes
