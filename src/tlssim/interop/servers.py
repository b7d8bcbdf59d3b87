"""Other TLS stacks' servers, for the server role of the matrix: our client (`tlssim
handshake --tcp`) against each, per version and key type, with a throwaway PKI."""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509 import ocsp

from tlssim.clock import SystemClock
from tlssim.interop.peers import (
    GO_PEER,
    JAVA_PEER_DIR,
    java_peer_built,
    new_nss_db,
    normalise,
    nss_trust,
)
from tlssim.pki import throwaway
from tlssim.pki.keys import PrivateKey
from tlssim.pki.ocsp_responder import CertStatus, OcspResponder, ServedIssuer, StatusRecord

NAME = "peer.tlssim.test"
#: Each peer's server is started once per key type its features need.
KEY_TYPES = ("ecdsa-p256", "rsa2048", "ecdsa-p384", "ecdsa-p521", "ed25519")
START_TIMEOUT_S = 10.0
#: What an echoing peer is sent: `openssl s_server -rev` answers each line reversed, so a
#: palindrome comes back as it went, as from the peers that echo.
ECHO_DATA = "racecar\n"


@dataclass(frozen=True, slots=True)
class Credentials:
    ca_file: Path
    cert_file: Path  # leaf then intermediate-free chain (the leaf is issued by the root)
    key_file: Path
    #: A DER OCSP response, "good", for the leaf: signed with the root's key by the
    #: lab's own responder code (tlssim.pki.ocsp_responder).
    ocsp_file: Path


def _new_key(key_type: str) -> PrivateKey:
    if key_type == "rsa2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    curve = {"ecdsa-p384": ec.SECP384R1(), "ecdsa-p521": ec.SECP521R1()}.get(key_type)
    return ec.generate_private_key(curve or ec.SECP256R1())


def make_credentials(
    directory: Path,
    key_type: str,
    root: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
) -> Credentials:
    """A leaf for `NAME` with the given key type under a throwaway root (a new one unless
    given), and a stapleable OCSP answer for it (PEM and DER files)."""
    ca, ca_key = root or throwaway.make_ca("tlssim interop root")
    leaf_key = _new_key(key_type)
    leaf = throwaway.make_leaf(ca, ca_key, NAME, leaf_key)
    directory.mkdir(parents=True, exist_ok=True)
    creds = Credentials(
        directory / f"ca-{key_type}.pem",
        directory / f"leaf-{key_type}.pem",
        directory / f"leaf-{key_type}.key",
        directory / f"leaf-{key_type}.ocsp.der",
    )
    creds.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    creds.cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    creds.key_file.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    creds.ocsp_file.write_bytes(good_staple(leaf, ca, ca_key))
    return creds


def good_staple(
    leaf: x509.Certificate, issuer: x509.Certificate, issuer_key: ec.EllipticCurvePrivateKey
) -> bytes:
    """The responder's DER answer "good" for `leaf`, signed by its issuer (RFC 6960)."""
    responder = OcspResponder(
        [ServedIssuer.create(issuer, issuer, issuer_key)],
        lambda _issuer, _serial: StatusRecord(CertStatus.GOOD),
        SystemClock(),
    )
    request = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA256()).build()
    reply = responder.respond(request.public_bytes(serialization.Encoding.DER))
    return reply.der


def classical_anchors(bundle_pem: str, path: Path) -> Path:
    """The certificates of a trust bundle that every peer can read (no ML-DSA), as PEM."""
    usable = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
    certs = x509.load_pem_x509_certificates(bundle_pem.encode())
    path.write_bytes(
        b"".join(
            c.public_bytes(serialization.Encoding.PEM)
            for c in certs
            if isinstance(c.public_key(), usable)
        )
    )
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Setup:
    """How one peer server is started: credentials, version, and what else it does."""

    creds: Credentials
    version: str
    #: "" (plain), "mtls" (requires a client certificate chaining to `client_ca`), "ocsp"
    #: (staples `creds.ocsp_file`), "early-data" (takes TLS 1.3 0-RTT data)
    mode: str = ""
    client_ca: Path | None = None


@dataclass(frozen=True, slots=True)
class ServerPeer:
    name: str
    program: str
    versions: tuple[str, ...]
    #: argv that serves `setup` on `port`
    argv: Callable[[Setup, int], list[str]]
    #: whether it sends back what it reads (then the cells that need it check an echo)
    echoes: bool = True
    #: a feature (or a mode, or a key type) -> why this peer's server cannot do it
    lacks: Mapping[str, str] = field(default_factory=dict)
    #: a mode -> seconds the server needs after it listens before it is asked anything
    warm_up_s: Mapping[str, float] = field(default_factory=dict)

    def available(self) -> bool:
        if self.program == "tlssim-go-peer":
            return GO_PEER.exists()
        if self.program == "java":
            return java_peer_built()
        if self.program.startswith("python:"):
            return _importable(self.program.removeprefix("python:"))
        return shutil.which(self.program) is not None

    def lacking(self, feature: Feature) -> str:
        """Why this peer cannot serve `feature`, or "" when it can."""
        for what in (feature.name, feature.mode, feature.key_type):
            if what and what in self.lacks:
                return self.lacks[what]
        return ""


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def _openssl(setup: Setup, port: int) -> list[str]:
    creds = setup.creds
    flag = "-tls1_3" if setup.version == "1.3" else "-tls1_2"
    argv = [
        "openssl", "s_server", "-accept", str(port), "-cert", str(creds.cert_file),
        "-key", str(creds.key_file), flag,
    ]  # fmt: skip
    if setup.mode == "early-data":
        # 0-RTT is read by s_server's ordinary loop only, which echoes nothing
        return [*argv, "-quiet", "-early_data"]
    argv.append("-rev")  # each line back, reversed: an echo of ECHO_DATA
    if setup.mode == "mtls" and setup.client_ca:
        argv += ["-Verify", "1", "-CAfile", str(setup.client_ca)]
    if setup.mode == "ocsp":
        argv += ["-status_file", str(creds.ocsp_file)]
    return argv


def _gnutls(setup: Setup, port: int) -> list[str]:
    creds = setup.creds
    v = "+VERS-TLS1.3" if setup.version == "1.3" else "+VERS-TLS1.2"
    argv = [
        "gnutls-serv", "--port", str(port), "--x509certfile", str(creds.cert_file),
        "--x509keyfile", str(creds.key_file), "--echo", "--priority", f"NORMAL:-VERS-ALL:{v}",
    ]  # fmt: skip
    if setup.mode == "mtls" and setup.client_ca:
        argv += ["--require-client-cert", "--verify-client-cert"]
        argv += ["--x509cafile", str(setup.client_ca)]
    if setup.mode == "ocsp":
        argv += ["--ocsp-response", str(creds.ocsp_file)]
    if setup.mode == "early-data":
        argv.append("--earlydata")
    return argv


def _botan(setup: Setup, port: int) -> list[str]:
    creds = setup.creds
    return ["botan", "tls_server", str(creds.cert_file), str(creds.key_file), f"--port={port}"]


def _go(setup: Setup, port: int) -> list[str]:
    creds = setup.creds
    argv = [
        str(GO_PEER), "server", "-listen", f"127.0.0.1:{port}", "-cert", str(creds.cert_file),
        "-key", str(creds.key_file), "-version", setup.version,
    ]  # fmt: skip
    if setup.mode == "mtls" and setup.client_ca:
        argv += ["-clientca", str(setup.client_ca)]
    if setup.mode == "ocsp":
        argv += ["-ocsp", str(creds.ocsp_file)]
    return argv


def _python_ssl(setup: Setup, port: int) -> list[str]:
    # Python's ssl as a one-connection-at-a-time echo server, in a process of its own
    script = (
        "import socket,ssl,sys;"
        "c=ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER);"
        "c.load_cert_chain(sys.argv[1],sys.argv[2]);"
        "v=ssl.TLSVersion.TLSv1_3 if sys.argv[4]=='1.3' else ssl.TLSVersion.TLSv1_2;"
        "c.minimum_version=c.maximum_version=v;"
        "c.verify_mode=ssl.CERT_REQUIRED if sys.argv[5] else ssl.CERT_NONE;"
        "sys.argv[5] and c.load_verify_locations(sys.argv[5]);"
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
    creds = setup.creds
    client_ca = str(setup.client_ca) if setup.mode == "mtls" and setup.client_ca else ""
    return [
        sys.executable, "-c", script, str(creds.cert_file), str(creds.key_file), str(port),
        setup.version, client_ca,
    ]  # fmt: skip


def _java(setup: Setup, port: int) -> list[str]:
    creds = setup.creds
    argv = [
        "java", "-cp", str(JAVA_PEER_DIR), "TlsPeer", "server", str(port),
        str(creds.cert_file), str(creds.key_file), setup.version,
    ]  # fmt: skip
    if setup.mode == "mtls" and setup.client_ca:
        argv.append(str(setup.client_ca))
    return argv


def _nss(setup: Setup, port: int) -> list[str]:
    """selfserv with a database holding the leaf and its key (from PKCS#12) and, to require
    a client certificate, the anchors it must chain to."""
    creds = setup.creds
    # one database per leaf: the same files rewritten hold another leaf, another database
    digest = hashlib.sha256(creds.cert_file.read_bytes()).hexdigest()[:12]
    db = nss_server_db(creds.cert_file.parent / f"{creds.cert_file.stem}.{digest}.nssdb", creds)
    v = "tls1.3:tls1.3" if setup.version == "1.3" else "tls1.2:tls1.2"
    # -u: session tickets, without which selfserv resumes no TLS 1.3 session
    argv = ["selfserv", "-d", f"sql:{db}", "-n", "peer", "-p", str(port), "-V", v, "-u"]
    if setup.mode == "mtls" and setup.client_ca:
        nss_trust(db, setup.client_ca, "T,,")
        argv += ["-r", "-r"]
    if setup.mode == "early-data":
        argv.append("-Z")
    return argv


def nss_server_db(db: Path, creds: Credentials) -> Path:
    """An NSS database (no password) holding the leaf and its key as "peer"."""
    if (db / "cert9.db").exists():
        return db
    from cryptography.hazmat.primitives.serialization import pkcs12

    new_nss_db(db)
    key = serialization.load_pem_private_key(creds.key_file.read_bytes(), None)
    assert isinstance(
        key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    )
    leaf = x509.load_pem_x509_certificate(creds.cert_file.read_bytes())
    bundle = pkcs12.serialize_key_and_certificates(
        b"peer", key, leaf, None, serialization.NoEncryption()
    )
    p12 = db / "peer.p12"
    p12.write_bytes(bundle)
    subprocess.run(["pk12util", "-i", str(p12), "-d", f"sql:{db}", "-W", ""], capture_output=True)
    return db


_TLSLITE_SERVER = """
import os, socket, sys
from tlslite.api import HandshakeSettings, SessionCache, TLSConnection, X509CertChain, parsePEMKey
cache = SessionCache()
chain = X509CertChain(); chain.parsePemList(open(sys.argv[1]).read())
key = parsePEMKey(open(sys.argv[2]).read(), private=True)
settings = HandshakeSettings()
settings.minVersion = settings.maxVersion = (3, 4) if sys.argv[4] == "1.3" else (3, 3)
settings.ticketKeys = [os.urandom(32)]  # TLS 1.3 tickets: none without a key
settings.max_early_data = 16384  # read past 0-RTT data it does not take
require = sys.argv[5] == "mtls"
s = socket.create_server(("127.0.0.1", int(sys.argv[3])))
while True:
    raw, _ = s.accept()
    try:
        tls = TLSConnection(raw)
        tls.handshakeServer(
            certChain=chain, privateKey=key, settings=settings, sessionCache=cache,
            reqCert=require,
        )
        if require and not tls.session.clientCertChain:
            raise ValueError("no client certificate")
        tls.write(tls.read(max=4096)); tls.close()
    except Exception:
        raw.close()
"""


def _tlslite(setup: Setup, port: int) -> list[str]:
    creds = setup.creds
    return [
        sys.executable, "-c", _TLSLITE_SERVER, str(creds.cert_file), str(creds.key_file),
        str(port), setup.version, setup.mode,
    ]  # fmt: skip


_PYOPENSSL_SERVER = """
import socket, sys
from OpenSSL import SSL
ctx = SSL.Context(SSL.TLS_METHOD)
v = SSL.TLS1_3_VERSION if sys.argv[4] == "1.3" else SSL.TLS1_2_VERSION
ctx.set_min_proto_version(v); ctx.set_max_proto_version(v)
ctx.use_certificate_chain_file(sys.argv[1]); ctx.use_privatekey_file(sys.argv[2])
if sys.argv[5] == "mtls":
    ctx.load_verify_locations(sys.argv[6])
    ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT)
if sys.argv[5] == "ocsp":
    staple = open(sys.argv[6], "rb").read()
    ctx.set_ocsp_server_callback(lambda conn, data: staple)
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


def _pyopenssl(setup: Setup, port: int) -> list[str]:
    creds = setup.creds
    extra = ""
    if setup.mode == "mtls" and setup.client_ca:
        extra = str(setup.client_ca)
    elif setup.mode == "ocsp":
        extra = str(creds.ocsp_file)
    return [
        sys.executable, "-c", _PYOPENSSL_SERVER, str(creds.cert_file), str(creds.key_file),
        str(port), setup.version, setup.mode, extra,
    ]  # fmt: skip


NO_EARLY_DATA_API = "its server API has no 0-RTT (no SSL_read_early_data)"
NO_STAPLE_FILE = "its server cannot be handed an OCSP response to staple"
NO_ED448_CLIENT = "the engine has no Ed448 (RFC 8032): it neither offers nor verifies 0x0808"

SERVER_PEERS: tuple[ServerPeer, ...] = (
    ServerPeer("openssl", "openssl", ("1.3", "1.2"), _openssl),
    ServerPeer("gnutls", "gnutls-serv", ("1.3", "1.2"), _gnutls),
    ServerPeer(
        "botan", "botan", ("1.2",), _botan,
        lacks={
            "mtls": "`botan tls_server` can require a client certificate (policy "
            "require_client_certificate_authentication) but checks it against the system's "
            "trust store only: it cannot be given the lab's roots",
            "ocsp": "`botan tls_server` has no option to staple a response",
        },
    ),
    ServerPeer(
        "go", "tlssim-go-peer", ("1.3", "1.2"), _go,
        lacks={"early-data": "crypto/tls has no 0-RTT (Go 1.19 neither sends nor takes it)"},
    ),
    ServerPeer(
        "python-ssl", sys.executable, ("1.3", "1.2"), _python_ssl,
        lacks={
            "early-data": f"Python's ssl: {NO_EARLY_DATA_API}",
            "ocsp": "Python's ssl has no OCSP stapling on the server side",
        },
    ),
    ServerPeer(
        "pyopenssl", "python:OpenSSL", ("1.3", "1.2"), _pyopenssl,
        lacks={"early-data": f"pyOpenSSL: {NO_EARLY_DATA_API}"},
    ),
    ServerPeer(
        "nss", "selfserv", ("1.3", "1.2"), _nss, echoes=False,
        # selfserv refuses all 0-RTT in its anti-replay context's first window (10 s), as
        # a restarted server must (it cannot know which early data it took before)
        warm_up_s={"early-data": 11.0},
        lacks={
            "ed25519": "NSS 3.87 has no Ed25519 in TLS: selfserv does not start with such a key",
            "ocsp": f"selfserv: {NO_STAPLE_FILE}; the answers it signs itself (-T good -A "
            "CA) were not stapled with an ECDSA leaf (NSS 3.87, TLS 1.3 and 1.2)",
        },
    ),
    ServerPeer(
        "java", "java", ("1.3", "1.2"), _java,
        lacks={
            "early-data": "JSSE has no 0-RTT",
            "ocsp": "JSSE fetches its staples itself from the OCSP URL in its certificate; "
            f"{NO_STAPLE_FILE}",
        },
    ),
    ServerPeer(
        "tlslite", "python:tlslite", ("1.3", "1.2"), _tlslite,
        lacks={"ocsp": "tlslite-ng's server has no OCSP stapling"},
    ),
)  # fmt: skip


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


#: The tables of the server role, in order: (key, heading).
TABLES = (
    ("handshakes", "key types, groups, sessions and extensions"),
    ("signatures", "signature schemes (our client offers only the one named)"),
)


@dataclass(frozen=True, slots=True)
class Feature:
    """One column of the server role: what our client asks of the peer's server."""

    name: str
    key_type: str
    args: tuple[str, ...] = ()
    #: how the cell reads the report: "handshake", "resumption", "signature", "early-data",
    #: "mtls", "key-update", "ocsp"
    kind: str = "handshake"
    #: the server's mode (see `Setup.mode`)
    mode: str = ""
    versions: tuple[str, ...] = ("1.3", "1.2")
    table: str = "handshakes"
    #: why our own client cannot ask for it ("" when it can)
    our_client_lacks: str = ""


def _signature(scheme: str, key_type: str, versions: tuple[str, ...]) -> Feature:
    return Feature(
        scheme, key_type, ("--sigalg", scheme), "signature", versions=versions, table="signatures"
    )


FEATURES: tuple[Feature, ...] = (
    Feature("ECDSA", "ecdsa-p256"),
    Feature("RSA", "rsa2048"),
    Feature("resumption", "ecdsa-p256", ("--resume",), "resumption"),
    Feature("P-256", "ecdsa-p256", ("--group", "secp256r1")),
    Feature("X25519MLKEM768", "ecdsa-p256", ("--group", "X25519MLKEM768")),
    Feature(
        "0-RTT", "ecdsa-p256", ("--resume", "--early-data", "early"), "early-data",
        "early-data", ("1.3",),
    ),
    Feature("mTLS", "ecdsa-p256", ("--client-cert", "auto"), "mtls", "mtls"),
    Feature("KeyUpdate", "ecdsa-p256", ("--key-update",), "key-update", versions=("1.3",)),
    Feature("OCSP staple", "ecdsa-p256", (), "ocsp", "ocsp"),
    _signature("rsa_pss_rsae_sha256", "rsa2048", ("1.3",)),
    _signature("rsa_pss_rsae_sha384", "rsa2048", ("1.3",)),
    _signature("rsa_pss_rsae_sha512", "rsa2048", ("1.3",)),
    _signature("rsa_pkcs1_sha256", "rsa2048", ("1.2",)),
    _signature("ecdsa_secp256r1_sha256", "ecdsa-p256", ("1.3", "1.2")),
    _signature("ecdsa_secp384r1_sha384", "ecdsa-p384", ("1.3",)),
    _signature("ecdsa_secp521r1_sha512", "ecdsa-p521", ("1.3",)),
    _signature("ed25519", "ed25519", ("1.3",)),
    Feature(
        "ed448", "ed448", ("--sigalg", "ed448"), "signature", versions=("1.3",),
        table="signatures", our_client_lacks=NO_ED448_CLIENT,
    ),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ServerCell:
    peer: str
    feature: str
    version: str
    ok: bool
    detail: str  # "TLSv1.3 TLS_AES_128_GCM_SHA256 x25519", what was seen, or the failure
    #: why the peer (or our client) cannot do it: the cell was not run
    unsupported: str = ""
    unsupported_by: str = "this peer"  # or "our client"

    @property
    def text(self) -> str:
        if self.unsupported:
            return f"not supported by {self.unsupported_by}: {self.unsupported}"
        return self.detail if self.ok else f"failed: {self.detail}"


#: Runs `tlssim handshake ARGS` (with --json): the report as a dict, or the error line.
OurClient = Callable[[Sequence[str]], "dict[str, Any] | str"]


def handshake_args(
    address: str, ca_file: Path, version: str, args: Sequence[str] = (), *, echo: bool = False
) -> list[str]:
    """`tlssim handshake --tcp` against `address`; with `echo` it sends ECHO_DATA and checks
    that it comes back, else it sends and closes (--no-echo)."""
    data = ("--data", ECHO_DATA) if echo else ("--no-echo",)
    return [
        *("--tcp", address, "--ca-file", str(ca_file), "--server-name", NAME, *data),
        *("--tls", version, *args),
    ]


def our_client(args: Sequence[str], env: dict[str, str] | None = None) -> dict[str, Any] | str:
    """`tlssim handshake --json ARGS` as a process: its report, or the error it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "tlssim", "handshake", "--json", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    try:
        report: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        return normalise(done.stderr.strip().splitlines()[-1] if done.stderr else "")
    return report


def _failure(report: dict[str, Any]) -> str:
    alert = report.get("alert") or {}
    why = alert.get("description") or report.get("error") or "failed"
    return normalise(f"{why} ({alert.get('sent_by', '')})" if alert else str(why))


def _steps(report: dict[str, Any], name: str, direction: str) -> list[dict[str, Any]]:
    return [
        s.get("fields", {})
        for s in report.get("steps", ())
        if s.get("name") == name and s.get("direction") == direction
    ]


def read_cell(
    feature: Feature, version: str, report: dict[str, Any] | str, echo: bool = False
) -> tuple[bool, str]:
    """(ok, what the cell says) from our client's report for `feature` (`echo`: the data
    was to come back, and did if the report is ok)."""
    if isinstance(report, str):
        return False, report
    if feature.kind == "resumption" and report.get("ok"):
        if not report.get("resumed"):
            return True, "full handshake again"
        return True, "resumed by ticket" if version == "1.3" else "resumed by session id"
    if feature.kind == "early-data" and report.get("ok"):
        early = report.get("early_data") or {}
        if not report.get("resumed"):
            return True, "not resumed: no 0-RTT"
        if early.get("accepted"):
            return True, "0-RTT accepted"
        if not early.get("sent"):
            return True, "0-RTT not sent: the ticket allows no early data"
        return True, "0-RTT rejected (sent again after the handshake)"
    if not report.get("ok"):
        return False, _failure(report)
    if feature.kind == "signature":
        scheme = report.get("signature_scheme")
        if scheme != feature.name:
            return False, f"signed with {scheme}, not {feature.name}"
        return True, f"signed with {scheme}"
    if feature.kind == "mtls":
        sent = _steps(report, "Certificate", "sent")
        if not _steps(report, "CertificateRequest", "received"):
            return False, "the server asked for no certificate"
        count = sent[0].get("certificates", 0) if sent else 0
        if not count:
            return False, "our client sent no certificate"
        proof = "echo after it" if echo else "the peer echoes nothing to read a refusal by"
        return True, f"lab client certificate accepted ({count} certificates sent; {proof})"
    if feature.kind == "key-update":
        if not echo:
            # what came back, if anything, races our close: only the sending is certain
            return True, "KeyUpdate sent, no alert (the peer echoes nothing)"
        if not _steps(report, "KeyUpdate", "received"):
            return False, "echo without a KeyUpdate of its own"
        return True, "answered with its own KeyUpdate; echo under the new keys"
    if feature.kind == "ocsp":
        revocation = report.get("revocation") or {}
        if revocation.get("source") != "staple":
            return False, "no staple seen"
        return True, f"staple seen: {revocation.get('status')}, accepted"
    return True, f"{report['version']} {report['cipher_suite']} {report['key_exchange']}"


def _servers_for(peer: ServerPeer, version: str) -> dict[tuple[str, str], list[Feature]]:
    """The features to run against one version of `peer`, by server (key type, mode)."""
    wanted: dict[tuple[str, str], list[Feature]] = {}
    for feature in FEATURES:
        runs = version in feature.versions and not feature.our_client_lacks
        if runs and not peer.lacking(feature):
            wanted.setdefault((feature.key_type, feature.mode), []).append(feature)
    return wanted


def run_server_matrix(
    peers: Sequence[ServerPeer],
    directory: Path,
    *,
    progress: Callable[[int, int, str], None] | None = None,
    lab_anchors: Path,
    client: OurClient = our_client,
    workers: int = 3,
) -> list[ServerCell]:
    """Each peer's server once per version, key type and mode; our client asks each feature
    of it. `lab_anchors` (PEM) is what a server requiring a client certificate trusts: the
    lab's roots, which issued the client service's certificate. `client` runs our client
    (by default as a process). Peers run side by side."""
    root = throwaway.make_ca("tlssim interop root")
    creds = {k: make_credentials(directory, k, root) for k in KEY_TYPES}
    total = sum(
        1 for peer in peers for version in peer.versions for f in FEATURES
        if version in f.versions
    )  # fmt: skip
    done: list[ServerCell] = []
    lock = threading.Lock()

    def add(cell: ServerCell) -> None:
        with lock:
            done.append(cell)
            if progress is not None:
                what = f"our client -> {cell.peer} {cell.feature} TLS {cell.version}"
                progress(len(done), total, what)

    def one_peer(peer: ServerPeer) -> None:
        for version in peer.versions:
            for feature in FEATURES:
                if version not in feature.versions:
                    continue
                if feature.our_client_lacks:
                    reason, by = feature.our_client_lacks, "our client"
                else:
                    reason, by = peer.lacking(feature), "this peer"
                if reason:
                    add(ServerCell(peer.name, feature.name, version, True, "", reason, by))
            for (key_type, mode), features in _servers_for(peer, version).items():
                port = free_port()
                setup = Setup(creds[key_type], version, mode, lab_anchors)
                with serving(peer.argv(setup, port), port):
                    time.sleep(peer.warm_up_s.get(mode, 0.0))
                    for feature in features:
                        echo = peer.echoes and feature.kind in ("mtls", "key-update")
                        report = client(
                            handshake_args(
                                f"127.0.0.1:{port}", creds[key_type].ca_file, version,
                                feature.args, echo=echo,
                            )
                        )  # fmt: skip
                        ok, detail = read_cell(feature, version, report, echo)
                        add(ServerCell(peer.name, feature.name, version, ok, detail))

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(one_peer, p) for p in peers]:
            future.result()
    order = {(p.name, v): i for i, p in enumerate(peers) for v in p.versions}
    columns = {f.name: i for i, f in enumerate(FEATURES)}
    return sorted(done, key=lambda c: (order[(c.peer, c.version)], columns[c.feature]))


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
    """A table per group of features: a row per peer and version, a column per feature."""
    by_key = {(c.peer, c.version, c.feature): c for c in cells}
    rows = list(dict.fromkeys((c.peer, c.version) for c in cells))
    lines: list[str] = []
    for table, heading in TABLES:
        columns = [f for f in FEATURES if f.table == table]
        lines += [
            f"### Server role, {heading}: `tlssim handshake --tcp` against each peer's server",
            "",
            "| peer | TLS | " + " | ".join(f.name for f in columns) + " |",
            "|---|---|" + "---|" * len(columns),
        ]
        for peer, version in rows:
            out = []
            for feature in columns:
                cell = by_key.get((peer, version, feature.name))
                if cell is None:
                    out.append("")
                else:
                    text = cell.text.replace("|", "\\|")
                    out.append(text if cell.ok else f"**{text}**")
            lines.append(f"| {peer} | {version} | " + " | ".join(out) + " |")
        lines.append("")
    return "\n".join(lines)


def parse_markdown(text: str) -> dict[tuple[str, str, str], str]:
    """The server-role cells of a committed matrix: (peer, feature, version) -> outcome."""
    cells: dict[tuple[str, str, str], str] = {}
    inside = False
    columns: list[str] = []
    for line in text.splitlines():
        if line.startswith("### "):
            inside = line.startswith("### Server role")
            columns = []
        elif inside and line.startswith("| peer | TLS |"):
            columns = [c.strip() for c in line.strip().strip("|").split("|")][2:]
        elif inside and columns and line.startswith("| ") and not line.startswith("|---"):
            peer, version, *values = (p.strip() for p in line.strip().strip("|").split(" | "))
            for feature, value in zip(columns, values, strict=False):
                if value:
                    cells[(peer, feature, version)] = value.strip("*").replace("\\|", "|")
    return cells
