"""Other TLS stacks as peers: their programs, their versions, and how to drive them.

Each peer is a program from a Debian package that ``scripts/bootstrap.sh`` installs (as
root, with apt). A test asks for one with ``need(name)``: it is installed here the same way
when it is missing and we may, and the test skips only when it is missing and cannot be.
``ServerPeer`` starts a peer's server on a free loopback port and waits until it listens;
``run_client`` runs a peer's client with a deadline, ``openssl_client`` OpenSSL's
``s_client`` with the usual flags; ``version(name)`` says which release
answered, for the test's output and an interop table. ``PeerPki`` writes throwaway
credentials for the peers: a CA and a P-256 leaf for ``peer.test``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tlssim.interop.peers import by_name, new_nss_db, nss_trust
from tlssim.interop.servers import free_port
from tlssim.pki.throwaway import make_ca, make_leaf

PEER_HOST = "peer.test"


@dataclass(frozen=True)
class Peer:
    """A peer program: the Debian package that brings it, and the interop peer
    (``tlssim.interop.peers.CLIENT_PEERS``) whose stack it is, which says its version."""

    program: str
    package: str
    stack: str


PEERS = {
    "openssl": Peer("openssl", "openssl", "openssl"),
    "gnutls-serv": Peer("gnutls-serv", "gnutls-bin", "gnutls"),
    "gnutls-cli": Peer("gnutls-cli", "gnutls-bin", "gnutls"),
    "botan": Peer("botan", "botan", "botan"),
    "tstclnt": Peer("tstclnt", "libnss3-tools", "nss"),
    "certutil": Peer("certutil", "libnss3-tools", "nss"),
    "go": Peer("go", "golang-go", "go"),
}


def _install(package: str) -> None:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
        env=env,
        capture_output=True,
        timeout=600,
        check=False,
    )


def need(name: str) -> str:
    """The path of peer ``name``'s program, installed if missing and we may; else a skip."""
    peer = PEERS[name]
    if shutil.which(peer.program) is None:
        _install(peer.package)
    path = shutil.which(peer.program)
    if path is None:
        pytest.skip(f"{peer.program} is missing and cannot be installed ({peer.package})")
    return path


def version(name: str) -> str:
    """The release of peer ``name``'s stack, as the interop matrix names it (e.g.
    ``gnutls-cli 3.7.9``, ``NSS 3.87.1``)."""
    (stack,) = by_name([PEERS[name].stack])
    try:
        return stack.version_of() or "unknown"
    except (OSError, IndexError, subprocess.SubprocessError):
        return "unknown"


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout_s: float = 15) -> None:
    """Until something accepts on 127.0.0.1:``port``; fails if ``process`` dies first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            code = process.returncode
            raise RuntimeError(f"{process.args!r} exited with {code} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout_s:g} s")


class ServerPeer:
    """A peer's server on a free loopback port: ``{port}`` in ``command`` is replaced.

    Its standard input is an open pipe (a server that quits on EOF stays up) unless
    ``stdin_eof``; its output goes to ``log``. A context manager: stopped on exit."""

    def __init__(
        self, name: str, command: Sequence[str], log: Path, *, stdin_eof: bool = False
    ) -> None:
        need(name)
        self.name = name
        self.port = free_port()
        self.log = log
        argv = [part.replace("{port}", str(self.port)) for part in command]
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL if stdin_eof else subprocess.PIPE,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_listening(self.port, self.process)
        except RuntimeError:
            self.stop()
            raise

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        if self.process.stdin is not None:
            self.process.stdin.close()
        self._log.close()

    def __enter__(self) -> ServerPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class ClientResult:
    returncode: int | None  # None: killed at the deadline
    output: str
    seconds: float

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


def run_client(
    name: str, command: Sequence[str], timeout_s: float, stdin: bytes = b""
) -> ClientResult:
    """Runs a peer's client to its end, or kills it (its whole group) at ``timeout_s``."""
    need(name)
    started = time.monotonic()
    process = subprocess.Popen(
        list(command),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = process.communicate(stdin, timeout=timeout_s)
        code: int | None = process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, _ = process.communicate()
        code = None
    return ClientResult(code, out.decode(errors="replace"), time.monotonic() - started)


def openssl_client(
    address: tuple[str, int] | str,
    *extra: str,
    server_name: str | None = None,
    ca_file: Path | None = None,
    verify: bool = False,
    verify_hostname: str | None = None,
    version: str | None = None,
    stdin: str = "",
    timeout_s: float = 30,
) -> subprocess.CompletedProcess[str]:
    """``openssl s_client -connect HOST:PORT`` with the usual flags: ``-servername``,
    ``-CAfile``, ``-verify_return_error`` (``verify``), ``-verify_hostname``, a version flag
    (``version``: "1.3" or "1.2"), then ``extra``; ``stdin`` is what it reads and sends."""
    host_port = address if isinstance(address, str) else "{}:{}".format(*address)
    command = ["openssl", "s_client", "-connect", host_port]
    if server_name is not None:
        command += ["-servername", server_name]
    if ca_file is not None:
        command += ["-CAfile", str(ca_file)]
    if verify:
        command.append("-verify_return_error")
    if verify_hostname is not None:
        command += ["-verify_hostname", verify_hostname]
    if version is not None:
        command.append({"1.3": "-tls1_3", "1.2": "-tls1_2"}[version])
    return subprocess.run(
        [*command, *extra],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


@dataclass(frozen=True)
class PeerPki:
    """Throwaway credentials in ``directory``: ``ca.pem``, and ``ec.pem``/``ec.key`` (a
    P-256 leaf for peer.test, CA:FALSE, serverAuth)."""

    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def cert(self) -> Path:
        return self.directory / "ec.pem"

    @property
    def key(self) -> Path:
        return self.directory / "ec.key"

    @property
    def client_cert(self) -> Path:
        return self.directory / "client.pem"

    @property
    def client_key(self) -> Path:
        return self.directory / "client.key"

    @classmethod
    def create(cls, directory: Path) -> PeerPki:
        """Also ``client.pem``/``client.key``: a P-256 clientAuth leaf from the same CA."""
        directory.mkdir(parents=True, exist_ok=True)
        ca, ca_key = make_ca("tlssim peer test CA")
        pki = cls(directory)
        pki.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        key = ec.generate_private_key(ec.SECP256R1())
        _write(pki.cert, pki.key, make_leaf(ca, ca_key, PEER_HOST, key), key)
        client_key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "client.peer.test")])
        client = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(ca.subject)
            .public_key(client_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
            .sign(ca_key, hashes.SHA256())
        )
        _write(pki.client_cert, pki.client_key, client, client_key)
        return pki


def _write(
    cert_file: Path, key_file: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> None:
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@contextlib.contextmanager
def nss_db(directory: Path, bundle: Path) -> Iterator[Path]:
    """An NSS database (no password) trusting each certificate of ``bundle`` that NSS can
    read as a CA (the interop matrix's own, ``tlssim.interop.peers``)."""
    need("certutil")
    assert nss_trust(new_nss_db(directory), bundle, "C,,") > 0, bundle
    yield directory


class HoldUntilAlert:
    """A loopback TCP relay to a peer's server that hands our client the server's last
    flight and its close in one write: what follows the server's ChangeCipherSpec (TLS 1.2)
    is held, by whole records, until an alert record from the server arrives (or the server
    ends), then written at once. Everything else passes as it comes. One connection."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.held_flushes = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _serve(self) -> None:
        self.listener.settimeout(30)
        client, _ = self.listener.accept()
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port), 10)
        with client, upstream:
            up = threading.Thread(target=self._pump_up, args=(client, upstream), daemon=True)
            up.start()
            self._pump_down(upstream, client)
            up.join(10)

    @staticmethod
    def _pump_up(client: socket.socket, upstream: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                upstream.sendall(data)
            upstream.shutdown(socket.SHUT_WR)

    def _pump_down(self, upstream: socket.socket, client: socket.socket) -> None:
        buffer, held, holding = b"", b"", False
        with contextlib.suppress(OSError):
            while data := upstream.recv(65536):
                buffer += data
                while len(buffer) >= 5 and len(buffer) >= 5 + int.from_bytes(buffer[3:5], "big"):
                    end = 5 + int.from_bytes(buffer[3:5], "big")
                    rec, buffer = buffer[:end], buffer[end:]
                    holding = holding or rec[0] == 20  # change_cipher_spec
                    if not holding:
                        client.sendall(rec)
                        continue
                    held += rec
                    if rec[0] == 21:  # alert: the close arrived, all of it goes at once
                        client.sendall(held)
                        held, holding = b"", False
                        self.held_flushes += 1
            client.sendall(held + buffer)
            client.shutdown(socket.SHUT_WR)

    def stop(self) -> None:
        self._thread.join(15)
        self.listener.close()
