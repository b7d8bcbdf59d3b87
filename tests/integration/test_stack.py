"""The whole stack as separate processes: handshakes through the client and server services."""

from __future__ import annotations

import json
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.integration.conftest import LocalStack
from tests.peers import openssl_client
from tlssim.report.model import Alert, Party, Report, load_schema
from tlssim.report.revocation import RevocationSource, RevocationStatus

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "args",
    [
        ("--server-name", "valid.tlssim.test"),
        ("--server-name", "nobody.tlssim.test"),
        ("--clock-skew", str(400 * 86400)),
        ("--no-staple", "--revocation", "hard"),
    ],
)
def test_the_json_report_follows_the_schema(stack: LocalStack, args: tuple[str, ...]) -> None:
    done = stack.tlssim("handshake", "--json", *args)
    assert done.stdout, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    jsonschema.validate(document, load_schema())
    # The CLI prints the typed report again: the JSON is the one it was sent, unchanged.
    assert Report.from_json(done.stdout).to_json(indent=2) == done.stdout.rstrip("\n")


def test_tls13_handshake_through_the_services(stack: LocalStack) -> None:
    report = stack.handshake("--server-name", "valid.tlssim.test", ok=True)
    assert report.version == "TLSv1.3"
    assert report.alert is None
    assert report.target.startswith("grpc://")
    assert len(report.chain) >= 2
    assert report.chain[0].subject.endswith("CN=valid.tlssim.test") or (
        "valid.tlssim.test" in report.chain[0].subject
    )
    assert report.revocation.status == RevocationStatus.GOOD
    assert report.revocation.source == RevocationSource.STAPLE
    assert report.key_exchange == "X25519MLKEM768"  # the hybrid, offered by default
    names = [s.name for s in report.steps]
    for expected in ("ClientHello", "ServerHello", "Certificate", "CertificateVerify", "Finished"):
        assert expected in names
    assert names.index("ClientHello") < names.index("ServerHello") < names.index("Certificate")
    assert all(c.ok for c in report.checks), report.checks


def test_story_follows_the_walkthrough(stack: LocalStack) -> None:
    done = stack.tlssim("handshake", "--server-name", "valid.tlssim.test")
    assert done.returncode == 0, done.stdout + done.stderr
    story = " ".join(done.stdout.split())  # wrapped to the terminal: words, single-spaced
    order = [
        "ClientHello",
        "ServerHello",
        "Certificate",
        "certificate check",
        "CertificateVerify",
        "Finished",
        "result: OK",
    ]
    # The step lines themselves ("server -> client  Finished"), each after the one before:
    # explanations may name a later message ("up to both Finished messages").
    position = 0
    for word in order:
        found = story.find(word, position)
        assert found >= 0, f"{word!r} missing after position {position}:\n{story}"
        position = found + len(word)
    assert story.find("server -> client Finished") < story.find("client -> server Finished")
    assert "X25519MLKEM768 (hybrid post-quantum)" in story  # the result line


@pytest.mark.parametrize(
    ("host", "group", "scheme"),
    [
        ("rsa2048.tlssim.test", "secp256r1", "rsa_pss_rsae_sha256"),
        ("ecdsa-p256.tlssim.test", "x25519", "ecdsa_secp256r1_sha256"),
        ("ed25519.tlssim.test", "x25519", "ed25519"),
        ("ecdsa-p256.tlssim.test", "X25519MLKEM768", "ecdsa_secp256r1_sha256"),
        ("ecdsa-p256.tlssim.test", "SecP256r1MLKEM768", "ecdsa_secp256r1_sha256"),
        ("rsa2048.tlssim.test", "MLKEM768", "rsa_pss_rsae_sha256"),
    ],
)
def test_key_types_and_groups(stack: LocalStack, host: str, group: str, scheme: str) -> None:
    report = stack.handshake("--server-name", host, "--group", group, ok=True)
    assert report.key_exchange == group
    assert report.signature_scheme == scheme


def test_valid_host_presents_rsa_to_a_client_without_ecdsa(stack: LocalStack) -> None:
    report = stack.handshake(
        "--server-name", "valid.tlssim.test", "--sigalg", "rsa_pss_rsae_sha256", ok=True
    )
    assert report.signature_scheme == "rsa_pss_rsae_sha256"


def test_untrusted_anchor_fails_with_unknown_ca(stack: LocalStack, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    from tlssim.pki.throwaway import make_ca

    other_root, _ = make_ca("Some Other Root")
    anchor = tmp_path / "other.pem"
    anchor.write_bytes(other_root.public_bytes(serialization.Encoding.PEM))
    report = stack.handshake(
        "--server-name", "valid.tlssim.test", "--ca-file", str(anchor), ok=False
    )
    assert report.alert == Alert(level="fatal", description="unknown_ca", sent_by=Party.CLIENT)


def test_clock_skew_makes_the_certificate_expired(stack: LocalStack) -> None:
    report = stack.handshake("--clock-skew", str(400 * 86400), ok=False)
    assert report.alert is not None
    assert report.alert.description == "certificate_expired"


def test_unknown_server_name_gets_an_alert_from_the_server(stack: LocalStack) -> None:
    report = stack.handshake("--server-name", "nobody.tlssim.test", ok=False)
    assert report.alert is not None
    assert report.alert.sent_by == Party.SERVER
    assert report.alert.description == "unrecognized_name"


def test_python_ssl_client_verifies_our_server(stack: LocalStack, bundle: Path) -> None:
    context = ssl.create_default_context(cafile=str(bundle))
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    host, port = stack.server_tcp
    with (
        socket.create_connection((host, port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="valid.tlssim.test") as tls,
    ):
        assert tls.version() == "TLSv1.3"
        tls.sendall(b"ping over TLS")
        assert tls.recv(100) == b"ping over TLS"


@pytest.mark.parametrize(
    "suite",
    [
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_256_GCM_SHA384",
        "TLS_CHACHA20_POLY1305_SHA256",
    ],
)
@pytest.mark.parametrize("group", ["X25519", "P-256"])
@pytest.mark.parametrize("host", ["ecdsa-p256.tlssim.test", "rsa2048.tlssim.test"])
def test_openssl_s_client_against_our_tcp_port(
    stack: LocalStack, bundle: Path, suite: str, group: str, host: str
) -> None:
    done = openssl_client(
        stack.server_tcp,
        *("-ciphersuites", suite, "-groups", group, "-status"),
        server_name=host,
        ca_file=bundle,
        verify=True,
        verify_hostname=host,
        version="1.3",
        stdin="hello\n",
    )
    out = done.stdout
    assert "Verify return code: 0 (ok)" in out, out + done.stderr
    assert f"Cipher is {suite}" in out or f"Cipher    : {suite}" in out, out
    assert "OCSP Response Status: successful" in out, out


def test_one_trace_id_across_the_services(stack: LocalStack) -> None:
    trace = stack.handshake("--no-staple", "--revocation", "hard", ok=True).trace_id
    deadline = time.monotonic() + 5
    while True:
        lines = [line for line in stack.logs().splitlines() if f"[trace {trace}]" in line]
        services = {line.split("]", 1)[0].strip("[ ") for line in lines}
        if services >= {"client", "server", "ocsp"} or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert services >= {"client", "server", "ocsp"}, lines


def test_a_w3c_traceparent_names_the_handshakes_trace(stack: LocalStack) -> None:
    """A caller that speaks only W3C Trace Context: its trace id runs through the services."""
    import grpc

    from tlssim.rpc.v1 import client_pb2, client_pb2_grpc

    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    with grpc.insecure_channel(stack.env["TLSSIM_CLIENT_ADDR"]) as channel:
        result = client_pb2_grpc.TlsClientStub(channel).RunHandshake(
            client_pb2.HandshakeRequest(),
            metadata=(("traceparent", f"00-{trace}-00f067aa0ba902b7-01"),),
            timeout=30,
        )
    assert Report.from_json(result.report_json).trace_id == trace
    deadline = time.monotonic() + 5
    while f"server INFO [trace {trace}]" not in stack.logs() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert f"server INFO [trace {trace}]" in stack.logs()
