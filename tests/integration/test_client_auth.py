"""Mutual TLS against the running stack: the client presents the certificate it enrolled,
the server judges it (chain to our roots, validity, OCSP) on its client-auth hosts, and each
failure ends in the server's alert; OpenSSL as the client and as the server."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.integration.conftest import LocalStack
from tests.peers import ServerPeer, openssl_client
from tlssim.pki import throwaway
from tlssim.pki.enrollment import ENROLLMENT_TOKEN_METADATA_KEY, credential_path
from tlssim.pki.keys import build_csr, generate_private_key, private_key_to_pem
from tlssim.pki.policy import CLIENT_NAME
from tlssim.report.model import Alert, Direction, Party, Report
from tlssim.rpc.v1 import ca_pb2, ca_pb2_grpc

pytestmark = pytest.mark.integration

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl not installed")
REQUIRED = "client-auth.tlssim.test"
OPTIONAL = "client-auth-optional.tlssim.test"


def handshake(stack: LocalStack, *args: str) -> Report:
    return stack.handshake("--revocation", "hard", *args)


def steps(report: Report, direction: Direction) -> list[str]:
    return [s.name for s in report.steps if s.direction == direction]


def server_alert(description: str) -> Alert:
    return Alert(level="fatal", description=description, sent_by=Party.SERVER)


@pytest.fixture(scope="module")
def ca(stack: LocalStack) -> Iterator[ca_pb2_grpc.CertificateAuthorityStub]:
    with grpc.insecure_channel(stack.env["TLSSIM_CA_ADDR"]) as channel:
        yield ca_pb2_grpc.CertificateAuthorityStub(channel)


def enrolled_files(
    stack: LocalStack, ca: ca_pb2_grpc.CertificateAuthorityStub, profile: str, where: Path
) -> tuple[Path, Path]:
    """A client certificate under `profile`, issued with the client's credential, as PEM."""
    key = generate_private_key()
    csr = build_csr(key, CLIENT_NAME, (CLIENT_NAME,)).public_bytes(serialization.Encoding.DER)
    token = credential_path(stack.data_dir / "ca", "client").read_text().strip()
    issued = ca.IssueCertificate(
        ca_pb2.IssueCertificateRequest(csr_der=csr, profile=profile),
        metadata=((ENROLLMENT_TOKEN_METADATA_KEY, token),),
        timeout=10,
    )
    chain = [x509.load_der_x509_certificate(d) for d in issued.chain_der]
    return _write(where / profile, chain, private_key_to_pem(key))


def server_certificate_files(
    stack: LocalStack, ca: ca_pb2_grpc.CertificateAuthorityStub, where: Path
) -> tuple[Path, Path]:
    """A server certificate for valid.tlssim.test, issued with the server's credential, as
    PEM (for OpenSSL's server)."""
    key = generate_private_key()
    csr = build_csr(key, "valid.tlssim.test", ("valid.tlssim.test",))
    token = credential_path(stack.data_dir / "ca", "server").read_text().strip()
    issued = ca.IssueCertificate(
        ca_pb2.IssueCertificateRequest(
            csr_der=csr.public_bytes(serialization.Encoding.DER), profile="server"
        ),
        metadata=((ENROLLMENT_TOKEN_METADATA_KEY, token),),
        timeout=10,
    )
    chain = [x509.load_der_x509_certificate(d) for d in issued.chain_der]
    return _write(where / "server", chain, private_key_to_pem(key))


def other_ca_files(where: Path) -> tuple[Path, Path]:
    """A client certificate for CLIENT_NAME from a CA that is not ours, as PEM."""
    other_ca, other_key = throwaway.make_ca("Someone Else's CA")
    key = generate_private_key()
    leaf = throwaway.make_leaf(other_ca, other_key, CLIENT_NAME, key)
    return _write(where / "other", [leaf, other_ca], private_key_to_pem(key))


def _pem(certs: list[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _write(base: Path, chain: list[x509.Certificate], key_pem: bytes) -> tuple[Path, Path]:
    """The chain (leaf first) and key as PEM files; the intermediates alone in "*.chain"
    too, for OpenSSL, whose -cert sends only the first certificate of its file."""
    cert_path, key_path = base.with_suffix(".crt"), base.with_suffix(".key")
    cert_path.write_bytes(_pem(chain))
    base.with_suffix(".chain").write_bytes(_pem(chain[1:]))
    key_path.write_bytes(key_pem)
    return cert_path, key_path


@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_our_client_presents_its_enrolled_certificate(stack: LocalStack, version: str) -> None:
    report = handshake(stack, "--server-name", REQUIRED, "--tls", version)
    assert report.ok, report
    assert "CertificateRequest" in steps(report, Direction.RECEIVED)
    sent = steps(report, Direction.SENT)
    assert "Certificate" in sent and "CertificateVerify" in sent
    certificate = next(
        s for s in report.steps if s.direction == Direction.SENT and s.name == "Certificate"
    )
    assert certificate.fields["certificates"] >= 2  # leaf and intermediate
    assert f"client certificate CN={CLIENT_NAME}" in stack.logs()


@pytest.mark.parametrize(
    ("version", "alert"), [("1.3", "certificate_required"), ("1.2", "handshake_failure")]
)
def test_no_certificate_is_refused_by_the_server(
    stack: LocalStack, version: str, alert: str
) -> None:
    report = handshake(stack, "--server-name", REQUIRED, "--tls", version, "--client-cert", "none")
    assert report.alert == server_alert(alert)


def test_the_optional_host_accepts_none(stack: LocalStack) -> None:
    report = handshake(stack, "--server-name", OPTIONAL, "--client-cert", "none")
    assert report.ok, report
    assert "CertificateRequest" in steps(report, Direction.RECEIVED)


def test_a_certificate_from_another_ca_is_unknown_ca(stack: LocalStack, tmp_path: Path) -> None:
    cert, key_file = other_ca_files(tmp_path)
    report = handshake(
        stack, "--server-name", REQUIRED, "--client-cert", str(cert), "--client-key", str(key_file)
    )
    assert report.alert == server_alert("unknown_ca")


@pytest.mark.parametrize(
    ("profile", "alert"),
    [("client-revoked", "certificate_revoked"), ("client-expired", "certificate_expired")],
)
@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_revoked_and_expired_client_certificates(
    stack: LocalStack,
    ca: ca_pb2_grpc.CertificateAuthorityStub,
    tmp_path: Path,
    profile: str,
    alert: str,
    version: str,
) -> None:
    cert, key = enrolled_files(stack, ca, profile, tmp_path)
    report = handshake(
        stack,
        "--server-name",
        REQUIRED,
        "--tls",
        version,
        "--client-cert",
        str(cert),
        "--client-key",
        str(key),
    )
    assert report.alert == server_alert(alert)
    logged = [line for line in stack.logs().splitlines() if f"trace_id={report.trace_id}" in line]
    assert any(f"client certificate CN={CLIENT_NAME}: {alert}" in line for line in logged), logged


# -- OpenSSL ------------------------------------------------------------------------------


def s_client(stack: LocalStack, bundle: Path, *extra: str) -> str:
    done = openssl_client(
        stack.server_tcp,
        "-msg",
        *extra,
        server_name=REQUIRED,
        ca_file=bundle,
        verify=True,
        stdin="Q\n",
    )
    return done.stdout + done.stderr


@needs_openssl
@pytest.mark.parametrize("version", ["-tls1_3", "-tls1_2"])
def test_openssl_client_with_a_certificate_is_accepted(
    stack: LocalStack,
    ca: ca_pb2_grpc.CertificateAuthorityStub,
    bundle: Path,
    tmp_path: Path,
    version: str,
) -> None:
    cert, key = enrolled_files(stack, ca, "client", tmp_path)
    intermediates = tmp_path / "intermediates.pem"
    below_root = x509.load_pem_x509_certificates(cert.read_bytes())[1:]
    intermediates.write_bytes(
        b"".join(c.public_bytes(serialization.Encoding.PEM) for c in below_root)
    )
    out = s_client(
        stack,
        bundle,
        version,
        "-cert",
        str(cert),
        "-key",
        str(key),
        "-cert_chain",
        str(intermediates),
    )
    assert "Verify return code: 0 (ok)" in out, out
    assert "CertificateVerify" in out, out
    assert "fatal" not in out, out


@needs_openssl
def test_openssl_client_without_a_certificate_gets_the_alert(
    stack: LocalStack, bundle: Path
) -> None:
    # -ign_eof: s_client reads until the server closes, so the alert after its Finished shows
    out = s_client(stack, bundle, "-tls1_3", "-ign_eof")
    assert "certificate required" in out.lower() or "certificate_required" in out, out


@needs_openssl
@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_our_client_against_openssl_s_server_verify(
    stack: LocalStack,
    ca: ca_pb2_grpc.CertificateAuthorityStub,
    bundle: Path,
    tmp_path: Path,
    version: str,
) -> None:
    """s_server -Verify 1 asks for and requires a certificate; ours verifies against our CA."""
    server_cert, server_key = server_certificate_files(stack, ca, tmp_path)
    command = ["openssl", "s_server", "-accept", "127.0.0.1:{port}", "-cert", str(server_cert)]
    command += ["-key", str(server_key), "-cert_chain", str(server_cert.with_suffix(".chain"))]
    command += ["-Verify", "1", "-verify_return_error", "-CAfile", str(bundle), "-www", "-quiet"]
    with ServerPeer("openssl", command, tmp_path / "s_server.log", stdin_eof=True) as server:
        common = ("--tcp", server.address, "--tls", version, "--no-echo")
        # With --tcp the client presents the lab's identity only when told to.
        report = handshake(stack, *common, "--client-cert", "auto")
        assert report.ok, report
        assert "CertificateVerify" in steps(report, Direction.SENT)
        refused = handshake(stack, *common)
        assert "CertificateVerify" not in steps(refused, Direction.SENT)
        assert not refused.ok
        assert refused.alert is not None and refused.alert.sent_by == Party.SERVER, refused
        refused = handshake(stack, *common, "--client-cert", "none")
        assert not refused.ok
        assert refused.alert is not None and refused.alert.sent_by == Party.SERVER, refused
