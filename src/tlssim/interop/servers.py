"""Other TLS stacks' servers, for the server role of the matrix: our client (`tlssim
handshake --tcp`) against each, per version and key type, with a throwaway PKI."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tlssim.interop.peers import GO_PEER, JAVA_PEER_DIR, java_peer_built, normalise
from tlssim.pki import throwaway

NAME = "peer.tlssim.test"
KEY_TYPES = ("ecdsa-p256", "rsa2048")
START_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Credentials:
    ca_file: Path
    cert_file: Path  # leaf then intermediate-free chain (the leaf is issued by the root)
    key_file: Path


def make_credentials(directory: Path, key_type: str) -> Credentials:
    """A throwaway root and a leaf for `NAME` with the given key type (PEM files)."""
    root, root_key = throwaway.make_ca("tlssim interop root")
    leaf_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    if key_type == "rsa2048":
        leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = throwaway.make_leaf(root, root_key, NAME, leaf_key)
    directory.mkdir(parents=True, exist_ok=True)
    creds = Credentials(
        directory / f"ca-{key_type}.pem",
        directory / f"leaf-{key_type}.pem",
        directory / f"leaf-{key_type}.key",
    )
    creds.ca_file.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    creds.cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    creds.key_file.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return creds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True, slots=True)
class ServerPeer:
    name: str
    program: str
    versions: tuple[str, ...]
    #: argv that serves `creds` on `port` in `version`
    argv: Callable[[Credentials, int, str], list[str]]

    def available(self) -> bool:
        if self.program == "tlssim-go-peer":
            return GO_PEER.exists()
        if self.program == "java":
            return java_peer_built()
        if self.program.startswith("python:"):
            return _importable(self.program.removeprefix("python:"))
        return shutil.which(self.program) is not None


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def _openssl(creds: Credentials, port: int, version: str) -> list[str]:
    flag = "-tls1_3" if version == "1.3" else "-tls1_2"
    return [
        "openssl", "s_server", "-accept", str(port), "-cert", str(creds.cert_file),
        "-key", str(creds.key_file), flag, "-quiet",
    ]  # fmt: skip


def _gnutls(creds: Credentials, port: int, version: str) -> list[str]:
    v = "+VERS-TLS1.3" if version == "1.3" else "+VERS-TLS1.2"
    return [
        "gnutls-serv", "--port", str(port), "--x509certfile", str(creds.cert_file),
        "--x509keyfile", str(creds.key_file), "--echo", "--priority", f"NORMAL:-VERS-ALL:{v}",
    ]  # fmt: skip


def _botan(creds: Credentials, port: int, version: str) -> list[str]:
    return ["botan", "tls_server", str(creds.cert_file), str(creds.key_file), f"--port={port}"]


def _go(creds: Credentials, port: int, version: str) -> list[str]:
    return [
        str(GO_PEER), "server", "-listen", f"127.0.0.1:{port}", "-cert", str(creds.cert_file),
        "-key", str(creds.key_file), "-version", version,
    ]  # fmt: skip


def _python_ssl(creds: Credentials, port: int, version: str) -> list[str]:
    # Python's ssl as a one-connection echo server, in a process of its own
    script = (
        "import socket,ssl,sys;"
        "c=ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER);"
        "c.load_cert_chain(sys.argv[1],sys.argv[2]);"
        "v=ssl.TLSVersion.TLSv1_3 if sys.argv[4]=='1.3' else ssl.TLSVersion.TLSv1_2;"
        "c.minimum_version=c.maximum_version=v;"
        "s=socket.create_server(('127.0.0.1',int(sys.argv[3])));"
        "print('listening',flush=True)\n"
        "while True:\n"
        " r,_=s.accept()\n"
        " try:\n"
        "  t=c.wrap_socket(r,server_side=True);d=t.recv(4096);t.sendall(d)\n"
        # a clean close_notify: OpenSSL keeps only cleanly closed sessions for resumption
        "  t.unwrap();t.close()\n"
        " except (OSError,ssl.SSLError):\n"
        "  r.close()\n"
    )
    return [
        sys.executable, "-c", script, str(creds.cert_file), str(creds.key_file), str(port),
        version,
    ]  # fmt: skip


def _java(creds: Credentials, port: int, version: str) -> list[str]:
    return [
        "java", "-cp", str(JAVA_PEER_DIR), "TlsPeer", "server", str(port),
        str(creds.cert_file), str(creds.key_file), version,
    ]  # fmt: skip


def _nss(creds: Credentials, port: int, version: str) -> list[str]:
    """selfserv with a database holding the leaf and its key (imported from PKCS#12)."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    db = creds.cert_file.parent / f"{creds.cert_file.stem}.nssdb"
    if not (db / "cert9.db").exists():
        db.mkdir(exist_ok=True)
        subprocess.run(
            ["certutil", "-N", "-d", f"sql:{db}", "--empty-password"], capture_output=True
        )
        key = serialization.load_pem_private_key(creds.key_file.read_bytes(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
        leaf = x509.load_pem_x509_certificate(creds.cert_file.read_bytes())
        bundle = pkcs12.serialize_key_and_certificates(
            b"peer",
            key,
            leaf,
            None,
            serialization.NoEncryption(),
        )
        p12 = db / "peer.p12"
        p12.write_bytes(bundle)
        subprocess.run(
            ["pk12util", "-i", str(p12), "-d", f"sql:{db}", "-W", ""], capture_output=True
        )
    v = "tls1.3:tls1.3" if version == "1.3" else "tls1.2:tls1.2"
    # -u: session tickets, without which selfserv resumes no TLS 1.3 session
    return ["selfserv", "-d", f"sql:{db}", "-n", "peer", "-p", str(port), "-V", v, "-u"]


_TLSLITE_SERVER = """
import os, socket, sys
from tlslite.api import HandshakeSettings, SessionCache, TLSConnection, X509CertChain, parsePEMKey
cache = SessionCache()
chain = X509CertChain(); chain.parsePemList(open(sys.argv[1]).read())
key = parsePEMKey(open(sys.argv[2]).read(), private=True)
settings = HandshakeSettings()
settings.minVersion = settings.maxVersion = (3, 4) if sys.argv[4] == "1.3" else (3, 3)
settings.ticketKeys = [os.urandom(32)]  # TLS 1.3 tickets: none without a key
s = socket.create_server(("127.0.0.1", int(sys.argv[3])))
while True:
    raw, _ = s.accept()
    try:
        tls = TLSConnection(raw)
        tls.handshakeServer(
            certChain=chain, privateKey=key, settings=settings, sessionCache=cache
        )
        tls.write(tls.read(max=4096)); tls.close()
    except Exception:
        raw.close()
"""


def _tlslite(creds: Credentials, port: int, version: str) -> list[str]:
    return [
        sys.executable, "-c", _TLSLITE_SERVER, str(creds.cert_file), str(creds.key_file),
        str(port), version,
    ]  # fmt: skip


_PYOPENSSL_SERVER = """
import socket, sys
from OpenSSL import SSL
ctx = SSL.Context(SSL.TLS_METHOD)
v = SSL.TLS1_3_VERSION if sys.argv[4] == "1.3" else SSL.TLS1_2_VERSION
ctx.set_min_proto_version(v); ctx.set_max_proto_version(v)
ctx.use_certificate_chain_file(sys.argv[1]); ctx.use_privatekey_file(sys.argv[2])
s = socket.create_server(("127.0.0.1", int(sys.argv[3])))
while True:
    raw, _ = s.accept()
    try:
        c = SSL.Connection(ctx, raw); c.set_accept_state(); c.do_handshake()
        c.sendall(c.recv(4096)); c.shutdown()
    except Exception:
        pass
    raw.close()
"""


def _pyopenssl(creds: Credentials, port: int, version: str) -> list[str]:
    return [
        sys.executable, "-c", _PYOPENSSL_SERVER, str(creds.cert_file), str(creds.key_file),
        str(port), version,
    ]  # fmt: skip


SERVER_PEERS: tuple[ServerPeer, ...] = (
    ServerPeer("openssl", "openssl", ("1.3", "1.2"), _openssl),
    ServerPeer("gnutls", "gnutls-serv", ("1.3", "1.2"), _gnutls),
    ServerPeer("botan", "botan", ("1.2",), _botan),
    ServerPeer("go", "tlssim-go-peer", ("1.3", "1.2"), _go),
    ServerPeer("python-ssl", sys.executable, ("1.3", "1.2"), _python_ssl),
    ServerPeer("pyopenssl", "python:OpenSSL", ("1.3", "1.2"), _pyopenssl),
    ServerPeer("nss", "selfserv", ("1.3", "1.2"), _nss),
    ServerPeer("java", "java", ("1.3", "1.2"), _java),
    ServerPeer("tlslite", "python:tlslite", ("1.3", "1.2"), _tlslite),
)


@contextlib.contextmanager
def serving(argv: Sequence[str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """The peer's server process, once its port accepts connections."""
    process = subprocess.Popen(
        list(argv),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.05)
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 9)
        process.wait()


@dataclass(frozen=True, slots=True)
class Feature:
    """One column of the server role: what our client asks of the peer's server."""

    name: str
    key_type: str
    args: tuple[str, ...] = ()


FEATURES: tuple[Feature, ...] = (
    Feature("ECDSA", "ecdsa-p256"),
    Feature("RSA", "rsa2048"),
    Feature("resumption", "ecdsa-p256", ("--resume",)),
    Feature("P-256", "ecdsa-p256", ("--group", "secp256r1")),
    Feature("X25519MLKEM768", "ecdsa-p256", ("--group", "X25519MLKEM768")),
)


@dataclass(frozen=True, slots=True)
class ServerCell:
    peer: str
    feature: str
    version: str
    ok: bool
    detail: str  # "TLSv1.3 TLS_AES_128_GCM_SHA256 x25519" or the failure

    @property
    def text(self) -> str:
        return self.detail if self.ok else f"failed: {self.detail}"


def our_client(
    address: str,
    ca_file: Path,
    version: str,
    args: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> tuple[bool, str]:
    """`tlssim handshake --tcp` against `address`; (ok, what was negotiated or why not)."""
    done = subprocess.run(
        [
            *(sys.executable, "-m", "tlssim", "handshake", "--json", "--tcp", address),
            *("--ca-file", str(ca_file), "--server-name", NAME, "--no-echo"),
            *("--tls", version, *args),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        return False, normalise(done.stderr.strip().splitlines()[-1] if done.stderr else "")
    if report.get("ok"):
        what = f"{report['version']} {report['cipher_suite']} {report['key_exchange']}"
        if "--resume" in args:
            return True, "resumed" if report.get("resumed") else "full handshake again"
        return True, what
    alert = report.get("alert") or {}
    why = alert.get("description") or report.get("error") or "failed"
    return False, normalise(f"{why} ({alert.get('sent_by', '')})" if alert else str(why))


def run_server_matrix(
    peers: Sequence[ServerPeer],
    directory: Path,
    *,
    progress: Callable[[int, int, str], None] | None = None,
    env: dict[str, str] | None = None,
) -> list[ServerCell]:
    """Each peer's server once per key type and version; our client asks each feature of it."""
    creds = {k: make_credentials(directory, k) for k in KEY_TYPES}
    total = sum(len(p.versions) for p in peers) * len(FEATURES)
    cells: list[ServerCell] = []
    for peer in peers:
        for version in peer.versions:
            for key_type in KEY_TYPES:
                port = free_port()
                with serving(peer.argv(creds[key_type], port, version), port):
                    for feature in (f for f in FEATURES if f.key_type == key_type):
                        ok, detail = our_client(
                            f"127.0.0.1:{port}", creds[key_type].ca_file, version,
                            feature.args, env,
                        )  # fmt: skip
                        cells.append(ServerCell(peer.name, feature.name, version, ok, detail))
                        if progress is not None:
                            what = f"our client -> {peer.name} {feature.name} TLS {version}"
                            progress(len(cells), total, what)
    return cells


#: (peer or "*", feature, version or "*") -> why such a cell fails.
EXPLAINED: dict[tuple[str, str, str], str] = {
    ("*", "X25519MLKEM768", "1.3"): (
        "the peer has no ML-KEM (only OpenSSL 4 here): a client offering nothing else is "
        "refused, as RFC 8446 4.1.1 says"
    ),
    ("*", "X25519MLKEM768", "1.2"): "ML-KEM groups exist only in TLS 1.3",
    ("java", "X25519MLKEM768", "1.3"): (
        "Java 17 answers a ClientHello whose groups it all lacks with unexpected_message, "
        "not handshake_failure"
    ),
    ("go", "resumption", "1.2"): (
        "Go resumes TLS 1.2 by session ticket only (RFC 5077); our client resumes TLS 1.2 "
        "by session id"
    ),
    ("tlslite", "resumption", "1.2"): (
        "tlslite-ng's server resumes TLS 1.2 by ticket when the client offers the extension, "
        "else by its session cache"
    ),
}


def explanation(cell: ServerCell) -> str:
    for peer in (cell.peer, "*"):
        for version in (cell.version, "*"):
            found = EXPLAINED.get((peer, cell.feature, version))
            if found:
                return found
    return ""


def disagreements_markdown(cells: Sequence[ServerCell]) -> str:
    groups: dict[str, list[str]] = {}
    for cell in cells:
        if not cell.ok:
            reason = explanation(cell) or "UNEXPLAINED"
            groups.setdefault(reason, []).append(f"{cell.peer} {cell.feature} {cell.version}")
    return "\n".join(f"- {reason}: {', '.join(c)}." for reason, c in sorted(groups.items()))


def to_markdown(cells: Sequence[ServerCell]) -> str:
    """A row per peer and version, a column per feature."""
    by_key = {(c.peer, c.version, c.feature): c for c in cells}
    rows = list(dict.fromkeys((c.peer, c.version) for c in cells))
    lines = [
        "### Server role: `tlssim handshake --tcp` against each peer's server",
        "",
        "| peer | TLS | " + " | ".join(f.name for f in FEATURES) + " |",
        "|---|---|" + "---|" * len(FEATURES),
    ]
    for peer, version in rows:
        out = []
        for feature in FEATURES:
            cell = by_key.get((peer, version, feature.name))
            out.append("" if cell is None else cell.text if cell.ok else f"**{cell.text}**")
        lines.append(f"| {peer} | {version} | " + " | ".join(out) + " |")
    return "\n".join(lines) + "\n"


def parse_markdown(text: str) -> dict[tuple[str, str, str], str]:
    """The server-role cells of a committed matrix: (peer, feature, version) -> outcome."""
    cells: dict[tuple[str, str, str], str] = {}
    inside = False
    columns: list[str] = []
    for line in text.splitlines():
        if line.startswith("### "):
            inside = line.startswith("### Server role")
        elif inside and line.startswith("| peer | TLS |"):
            columns = [c.strip() for c in line.strip().strip("|").split("|")][2:]
        elif inside and columns and line.startswith("| "):
            peer, version, *values = (p.strip() for p in line.strip().strip("|").split(" | "))
            for feature, value in zip(columns, values, strict=False):
                if value:
                    cells[(peer, feature, version)] = value.strip("*")
    return cells
