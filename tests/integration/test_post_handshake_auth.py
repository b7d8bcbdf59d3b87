"""Post-handshake authentication against the running stack: a request for /private on the
echo protocol makes the server ask for a certificate after the handshake (TLS 1.3), judge
it like its client-auth hosts do, and say in its reply whom it authenticated; every
failure ends in the server's alert. Our client and OpenSSL's (-enable_pha)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.integration.conftest import LocalStack
from tests.integration.test_client_auth import (
    ca,
    enrolled_files,
    handshake,
    needs_openssl,
    other_ca_files,
    server_alert,
    steps,
)
from tlssim.pki.policy import CLIENT_NAME
from tlssim.report.model import Direction
from tlssim.rpc.v1 import ca_pb2_grpc

pytestmark = pytest.mark.integration

__all__ = ["ca"]  # a fixture shared with the mutual TLS tests

PRIVATE = "GET /private HTTP/1.1"


def test_our_client_is_asked_after_the_handshake_and_named(stack: LocalStack) -> None:
    report = handshake(stack, "--data", PRIVATE)
    assert report.ok, report
    assert report.authenticated_as is not None
    assert report.authenticated_as.startswith(f"CN={CLIENT_NAME}"), report
    names = [s.name for s in report.steps]
    done = names.index("HandshakeComplete")
    request = names.index("CertificateRequest")
    assert request > done  # after the handshake, not in it
    after = [(s.name, s.direction) for s in report.steps[request:]]
    assert after[:4] == [
        ("CertificateRequest", "received"),
        ("Certificate", "sent"),
        ("CertificateVerify", "sent"),
        ("Finished", "sent"),
    ]
    context = report.steps[request].fields["request_context"]
    assert len(bytes.fromhex(context)) == 8
    story = stack.tlssim("handshake", "--data", PRIVATE).stdout
    assert "authenticated after the handshake: CN=" in story, story


def test_other_paths_are_not_asked(stack: LocalStack) -> None:
    report = handshake(stack, "--data", "GET /public HTTP/1.1")
    assert report.ok and report.authenticated_as is None
    assert "CertificateRequest" not in steps(report, Direction.RECEIVED)


def test_no_certificate_is_certificate_required_from_the_server(stack: LocalStack) -> None:
    report = handshake(stack, "--data", PRIVATE, "--client-cert", "none")
    assert report.alert == server_alert("certificate_required")
    # The server's alert is the reason, not a missing echo.
    assert report.error is None and not report.ok, report
    story = stack.tlssim("handshake", "--data", PRIVATE, "--client-cert", "none").stdout
    assert "echo did not match" not in story and "certificate_required" in story, story


def test_a_certificate_from_another_ca_is_unknown_ca(stack: LocalStack, tmp_path: Path) -> None:
    cert, key_file = other_ca_files(tmp_path)
    report = handshake(
        stack, "--data", PRIVATE, "--client-cert", str(cert), "--client-key", str(key_file)
    )
    assert report.alert == server_alert("unknown_ca")


@pytest.mark.parametrize(
    ("profile", "alert"),
    [("client-revoked", "certificate_revoked"), ("client-expired", "certificate_expired")],
)
def test_revoked_and_expired_certificates_end_in_the_servers_alert(
    stack: LocalStack,
    ca: ca_pb2_grpc.CertificateAuthorityStub,
    tmp_path: Path,
    profile: str,
    alert: str,
) -> None:
    cert, key = enrolled_files(stack, ca, profile, tmp_path)
    report = handshake(
        stack, "--data", PRIVATE, "--client-cert", str(cert), "--client-key", str(key)
    )
    assert report.alert == server_alert(alert)


def test_tls12_has_no_post_handshake_authentication(stack: LocalStack) -> None:
    report = handshake(stack, "--data", PRIVATE, "--tls", "1.2")
    assert report.ok, report
    assert report.authenticated_as is not None
    assert report.authenticated_as.startswith("nobody (TLS 1.2")


def openssl_private(stack: LocalStack, *extra: str) -> str:
    """s_client -enable_pha sends GET /private and reads until the server's reply."""
    _, port = stack.server_tcp
    with subprocess.Popen(
        [
            "openssl",
            "s_client",
            "-connect",
            f"127.0.0.1:{port}",
            "-servername",
            "valid.tlssim.test",
            "-tls1_3",
            "-enable_pha",
            *extra,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as client:
        assert client.stdin is not None
        client.stdin.write(PRIVATE + "\n")
        client.stdin.flush()
        time.sleep(2)  # the request, the certificate exchange and the reply
        client.stdin.close()
        assert client.stdout is not None
        out = client.stdout.read()
        client.wait(timeout=30)
    return out


@needs_openssl
def test_openssl_client_answers_with_its_certificate(
    stack: LocalStack, ca: ca_pb2_grpc.CertificateAuthorityStub, tmp_path: Path
) -> None:
    cert, key = enrolled_files(stack, ca, "client", tmp_path)
    intermediates = tmp_path / "intermediates.pem"
    below_leaf = x509.load_pem_x509_certificates(cert.read_bytes())[1:]
    intermediates.write_bytes(
        b"".join(c.public_bytes(serialization.Encoding.PEM) for c in below_leaf)
    )
    out = openssl_private(
        stack, "-cert", str(cert), "-key", str(key), "-cert_chain", str(intermediates)
    )
    assert f"authenticated: CN={CLIENT_NAME}" in out, out


@needs_openssl
def test_openssl_client_without_a_certificate_gets_certificate_required(
    stack: LocalStack,
) -> None:
    out = openssl_private(stack)
    assert "certificate required" in out.lower(), out
    assert "authenticated:" not in out
