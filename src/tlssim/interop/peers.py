"""Other TLS stacks' clients, driven against a TLS server: one `ClientPeer` per stack.

Each peer turns a `Target` (address, name, trust anchors, version, whether to use its
revocation options) into what it saw: connected or refused, and the error it printed. The
programs are the ones people type (`openssl s_client`, `gnutls-cli`, `tstclnt`, `curl`...);
a peer whose program is missing says so and is skipped.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tlssim.tls.constants import AlertDescription

TIMEOUT_S = 8.0
#: Where set-up builds the Go peer and the Java peer (scripts/bootstrap.sh), in the venv.
GO_PEER = Path(sys.executable).parent / "tlssim-go-peer"
JAVA_PEER_DIR = Path(sys.executable).parent.parent / "java"
#: A JVM starts slowly on a busy machine.
JAVA_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class Target:
    address: str  # HOST:PORT to connect to
    server_name: str  # SNI, and the name to verify
    ca_file: Path
    version: str  # "1.3" or "1.2"
    revocation: bool = False  # use the peer's revocation options
    #: Where a peer needs names to resolve (it cannot be handed an address): name -> IP.
    hosts: tuple[str, ...] = ()

    @property
    def host(self) -> str:
        return self.address.rsplit(":", 1)[0]

    @property
    def port(self) -> str:
        return self.address.rsplit(":", 1)[1]


@dataclass(frozen=True, slots=True)
class Outcome:
    connected: bool
    detail: str = ""  # the alert or error the peer reported, normalised
    #: What the peer said of the certificate's status: "good", "revoked", "" (nothing).
    status: str = ""


@dataclass(frozen=True, slots=True)
class ClientPeer:
    name: str
    program: str  # the command that must exist, or "" for an in-process library
    describe: str  # one line: which stack and how it is driven
    versions: tuple[str, ...]
    #: what "its revocation options" are, or "" when it has none
    revocation_options: str
    run: Callable[[Target], Outcome] = field(repr=False)
    version_of: Callable[[], str] = field(repr=False)
    #: key exchange / signature families it can use: "mlkem", "mldsa"
    capabilities: frozenset[str] = frozenset()

    def available(self) -> bool:
        if self.program == "tlssim-go-peer":
            return GO_PEER.exists()
        if self.program == "java":
            return java_peer_built()
        if self.program:
            return shutil.which(self.program) is not None
        return True


# -- helpers -------------------------------------------------------------------------------

#: Seconds a peer program's clock runs ahead (libfaketime), within `clock_ahead`.
_CLOCK_AHEAD_S: contextvars.ContextVar[int] = contextvars.ContextVar("clock_ahead_s", default=0)
#: The programs libfaketime cannot move: Go reads the clock without libc, and the
#: in-process peers share this process's clock.
_CLOCK_FIXED = {"tlssim-go-peer", ""}


@contextlib.contextmanager
def clock_ahead(seconds: int) -> Iterator[None]:
    """Peer programs run within this block see a clock `seconds` ahead (faketime)."""
    token = _CLOCK_AHEAD_S.set(seconds)
    try:
        yield
    finally:
        _CLOCK_AHEAD_S.reset(token)


def can_move_clock(peer: ClientPeer) -> bool:
    """Whether `clock_ahead` reaches the peer: a program linked with libc, and faketime."""
    return peer.program not in _CLOCK_FIXED and shutil.which("faketime") is not None


def _run(
    argv: Sequence[str],
    *,
    stdin: str = "",
    env: dict[str, str] | None = None,
    timeout: float = TIMEOUT_S,
) -> tuple[int, str]:
    """(exit code, stdout and stderr); -1 when the program ran past `timeout`."""
    if ahead := _CLOCK_AHEAD_S.get():
        # a JVM waits on the monotonic clock: only the wall clock moves
        argv = ["env", "FAKETIME_DONT_FAKE_MONOTONIC=1", "faketime", "-f", f"+{ahead}s", *argv]
    try:
        done = subprocess.run(
            list(argv),
            input=stdin,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
            env=env,
        )
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"") + (exc.stderr or b"")
        text = out.decode(errors="replace") if isinstance(out, bytes) else str(out)
        return -1, text + "\n(timed out)"
    return done.returncode, done.stdout + done.stderr


def _exit(code: int) -> str:
    return "timed out" if code == -1 else f"exit {code}"


def _first_line(text: str, *patterns: str) -> str:
    for pattern in patterns:
        match = re.search(pattern, text, re.MULTILINE)
        if match:
            return match.group(1).strip()
    return ""


_VOLATILE = [
    (re.compile(r"\d{4}-\d\d-\d\dT[\d:]+Z"), "TIME"),
    (re.compile(r"current time TIME is (after|before) TIME"), r"current time is \1 the validity"),
    (re.compile(r"127\.0\.0\.1:\d+"), "HOST:PORT"),
    (re.compile(r"\w{3} \w{3} \d\d \d\d:\d\d:\d\d UTC \d{4}"), "DATE"),
    (re.compile(r"\b[0-9A-F]{12,}:error:"), "error:"),
    (re.compile(r":[\w./-]+\.c:\d+:"), ":"),
    # a message's size in bytes: a random serial or signature moves it by a few
    (re.compile(r"\b\d{6,}\b"), "N"),
]


def normalise(detail: str) -> str:
    """An error line without the times, ports and source locations that change per run."""
    for pattern, repl in _VOLATILE:
        detail = pattern.sub(repl, detail)
    return " ".join(detail.split())[:160]


def alert_name(number: int) -> str:
    try:
        return AlertDescription(number).name
    except ValueError:
        return f"alert {number}"


@contextlib.contextmanager
def _hosts_file(target: Target) -> Iterator[list[str]]:
    """A command prefix that runs a program seeing `target.hosts` in /etc/hosts (a private
    mount namespace; needs root), for peers that take a name and resolve it themselves."""
    with tempfile.NamedTemporaryFile("w", suffix=".hosts", delete=False) as f:
        f.write("127.0.0.1 localhost\n")
        for name in (*target.hosts, target.server_name):
            f.write(f"{target.host} {name}\n")
        path = f.name
    try:
        script = f'mount --bind {path} /etc/hosts && exec "$@"'
        yield ["unshare", "-m", "sh", "-c", script, "sh"]
    finally:
        os.unlink(path)


def can_map_names() -> bool:
    """Whether `_hosts_file` works here: root and util-linux's unshare."""
    return os.geteuid() == 0 and shutil.which("unshare") is not None


# -- OpenSSL 3.0: openssl s_client ---------------------------------------------------------


def _openssl(target: Target) -> Outcome:
    argv = [
        "openssl", "s_client", "-connect", target.address, "-servername", target.server_name,
        "-CAfile", str(target.ca_file), "-verify_return_error", "-verify_hostname",
        target.server_name, "-tls1_3" if target.version == "1.3" else "-tls1_2",
    ]  # fmt: skip
    if target.revocation:
        argv.append("-status")
    code, out = _run(argv)
    status = _first_line(out, r"Cert Status: (\w+)")
    ok = code == 0 and "Verify return code: 0 (ok)" in out
    if ok:
        return Outcome(True, status=status)
    verify = _first_line(out, r"verify error:num=\d+:(.*)$")
    alert = _first_line(out, r"SSL alert number (\d+)")
    detail = (
        verify
        or (alert_name(int(alert)) if alert else "")
        or _first_line(out, r"error:[^:]*:[^:]*:[^:]*:(.*)$")
    )
    return Outcome(False, normalise(detail), status)


def _openssl_version() -> str:
    return _run(["openssl", "version"])[1].split("(")[0].strip()


# -- GnuTLS: gnutls-cli --------------------------------------------------------------------


def _gnutls(target: Target) -> Outcome:
    version = "+VERS-TLS1.3" if target.version == "1.3" else "+VERS-TLS1.2"
    argv = [
        "gnutls-cli", "--x509cafile", str(target.ca_file), "--port", target.port,
        "--sni-hostname", target.server_name, "--verify-hostname", target.server_name,
        "--priority", f"NORMAL:-VERS-ALL:{version}", target.host,
    ]  # fmt: skip
    if target.revocation:
        argv.append("--ocsp")
    _code, out = _run(argv)
    status = "revoked" if "is revoked" in out or "chain is revoked" in out else ""
    if "Handshake was completed" in out and "Fatal error" not in out:
        return Outcome(True, status=status)
    detail = _first_line(out, r"- Status: The certificate is NOT trusted\. (.*)$") or _first_line(
        out, r"\*\*\* Fatal error: (.*)$", r"\*\*\* (.*)$"
    )
    return Outcome(False, normalise(detail), status)


def _gnutls_version() -> str:
    return _run(["gnutls-cli", "--version"])[1].splitlines()[0].strip()


# -- NSS: tstclnt with a certutil database ---------------------------------------------------


def new_nss_db(db: Path) -> Path:
    """An empty NSS database (no password) in `db`."""
    db.mkdir(parents=True, exist_ok=True)
    _run(["certutil", "-N", "-d", f"sql:{db}", "--empty-password"])
    return db


def nss_trust(db: Path, bundle: Path, trust: str = "C,,") -> int:
    """Imports each certificate of the PEM `bundle` that NSS can read (no ML-DSA) into `db`
    with `trust` ("C,,": server certificates' CA; "T,,": client certificates'); how many."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    classical = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
    certs = x509.load_pem_x509_certificates(bundle.read_bytes())
    usable = [c for c in certs if isinstance(c.public_key(), classical)]
    for i, cert in enumerate(usable):
        one = db / f"anchor{i}.pem"
        one.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _run(["certutil", "-A", "-n", f"anchor{i}", "-t", trust, "-i", str(one), "-d", f"sql:{db}"])
    return len(usable)


def _nss_db(ca_file: Path) -> Path:
    """An NSS database beside the bundle that trusts every certificate in it."""
    db = ca_file.parent / f"{ca_file.stem}.nssdb"
    if not (db / "cert9.db").exists():
        nss_trust(new_nss_db(db), ca_file)
    return db


_NSS_F_EXIT = {
    1: "certificate failed to verify",
    2: "no fresh revocation status",
    3: "certificate revoked",
}


def _nss(target: Target) -> Outcome:
    version = "tls1.3:tls1.3" if target.version == "1.3" else "tls1.2:tls1.2"
    argv = [
        "tstclnt", "-h", target.host, "-p", target.port, "-a", target.server_name,
        "-d", f"sql:{_nss_db(target.ca_file)}", "-V", version, "-Q",
    ]  # fmt: skip
    if target.revocation:
        argv += ["-T", "-O", "-F"]
    code, out = _run(argv)
    if target.revocation:
        # -F: 0 good, 1 failed before revocation, 2 no fresh status, 3 revoked
        status = {0: "good", 2: "missing", 3: "revoked"}.get(code, "")
        if code == 0:
            return Outcome(True, status=status)
        detail = _NSS_F_EXIT.get(code) or _first_line(out, r"tstclnt: (?:[^:]*: )?(\S+)")
        return Outcome(False, normalise(detail or _exit(code)), status)
    if code == 0:
        return Outcome(True)
    detail = _first_line(
        out, r"authentication of server cert failed: (\S+)", r"tstclnt: (?:[^:]*: )?(\S+)"
    )
    return Outcome(False, normalise(detail))


def _nss_version() -> str:
    out = _run(["dpkg-query", "-W", "-f", "${Version}", "libnss3"])[1]
    # the Debian version without its epoch ("2:3.87.1-1" -> 3.87.1)
    return f"NSS {out.split('-')[0].split(':')[-1].strip()}" if out.strip() else "NSS"


# -- Botan 2: botan tls_client (TLS 1.2) --------------------------------------------------------


def _botan(target: Target) -> Outcome:
    with _hosts_file(target) as prefix:
        code, out = _run(
            [
                *prefix,
                "botan",
                "tls_client",
                target.server_name,
                f"--port={target.port}",
                f"--trusted-cas={target.ca_file}",
                "--skip-system-cert-store",
            ]
        )
    if "Handshake complete" in out:
        # tls_client prints the validation result and goes on whatever it says
        verdict = _first_line(out, r"Certificate validation status: (.*)$")
        said = "" if verdict in ("", "Verified") else f"goes on after: {verdict}"
        return Outcome(True, normalise(said))
    detail = _first_line(out, r"Error: (.*)$", r"Alert: (.*)$", r"(.*error.*)$")
    return Outcome(False, normalise(detail or _exit(code)))


def _botan_version() -> str:
    return "Botan " + _run(["botan", "version"])[1].strip()


# -- Go crypto/tls: the peer program kept in this package --------------------------------------


def _go(target: Target) -> Outcome:
    code, out = _run(
        [
            str(GO_PEER),
            "client",
            "-connect",
            target.address,
            "-servername",
            target.server_name,
            "-cafile",
            str(target.ca_file),
            "-version",
            target.version,
        ]
    )
    if code == 0 and out.startswith("connected"):
        return Outcome(True)
    return Outcome(False, normalise(_first_line(out, r"error: (?:remote error: tls: )?(.*)$")))


def _go_version() -> str:
    return _run(["go", "version"])[1].split(" ")[2] if shutil.which("go") else "go"


# -- Java's JSSE: the peer program kept in this package ------------------------------------------


def java_peer_built() -> bool:
    return shutil.which("java") is not None and (JAVA_PEER_DIR / "TlsPeer.class").exists()


def _java(target: Target) -> Outcome:
    argv = [
        "java", "-cp", str(JAVA_PEER_DIR), "TlsPeer", "client", target.address,
        target.server_name, str(target.ca_file), target.version,
    ]  # fmt: skip
    if target.revocation:
        argv.append("revocation")
    code, out = _run(argv, timeout=JAVA_TIMEOUT_S)
    if code == 0 and out.startswith("connected"):
        return Outcome(True)
    detail = _first_line(out, r"error: (?:Received fatal alert: )?(.*)$") or _exit(code)
    status = "revoked" if "has been revoked" in detail else ""
    if status:
        detail = "certificate has been revoked"
    return Outcome(False, normalise(detail), status)


def _java_version() -> str:
    out = _run(["java", "-version"])[1]
    found = re.search(r'version "([^"]+)"', out)
    return f"Java {found.group(1)} (JSSE)" if found else "Java"


# -- curl and wget: the HTTP clients people type ----------------------------------------------

#: curl's exit codes that mean the TLS connection itself failed (after that, the lab's echo
#: server is no HTTP server, which curl reports with other codes).
_CURL_TLS_FAILURES = {35, 51, 53, 54, 58, 59, 60, 77, 80, 83, 90, 91}


def _curl(target: Target) -> Outcome:
    v = target.version
    argv = [
        "curl", "-sS", "--max-time", "5", "--cacert", str(target.ca_file), "--resolve",
        f"{target.server_name}:{target.port}:{target.host}", f"--tlsv{v}", "--tls-max", v,
        "-o", "/dev/null", f"https://{target.server_name}:{target.port}/",
    ]  # fmt: skip
    if target.revocation:
        argv.insert(1, "--cert-status")
    code, out = _run(argv)
    if code not in _CURL_TLS_FAILURES and code != -1:
        return Outcome(True)
    return Outcome(False, normalise(_first_line(out, r"curl: \(\d+\) (.*)$") or _exit(code)))


def _curl_version() -> str:
    return " ".join(_run(["curl", "--version"])[1].split()[:2])


def _wget(target: Target) -> Outcome:
    protocol = "TLSv1_3" if target.version == "1.3" else "TLSv1_2"
    with _hosts_file(target) as prefix:
        code, out = _run(
            [
                *prefix,
                "wget",
                "--tries=1",
                "--timeout=3",
                "--read-timeout=1",
                f"--secure-protocol={protocol}",
                f"--ca-certificate={target.ca_file}",
                "-O",
                "/dev/null",
                f"https://{target.server_name}:{target.port}/",
            ]
        )
    if "Unable to establish SSL connection" in out or code == 5:
        detail = (
            _first_line(out, r"^(The certificate.*)$", r"ERROR: (.*)$", r"GnuTLS: (.*)$")
            or "no TLS connection"
        )
        return Outcome(False, normalise(detail))
    # wget's GnuTLS uses False Start: a refusal can arrive only when the request is written
    failed = _first_line(out, r"Failed writing HTTP request: (.*)$")
    if failed:
        return Outcome(False, normalise(f"after the handshake: {failed}"))
    return Outcome(True)


def _wget_version() -> str:
    return " ".join(_run(["wget", "--version"])[1].split()[:3])


# -- in-process libraries: Python's ssl, pyOpenSSL (OpenSSL 4), tlslite-ng ---------------------


def _connect(target: Target) -> socket.socket:
    return socket.create_connection((target.host, int(target.port)), timeout=TIMEOUT_S)


def _python_ssl(target: Target) -> Outcome:
    ctx = ssl.create_default_context(cafile=str(target.ca_file))
    version = ssl.TLSVersion.TLSv1_3 if target.version == "1.3" else ssl.TLSVersion.TLSv1_2
    ctx.minimum_version = ctx.maximum_version = version
    try:
        with (
            _connect(target) as raw,
            ctx.wrap_socket(raw, server_hostname=target.server_name) as tls,
        ):
            return _after_handshake(tls)
    except ssl.SSLCertVerificationError as exc:
        return Outcome(False, normalise(str(exc.verify_message)))
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None)
        return Outcome(False, normalise(str(reason or exc)))


def _after_handshake(tls: ssl.SSLSocket) -> Outcome:
    """Connected, unless the server refuses right after the handshake (a TLS 1.3 server
    reads the client's Certificate only then): a short read tells."""
    tls.settimeout(0.3)
    try:
        tls.sendall(b"ping\n")
        tls.recv(64)
    except ssl.SSLError as exc:
        return Outcome(False, normalise(f"after the handshake: {exc.reason or exc}"))
    except OSError:
        pass  # nothing more came (the lab echoes; other servers may wait)
    return Outcome(True)


def _python_ssl_version() -> str:
    return f"Python {sys.version.split()[0]} ssl ({ssl.OPENSSL_VERSION})"


def _pyopenssl(target: Target) -> Outcome:
    from cryptography import x509
    from cryptography.x509 import ocsp
    from OpenSSL import SSL
    from OpenSSL._util import ffi
    from OpenSSL._util import lib as openssl_lib

    ctx = SSL.Context(SSL.TLS_METHOD)
    version = SSL.TLS1_3_VERSION if target.version == "1.3" else SSL.TLS1_2_VERSION
    ctx.set_min_proto_version(version)
    ctx.set_max_proto_version(version)
    ctx.load_verify_locations(str(target.ca_file))
    seen: dict[str, str] = {}

    def note_verify_error(_c: SSL.Connection, _x: object, errno: int, _d: int, ok: int) -> bool:
        if not ok and "verify" not in seen:
            seen["verify"] = ffi.string(openssl_lib.X509_verify_cert_error_string(errno)).decode()
        return bool(ok)

    ctx.set_verify(SSL.VERIFY_PEER, note_verify_error)

    def check_staple(conn: SSL.Connection, staple: bytes, _data: object) -> bool:
        # the revocation option: a stapled, good OCSP answer for the leaf is required
        if not staple:
            seen["status"] = "missing"
            return False
        leaf = conn.get_peer_certificate(as_cryptography=True)
        answer = ocsp.load_der_ocsp_response(staple)
        if answer.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            seen["status"] = "unsuccessful"
            return False
        seen["status"] = answer.certificate_status.name.lower()
        return (
            isinstance(leaf, x509.Certificate)
            and answer.serial_number == leaf.serial_number
            and answer.certificate_status == ocsp.OCSPCertStatus.GOOD
        )

    if target.revocation:
        ctx.set_ocsp_client_callback(check_staple)
    try:
        with _connect(target) as raw:
            # pyOpenSSL wants a blocking socket; a kernel timeout still bounds each read
            raw.settimeout(None)
            limit = struct.pack("ll", int(TIMEOUT_S), 0)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, limit)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, limit)
            conn = SSL.Connection(ctx, raw)
            conn.set_tlsext_host_name(target.server_name.encode())
            if target.revocation:
                conn.request_ocsp()
            param = openssl_lib.SSL_get0_param(conn._ssl)
            name = target.server_name.encode()
            openssl_lib.X509_VERIFY_PARAM_set1_host(param, name, len(name))
            conn.set_connect_state()
            conn.do_handshake()
            # a TLS 1.3 server judges the client's Certificate after the handshake
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 300_000))
            conn.sendall(b"ping\n")
            with contextlib.suppress(SSL.WantReadError, SSL.ZeroReturnError):
                conn.recv(64)
            return Outcome(True, status=seen.get("status", ""))
    except SSL.WantReadError:
        return Outcome(False, "timed out")
    except SSL.Error as exc:
        status = seen.get("status", "")
        # an SSL.Error carries OpenSSL's error queue; a SysCallError (errno, text)
        queue = exc.args[0] if exc.args and isinstance(exc.args[0], list) else None
        reason = str(queue[-1][-1]) if queue else str(exc)
        if "verify" in seen:
            reason = seen["verify"]
        elif status and "ocsp" in reason.lower():
            reason = f"staple {status}"
        alert = re.search(r"tlsv1 alert ([\w ]+)|sslv3 alert ([\w ]+)", reason)
        if alert:
            reason = (alert.group(1) or alert.group(2)).strip().replace(" ", "_")
        return Outcome(False, normalise(reason), status)
    except OSError as exc:
        return Outcome(False, normalise(str(exc)))


def _pyopenssl_version() -> str:
    from OpenSSL import SSL

    return SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode().split(" (")[0]


def _pyopenssl_installed() -> bool:
    try:
        import OpenSSL  # noqa: F401
    except ImportError:
        return False
    return True


def _tlslite(target: Target) -> Outcome:
    from tlslite.api import HandshakeSettings, TLSConnection

    settings = HandshakeSettings()
    settings.minVersion = settings.maxVersion = (3, 4) if target.version == "1.3" else (3, 3)
    try:
        with _connect(target) as raw:
            conn = TLSConnection(raw)
            conn.handshakeClientCert(serverName=target.server_name, settings=settings)
            conn.close()
            return Outcome(True)
    except Exception as exc:  # tlslite raises its own classes and plain ones alike
        return Outcome(False, normalise(f"{type(exc).__name__}: {_text_of(exc)}"))


def _text_of(exc: BaseException) -> str:
    """An exception's message; some of tlslite's cannot make one (their __str__ fails)."""
    try:
        return str(exc)
    except Exception:
        return ""


def _tlslite_version() -> str:
    from tlslite import __version__

    return f"tlslite-ng {__version__}"


def _tlslite_installed() -> bool:
    try:
        import tlslite  # noqa: F401
    except ImportError:
        return False
    return True


BOTH = ("1.3", "1.2")
ED25519_DHE = frozenset({"ed25519", "dhe"})

CLIENT_PEERS: tuple[ClientPeer, ...] = (
    ClientPeer(
        "openssl", "openssl", "OpenSSL 3.0, `openssl s_client -verify_return_error`", BOTH,
        "-status (prints the staple's status; s_client refuses nothing for it)",
        _openssl, _openssl_version, ED25519_DHE,
    ),
    ClientPeer(
        "pyopenssl", "", "OpenSSL 4 through pyOpenSSL, verifying the chain and name", BOTH,
        "an OCSP callback that requires a good stapled answer",
        _pyopenssl, _pyopenssl_version, ED25519_DHE | {"mlkem", "mldsa"},
    ),
    ClientPeer(
        "gnutls", "gnutls-cli", "GnuTLS, `gnutls-cli --x509cafile`", BOTH,
        "--ocsp (asks the responder the certificate names)",
        _gnutls, _gnutls_version, ED25519_DHE,
    ),
    ClientPeer(
        "nss", "tstclnt", "NSS, `tstclnt -Q` with a certutil database", BOTH,
        "-T -O -F (request a staple, require fresh status; this path checks no host name)",
        _nss, _nss_version, frozenset({"dhe"}),
    ),
    ClientPeer(
        "botan", "botan", "Botan 2, `botan tls_client` (TLS 1.2 only)", ("1.2",), "",
        _botan, _botan_version, frozenset({"dhe"}),
    ),
    ClientPeer(
        "go", "tlssim-go-peer", "Go crypto/tls (the peer program in tlssim/interop)", BOTH, "",
        _go, _go_version, frozenset({"ed25519"}),
    ),
    ClientPeer(
        "java", "java", "Java's JSSE (the peer program in tlssim/interop)", BOTH,
        "PKIX revocation checking with stapled OCSP (checkRevocation, status_request)",
        _java, _java_version, ED25519_DHE,
    ),
    ClientPeer(
        "tlslite", "", "tlslite-ng (pure Python; no X.509 path validation)", BOTH, "",
        _tlslite, _tlslite_version, ED25519_DHE,
    ),
    ClientPeer(
        "python-ssl", "", "Python's ssl, `create_default_context(cafile=...)`", BOTH, "",
        _python_ssl, _python_ssl_version, ED25519_DHE,
    ),
    ClientPeer(
        "curl", "curl", "curl (OpenSSL inside), `curl --cacert --resolve`", BOTH,
        "--cert-status (requires a good stapled answer)", _curl, _curl_version, ED25519_DHE,
    ),
    ClientPeer(
        "wget", "wget", "wget (GnuTLS inside), `wget --ca-certificate`", BOTH, "",
        _wget, _wget_version, ED25519_DHE,
    ),
)  # fmt: skip


def installed(peer: ClientPeer) -> bool:
    """Whether the peer can run here (its program, library or name mapping is there)."""
    if peer.name == "pyopenssl":
        return _pyopenssl_installed()
    if peer.name == "tlslite":
        return _tlslite_installed()
    if peer.name in ("botan", "wget") and not can_map_names():
        return False
    return peer.available()


def by_name(names: Sequence[str]) -> list[ClientPeer]:
    known = {p.name: p for p in CLIENT_PEERS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise KeyError(f"unknown peer {', '.join(unknown)} (known: {', '.join(known)})")
    return [known[n] for n in names]
