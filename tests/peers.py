"""Other TLS stacks as peers: their programs, their versions, and how to drive them.

Each peer is a program from a Debian package that ``scripts/bootstrap.sh`` installs (as
root, with apt). A test asks for one with ``need(name)``: it is installed here the same way
when it is missing and we may, and the test skips only when it is missing and cannot be.
``ServerPeer`` starts a peer's server on a free loopback port and waits until it listens;
``run_client`` runs a peer's client with a deadline; ``version(name)`` says which release
answered, for the test's output and an interop table. ``PeerPki`` writes throwaway
credentials for the peers: a CA and a P-256 leaf for ``peer.test``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tlssim.pki.throwaway import make_ca, make_leaf

PEER_HOST = "peer.test"


@dataclass(frozen=True)
class Peer:
    """A peer program: the Debian package that brings it and how it tells its version."""

    program: str
    package: str
    version_command: tuple[str, ...]


PEERS = {
    "openssl": Peer("openssl", "openssl", ("openssl", "version")),
    "gnutls-serv": Peer("gnutls-serv", "gnutls-bin", ("gnutls-cli", "--version")),
    "gnutls-cli": Peer("gnutls-cli", "gnutls-bin", ("gnutls-cli", "--version")),
    "botan": Peer("botan", "botan", ("botan", "version")),
    # tstclnt and certutil print no version of their own: the package's is NSS's.
    "tstclnt": Peer("tstclnt", "libnss3-tools", ("dpkg-query", "-W", "-f=${Version}", "libnss3")),
    "certutil": Peer("certutil", "libnss3-tools", ("dpkg-query", "-W", "-f=${Version}", "libnss3")),
    "socat": Peer("socat", "socat", ("socat", "-V")),
    "go": Peer("go", "golang-go", ("go", "version")),
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
    """The first line the peer's version command prints (e.g. ``gnutls-cli 3.7.9``)."""
    peer = PEERS[name]
    try:
        out = subprocess.run(
            peer.version_command, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = (out.stdout or out.stderr).strip().splitlines()
    return f"{peer.program} {lines[0]}" if lines else "unknown"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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

    @classmethod
    def create(cls, directory: Path) -> PeerPki:
        directory.mkdir(parents=True, exist_ok=True)
        ca, ca_key = make_ca("tlssim peer test CA")
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = make_leaf(ca, ca_key, PEER_HOST, key)
        pki = cls(directory)
        pki.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        pki.cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        pki.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return pki


@contextlib.contextmanager
def nss_db(directory: Path, bundle: Path) -> Iterator[Path]:
    """An NSS database (no password) trusting each certificate of ``bundle`` that NSS can
    read as a CA."""
    certutil = need("certutil")
    directory.mkdir(parents=True, exist_ok=True)
    db = f"sql:{directory}"
    subprocess.run([certutil, "-N", "-d", db, "--empty-password"], check=True, timeout=30)
    certs = x509.load_pem_x509_certificates(bundle.read_bytes())
    # NSS 3.87 knows no ML-DSA: the lab's post-quantum root stays out.
    classical = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
    for i, cert in enumerate(c for c in certs if isinstance(c.public_key(), classical)):
        one = directory / f"ca{i}.pem"
        one.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        subprocess.run(
            [certutil, "-A", "-n", f"lab{i}", "-t", "C,,", "-i", str(one), "-d", db],
            check=True,
            timeout=30,
        )
    yield directory
