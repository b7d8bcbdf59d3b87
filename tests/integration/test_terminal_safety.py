"""A server's certificate, a server name or a scenario name with control characters in it
never reaches the operator's terminal raw: the real command against a real `openssl
s_server` presenting a hostile certificate, trusted or not."""

from __future__ import annotations

import datetime as dt
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.integration.conftest import LocalStack
from tests.peers import openssl_client
from tlssim.harness.localstack import free_ports
from tlssim.pki.throwaway import make_ca
from tlssim.terminal import UNSAFE

pytestmark = pytest.mark.integration

TITLE_AND_CLEAR = "\x1b]0;pwned\x07\x1b[2J"
HOSTILE_CN = f"{TITLE_AND_CLEAR}evil\u202elive"
HOSTILE_SAN = "\x1b[1A\x1b[K\x7fevil.test"


def _hostile_leaf(
    ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, key: ec.EllipticCurvePrivateKey
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOSTILE_CN)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(HOSTILE_SAN), x509.DNSName("other.test")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    """`openssl s_server` with the hostile certificate; its ca file and an unrelated one."""
    tmp = tmp_path_factory.mktemp("hostile")
    ca, ca_key = make_ca(f"{TITLE_AND_CLEAR}Evil Root")
    other, _ = make_ca("Another Root")
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp / "leaf.pem").write_bytes(
        _hostile_leaf(ca, ca_key, key).public_bytes(serialization.Encoding.PEM)
    )
    (tmp / "leaf.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (tmp / "e.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp / "other.pem").write_bytes(other.public_bytes(serialization.Encoding.PEM))
    (port,) = free_ports(1)
    server = subprocess.Popen(
        [
            "openssl",
            "s_server",
            "-accept",
            f"127.0.0.1:{port}",
            "-cert",
            str(tmp / "leaf.pem"),
            "-key",
            str(tmp / "leaf.key"),
            "-quiet",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)  # s_server binds at once; no readiness line with -quiet
        yield f"127.0.0.1:{port}", tmp / "e.pem", tmp / "other.pem"
    finally:
        server.kill()
        server.wait()


def _nothing_raw(done: subprocess.CompletedProcess[str]) -> str:
    said = done.stdout + done.stderr
    raw = sorted({repr(c) for c in UNSAFE.findall(said)})
    assert raw == [], said
    return said


@pytest.mark.parametrize("trusted", [True, False], ids=["trusted", "untrusted"])
def test_a_hostile_certificate_is_told_escaped(
    stack: LocalStack, hostile_server: tuple[str, Path, Path], trusted: bool
) -> None:
    address, ca_file, other = hostile_server
    done = stack.tlssim(
        "handshake",
        "--tcp",
        address,
        "--ca-file",
        str(ca_file if trusted else other),
        "--server-name",
        "evil.test",
        "--no-echo",
    )
    said = _nothing_raw(done)
    assert done.returncode == 1, said
    assert "pwned\\x07\\x1b[2Jevil\\u202elive" in said, said  # shown escaped, not dropped


def test_a_hostile_server_name_is_told_escaped(stack: LocalStack) -> None:
    # The client refuses it, and the line that says so quotes nothing raw.
    done = stack.tlssim("handshake", "--server-name", f"{TITLE_AND_CLEAR}.test")
    said = _nothing_raw(done)
    assert done.returncode == 2, said


def test_a_hostile_scenario_name_is_told_escaped(stack: LocalStack) -> None:
    done = stack.tlssim("scenarios", "run", f"{TITLE_AND_CLEAR}\u202e")
    said = _nothing_raw(done)
    assert done.returncode != 0
    assert "\\u202e" in said or "\\x1b" in said, said


def test_a_hostile_sni_sent_over_tcp_is_traced_and_told_escaped(stack: LocalStack) -> None:
    """A TLS client sends a name with control characters; the server refuses it, and
    `tlssim trace` of that connection shows the name it sent, escaped."""
    sni = f"{TITLE_AND_CLEAR}\u202e.tcp.test".encode("latin-1", "ignore").decode()
    openssl_client(stack.server_tcp, server_name=sni)
    trace_id = _traced_with_host(stack, sni)
    done = stack.tlssim("trace", trace_id)
    said = _nothing_raw(done)
    assert "handshake failed" in said and "pwned\\x07\\x1b[2J.tcp.test" in said, said


def _traced_with_host(stack: LocalStack, host: str) -> str:
    """The trace id of the server's event for a connection that sent `host`."""
    import grpc

    from tlssim.rpc.v1 import trace_pb2, trace_pb2_grpc
    from tlssim.telemetry.traces import TraceEvent

    with grpc.insecure_channel(stack.env["TLSSIM_SERVER_ADDR"]) as channel:
        feed = trace_pb2_grpc.TraceEventsStub(channel).WatchEvents(
            trace_pb2.WatchEventsRequest(after_sequence=0), timeout=10
        )
        try:
            for watched in feed:
                event = TraceEvent.from_json(watched.event_json)
                if event.details.get("host") == host:
                    return event.trace_id
        finally:
            feed.cancel()
    raise AssertionError(f"no server event with host {host!r}")


def test_json_output_stays_json_with_the_certificate_s_own_text(
    stack: LocalStack, hostile_server: tuple[str, Path, Path]
) -> None:
    import json

    address, ca_file, _ = hostile_server
    done = stack.tlssim(
        "handshake",
        "--tcp",
        address,
        "--ca-file",
        str(ca_file),
        "--server-name",
        "evil.test",
        "--no-echo",
        "--json",
    )
    _nothing_raw(done)
    report = json.loads(done.stdout)
    assert "pwned\x07\x1b[2Jevil\u202elive" in report["chain"][0]["subject"]
