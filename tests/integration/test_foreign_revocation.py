"""`tlssim handshake --tcp` against `openssl s_server` holding a certificate from a CA the lab
did not make, which names its own OCSP responder (`openssl ocsp`, answering with a delegated
responder certificate) and its own CRL (a small HTTP server of the test): the client asks
those, never the lab's responder, checks their answers, applies the policy, and the story
says where the status came from."""

from __future__ import annotations

import datetime as dt
import http.server
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import LocalStack
from tests.peers import ServerPeer, need
from tlssim.interop.servers import free_port
from tlssim.pki import throwaway
from tlssim.report.revocation import RevocationSource, RevocationStatus

pytestmark = pytest.mark.integration

NAME = "pointers.foreign.example.test"
NOW = dt.datetime.now(dt.UTC)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *extensions: x509.ExtensionType,
    serial: int | None = None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.subject if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=30))
    )
    if issuer is not None:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key())
        extensions = (*extensions, aki)
    for extension in extensions:
        critical = isinstance(extension, x509.BasicConstraints | x509.KeyUsage)
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class CrlServer:
    """Serves one CRL over HTTP on loopback and counts the fetches."""

    der: bytes = b""
    fetches: list[str] = field(default_factory=list)

    def serve(self) -> tuple[http.server.ThreadingHTTPServer, int]:
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.fetches.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "application/pkix-crl")
                self.send_header("Content-Length", str(len(owner.der)))
                self.end_headers()
                self.wfile.write(owner.der)

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, server.server_address[1]


@dataclass
class ForeignPki:
    folder: Path
    root: x509.Certificate
    root_key: ec.EllipticCurvePrivateKey
    leaf: x509.Certificate
    ocsp_url: str
    crl_url: str
    crl: CrlServer

    def index(self, revoked: bool) -> None:
        """The `openssl ca` database `openssl ocsp -index` answers from."""
        expiry = self.leaf.not_valid_after_utc.strftime("%y%m%d%H%M%SZ")
        serial = f"{self.leaf.serial_number:X}"
        serial = serial.zfill(len(serial) + len(serial) % 2)
        when = (NOW - dt.timedelta(hours=1)).strftime("%y%m%d%H%M%SZ")
        status, revoked_at = ("R", f"{when},keyCompromise") if revoked else ("V", "")
        line = f"{status}\t{expiry}\t{revoked_at}\t{serial}\tunknown\t/CN={NAME}\n"
        (self.folder / "index.txt").write_text(line)

    def publish_crl(self, revoked: bool) -> None:
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.root.subject)
            .last_update(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
            .next_update(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
        )
        if revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(self.leaf.serial_number)
                .revocation_date(NOW - dt.timedelta(hours=1))
                .build()
            )
        signed = builder.sign(self.root_key, hashes.SHA256())
        self.crl.der = signed.public_bytes(serialization.Encoding.DER)


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForeignPki]:
    need("openssl")
    folder = tmp_path_factory.mktemp("foreign-revocation")
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = throwaway.make_ca_with_key("Foreign Root With Its Own Responder", root_key)
    responder_key = ec.generate_private_key(ec.SECP256R1())
    responder = _cert(
        "Foreign OCSP Responder",
        responder_key,
        root,
        root_key,
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]),
    )
    crl = CrlServer()
    http_server, crl_port = crl.serve()
    ocsp_port = free_port()
    ocsp_url = f"http://127.0.0.1:{ocsp_port}/"
    crl_url = f"http://127.0.0.1:{crl_port}/foreign.crl"
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _cert(
        NAME,
        leaf_key,
        root,
        root_key,
        x509.SubjectAlternativeName([x509.DNSName(NAME)]),
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
        x509.AuthorityInformationAccess(
            [
                x509.AccessDescription(
                    AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
                )
            ]
        ),
        x509.CRLDistributionPoints(
            [x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)]
        ),
    )
    _pem(folder / "root", root, root_key)
    _pem(folder / "responder", responder, responder_key)
    _pem(folder / "leaf", leaf, leaf_key)
    pki = ForeignPki(folder, root, root_key, leaf, ocsp_url, crl_url, crl)
    pki.index(revoked=False)
    pki.publish_crl(revoked=False)
    try:
        yield pki
    finally:
        http_server.shutdown()


@dataclass
class OcspResponder:
    """`openssl ocsp` on the port the leaf names."""

    pki: ForeignPki
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        port = self.pki.ocsp_url.rsplit(":", 1)[1].strip("/")
        f = self.pki.folder
        log = (f / "ocsp.log").open("ab")
        self.process = subprocess.Popen(
            ["openssl", "ocsp", "-index", str(f / "index.txt"), "-port", port,
             "-rsigner", str(f / "responder.pem"), "-rkey", str(f / "responder.key"),
             "-CA", str(f / "root.pem"), "-nmin", "10", "-ignore_err"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.pki.ocsp_url, timeout=1):
                    break
            except urllib.error.HTTPError:
                break  # it answers (a GET of / is no OCSP request)
            except OSError:
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(5)
        self.process = None

    def log(self) -> str:
        return (self.pki.folder / "ocsp.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def responder(foreign: ForeignPki) -> Iterator[OcspResponder]:
    started = OcspResponder(foreign)
    started.start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def server(foreign: ForeignPki) -> Iterator[int]:
    command = ["openssl", "s_server", "-quiet", "-accept", "127.0.0.1:{port}"]
    command += ["-cert", str(foreign.folder / "leaf.pem")]
    command += ["-key", str(foreign.folder / "leaf.key")]
    with ServerPeer("openssl", command, foreign.folder / "s_server.log") as peer:
        yield peer.port


def _lab_answers(stack: LocalStack) -> float:
    """The lab's responder's answers about certificates it does not know ("unauthorized"),
    both fronts: what asking it about a foreign certificate gets."""
    with urllib.request.urlopen(stack.metrics_url("ocsp"), timeout=5) as reply:
        text = reply.read().decode()
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "tlssim_ocsp_answers_total" and s.labels.get("status") == "unauthorized"
    )


def _args(foreign: ForeignPki, port: int, *args: str) -> tuple[str, ...]:
    ca = str(foreign.folder / "root.pem")
    return (
        "--tcp",
        f"127.0.0.1:{port}",
        "--ca-file",
        ca,
        "--server-name",
        NAME,
        "--no-echo",
        *args,
    )


def _story(stack: LocalStack, foreign: ForeignPki, port: int, *args: str) -> str:
    done = stack.tlssim(
        "handshake", *_args(foreign, port, *args), env=stack.env | {"COLUMNS": "200"}
    )
    return done.stdout


def test_the_ocsp_responder_the_certificate_names_is_asked_not_the_lab_s(
    stack: LocalStack, foreign: ForeignPki, responder: OcspResponder, server: int
) -> None:
    lab_before = _lab_answers(stack)

    foreign.index(revoked=False)
    report = stack.handshake(*_args(foreign, server, "--revocation", "hard"), ok=True)
    assert report.revocation.status == RevocationStatus.GOOD
    assert report.revocation.source == RevocationSource.OCSP, (report.revocation, responder.log())
    assert report.revocation.location == foreign.ocsp_url
    checks = {c.name: c for c in report.checks}
    assert checks["ocsp/responder"].detail == "delegated responder CN=Foreign OCSP Responder"
    assert checks["ocsp/signature"].ok and checks["ocsp/nonce"].ok
    assert checks["ocsp/freshness"].ok and "until" in checks["ocsp/freshness"].detail
    story = _story(stack, foreign, server, "--revocation", "hard")
    assert f"revocation: good from ocsp at {foreign.ocsp_url} (policy hard)" in story, story

    # Revoked in the responder's database, read by a responder started again on its port.
    foreign.index(revoked=True)
    responder.stop()
    responder.start()
    report = stack.handshake(*_args(foreign, server, "--revocation", "soft"), ok=False)
    assert report.alert is not None
    assert report.alert.description == "certificate_revoked", report.alert
    assert report.revocation.status == RevocationStatus.REVOKED
    assert report.revocation.location == foreign.ocsp_url
    assert foreign.crl.fetches == []  # the responder answered: no CRL needed

    foreign.index(revoked=False)
    responder.stop()
    responder.start()
    assert _lab_answers(stack) == lab_before


def test_without_its_responder_the_crl_the_certificate_names_decides(
    stack: LocalStack, foreign: ForeignPki, responder: OcspResponder, server: int
) -> None:
    lab_before = _lab_answers(stack)
    responder.stop()
    try:
        foreign.publish_crl(revoked=False)
        report = stack.handshake(*_args(foreign, server, "--revocation", "hard"), ok=True)
        assert report.revocation.source == RevocationSource.CRL
        assert report.revocation.location == foreign.crl_url
        assert f"responder unavailable at {foreign.ocsp_url}" in (report.revocation.detail or "")
        checks = {c.name: c for c in report.checks}
        assert checks["crl/signature"].detail == "verified by the issuer"
        assert foreign.crl.fetches == ["/foreign.crl"]

        foreign.publish_crl(revoked=True)
        report = stack.handshake(*_args(foreign, server, "--revocation", "soft"), ok=False)
        assert report.alert is not None
        assert report.alert.description == "certificate_revoked"
        assert report.revocation.location == foreign.crl_url
        story = _story(stack, foreign, server)
        assert f"revocation: revoked from crl at {foreign.crl_url} (policy soft)" in story, story

        # Neither answers (a CRL that is not one): hard refuses, soft warns, and says why.
        foreign.crl.der = b"not a CRL"
        hard = stack.handshake(*_args(foreign, server, "--revocation", "hard"), ok=False)
        assert hard.alert is not None and hard.alert.description == "certificate_unknown"
        soft = stack.handshake(*_args(foreign, server, "--revocation", "soft"), ok=True)
        assert soft.revocation.status == RevocationStatus.UNAVAILABLE
        assert any(w.startswith("soft-fail") and foreign.ocsp_url in w for w in soft.warnings)
    finally:
        foreign.publish_crl(revoked=False)
        responder.start()
    assert _lab_answers(stack) == lab_before
