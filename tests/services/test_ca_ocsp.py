"""The real ca and ocsp services as separate processes: issue, check, revoke, follow."""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tlssim.pki import ChainVerifier, build_ocsp_request, check_ocsp_response
from tlssim.pki.admin import ADMIN_TOKEN_FILE, ADMIN_TOKEN_METADATA_KEY
from tlssim.pki.enrollment import ENROLLMENT_TOKEN_METADATA_KEY, credential_path
from tlssim.pki.keys import build_csr, generate_private_key
from tlssim.rpc.v1 import ca_pb2, ca_pb2_grpc, ocsp_pb2, ocsp_pb2_grpc

pytestmark = pytest.mark.integration

STARTUP_TIMEOUT_S = 30
OPENSSL = shutil.which("openssl")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Service:
    name: str
    address: str
    process: subprocess.Popen[bytes]
    log: Path

    def logs(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _start(name: str, env: dict[str, str], address: str, log: Path) -> Service:
    """`tlssim serve NAME` with these settings."""
    env = {k: v for k, v in os.environ.items() if k != "TLSSIM_ADMIN_TOKEN"} | env
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tlssim", "serve", name],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Service(name, address, process, log)


def _wait_serving(service: Service, health_name: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    with grpc.insecure_channel(service.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if service.process.poll() is not None:
                pytest.fail(f"{service.name} exited:\n{service.logs()}")
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=health_name), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    pytest.fail(f"{service.name} did not become healthy:\n{service.logs()}")


@dataclass
class Stack:
    tmp: Path
    ca_address: str
    ocsp_address: str
    http_url: str
    ca: Service | None = None
    ocsp: Service | None = None
    ocsp_env: dict[str, str] | None = None

    def start_ocsp(self) -> Service:
        env = {
            "TLSSIM_LISTEN": self.ocsp_address,
            "TLSSIM_HTTP_LISTEN": self.http_url.removeprefix("http://"),
            "TLSSIM_CA_ADDR": self.ca_address,
            # Created by the ca at its first start; the responder waits for it.
            "TLSSIM_ENROLLMENT_TOKEN_FILE": str(credential_path(self.tmp / "ca", "ocsp")),
        }
        self.ocsp = _start(
            "ocsp", env | (self.ocsp_env or {}), self.ocsp_address, self.tmp / "ocsp.log"
        )
        return self.ocsp

    def start_ca(self) -> Service:
        env = {
            "TLSSIM_LISTEN": self.ca_address,
            "TLSSIM_DATA_DIR": str(self.tmp),
            "TLSSIM_OCSP_URL": self.http_url,
        }
        self.ca = _start("ca", env, self.ca_address, self.tmp / "ca.log")
        _wait_serving(self.ca, "tlssim.rpc.v1.CertificateAuthority")
        return self.ca

    @property
    def admin_token(self) -> str:
        return (self.tmp / "ca" / ADMIN_TOKEN_FILE).read_text().strip()

    @property
    def as_server(self) -> tuple[tuple[str, str]]:
        """Call metadata carrying the server's enrollment credential."""
        token = credential_path(self.tmp / "ca", "server").read_text().strip()
        return ((ENROLLMENT_TOKEN_METADATA_KEY, token),)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("ca-ocsp")
    ports = [_free_port() for _ in range(3)]
    result = Stack(
        tmp, f"127.0.0.1:{ports[0]}", f"127.0.0.1:{ports[1]}", f"http://127.0.0.1:{ports[2]}"
    )
    try:
        # The responder starts first and waits (with backoff) for the ca.
        ocsp_service = result.start_ocsp()
        time.sleep(0.5)
        result.start_ca()
        _wait_serving(ocsp_service, "tlssim.rpc.v1.OcspResponder")
        yield result
    finally:
        for service in (result.ocsp, result.ca):
            if service is not None:
                service.stop()
    # SIGTERM is a graceful shutdown for both.
    assert result.ocsp is not None and "ocsp stopped" in result.ocsp.logs()
    assert result.ca is not None and "ca stopped" in result.ca.logs()


@pytest.fixture
def ca_stub(stack: Stack) -> Iterator[ca_pb2_grpc.CertificateAuthorityStub]:
    assert stack.ca is not None
    with grpc.insecure_channel(stack.ca.address) as channel:
        yield ca_pb2_grpc.CertificateAuthorityStub(channel)


@pytest.fixture
def ocsp_stub(stack: Stack) -> Iterator[ocsp_pb2_grpc.OcspResponderStub]:
    with grpc.insecure_channel(stack.ocsp_address) as channel:
        yield ocsp_pb2_grpc.OcspResponderStub(channel)


def _issue(
    ca_stub: ca_pb2_grpc.CertificateAuthorityStub, stack: Stack, name: str = "valid.tlssim.test"
) -> tuple[list[x509.Certificate], str]:
    key = generate_private_key()
    csr = build_csr(key, name, (name,)).public_bytes(serialization.Encoding.DER)
    reply = ca_stub.IssueCertificate(
        ca_pb2.IssueCertificateRequest(csr_der=csr), metadata=stack.as_server, timeout=10
    )
    return [x509.load_der_x509_certificate(d) for d in reply.chain_der], reply.serial_hex


def _ocsp_status(
    ocsp_stub: ocsp_pb2_grpc.OcspResponderStub, chain: list[x509.Certificate]
) -> tuple[str, bytes]:
    nonce = os.urandom(16)
    request = build_ocsp_request(chain[0], chain[1], nonce)
    reply = ocsp_stub.Check(ocsp_pb2.OcspCheckRequest(request_der=request), timeout=10)
    from tlssim.clock import SystemClock

    result = check_ocsp_response(reply.response_der, chain[0], chain[1], SystemClock(), nonce)
    assert all(c.ok for c in result.checks), result.checks
    return result.status, reply.response_der


def _wait_for_status(
    ocsp_stub: ocsp_pb2_grpc.OcspResponderStub,
    chain: list[x509.Certificate],
    wanted: str,
    timeout: float,
) -> float:
    started = time.monotonic()
    while True:
        status, _ = _ocsp_status(ocsp_stub, chain)
        if status == wanted:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            pytest.fail(f"OCSP still says {status}, wanted {wanted}")
        time.sleep(0.05)


def test_issue_check_revoke_over_grpc(
    stack: Stack,
    ca_stub: ca_pb2_grpc.CertificateAuthorityStub,
    ocsp_stub: ocsp_pb2_grpc.OcspResponderStub,
) -> None:
    from tlssim.clock import SystemClock

    bundle = ca_stub.GetTrustBundle(ca_pb2.GetTrustBundleRequest(), timeout=10).pem
    roots = x509.load_pem_x509_certificates(bundle.encode())
    chain, serial_hex = _issue(ca_stub, stack)
    assert len(chain) == 2 and format(chain[0].serial_number, "x") == serial_hex
    assert ChainVerifier(roots, SystemClock()).verify(chain, "valid.tlssim.test").ok

    # Freshly issued: good at once (the responder waits briefly for the feed if needed).
    status, _ = _ocsp_status(ocsp_stub, chain)
    assert status == "good"

    request = ca_pb2.RevokeCertificateRequest(serial_hex=serial_hex, reason="keyCompromise")
    for metadata in ((), ((ADMIN_TOKEN_METADATA_KEY, "wrong-token"),)):
        with pytest.raises(grpc.RpcError) as refused:
            ca_stub.RevokeCertificate(request, metadata=metadata, timeout=10)
        assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert _ocsp_status(ocsp_stub, chain)[0] == "good"

    reply = ca_stub.RevokeCertificate(
        request, metadata=((ADMIN_TOKEN_METADATA_KEY, stack.admin_token),), timeout=10
    )
    assert reply.sequence > 0
    assert _wait_for_status(ocsp_stub, chain, "revoked", timeout=5) < 5
    _, der = _ocsp_status(ocsp_stub, chain)
    assert ocsp.load_der_ocsp_response(der).revocation_reason is x509.ReasonFlags.key_compromise


def test_bad_input_gets_clear_errors(
    stack: Stack,
    ca_stub: ca_pb2_grpc.CertificateAuthorityStub,
    ocsp_stub: ocsp_pb2_grpc.OcspResponderStub,
) -> None:
    for csr, profile in ((b"garbage", ""), (b"", "server")):
        with pytest.raises(grpc.RpcError) as bad:
            ca_stub.IssueCertificate(
                ca_pb2.IssueCertificateRequest(csr_der=csr, profile=profile),
                metadata=stack.as_server,
                timeout=10,
            )
        assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "CSR" in (bad.value.details() or "")
    key = generate_private_key()
    csr = build_csr(key, "x.tlssim.test").public_bytes(serialization.Encoding.DER)
    with pytest.raises(grpc.RpcError) as bad:
        ca_stub.IssueCertificate(
            ca_pb2.IssueCertificateRequest(csr_der=csr, profile="nope"),
            metadata=stack.as_server,
            timeout=10,
        )
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as bad:
        ca_stub.GetCrl(ca_pb2.GetCrlRequest(issuer_der=b"not a cert"), timeout=10)
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    reply = ocsp_stub.Check(ocsp_pb2.OcspCheckRequest(request_der=b"\x30\x03abc"), timeout=10)
    assert ocsp.load_der_ocsp_response(reply.response_der).response_status is (
        ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    )


def test_watch_status_replays_then_heartbeats(
    stack: Stack, ca_stub: ca_pb2_grpc.CertificateAuthorityStub
) -> None:
    _, serial_hex = _issue(ca_stub, stack)
    stream = ca_stub.WatchStatus(ca_pb2.WatchStatusRequest(after_sequence=0), timeout=10)
    seen: list[tuple[int, str]] = []
    try:
        for event in stream:
            if event.heartbeat:
                break
            seen.append((event.sequence, event.serial_hex))
    finally:
        stream.cancel()
    sequences = [s for s, _ in seen]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
    assert serial_hex in {s for _, s in seen}
    # Resuming after the last sequence replays nothing old: the first message is a heartbeat.
    stream = ca_stub.WatchStatus(
        ca_pb2.WatchStatusRequest(after_sequence=sequences[-1]), timeout=10
    )
    try:
        first = next(iter(stream))
    finally:
        stream.cancel()
    assert first.heartbeat and first.sequence == sequences[-1]


def test_ocsp_and_crl_over_http(
    stack: Stack, ca_stub: ca_pb2_grpc.CertificateAuthorityStub
) -> None:
    chain, serial_hex = _issue(ca_stub, stack)
    request = build_ocsp_request(chain[0], chain[1])
    post = urllib.request.Request(
        stack.http_url + "/", data=request, headers={"Content-Type": "application/ocsp-request"}
    )
    with urllib.request.urlopen(post, timeout=10) as answer:
        assert answer.headers["Content-Type"] == "application/ocsp-response"
        assert "max-age=" in answer.headers["Cache-Control"]
        assert (
            ocsp.load_der_ocsp_response(answer.read()).certificate_status
            is ocsp.OCSPCertStatus.GOOD
        )
    encoded = urllib.parse.quote(base64.b64encode(request).decode(), safe="")
    with urllib.request.urlopen(f"{stack.http_url}/{encoded}", timeout=10) as answer:
        assert ocsp.load_der_ocsp_response(answer.read()).serial_number == chain[0].serial_number

    ca_stub.RevokeCertificate(
        ca_pb2.RevokeCertificateRequest(serial_hex=serial_hex),
        metadata=((ADMIN_TOKEN_METADATA_KEY, stack.admin_token),),
        timeout=10,
    )
    crl_url = chain[0].extensions.get_extension_for_class(x509.CRLDistributionPoints).value[0]
    assert crl_url.full_name is not None
    url = str(crl_url.full_name[0].value)
    assert url.startswith(stack.http_url + "/crl/")
    deadline = time.monotonic() + 5
    while True:
        with urllib.request.urlopen(url, timeout=10) as answer:
            crl = x509.load_der_x509_crl(answer.read())
        if crl.get_revoked_certificate_by_serial_number(chain[0].serial_number) is not None:
            break
        assert time.monotonic() < deadline, "the CRL never listed the revoked serial"
        time.sleep(0.1)
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(stack.http_url + "/crl/0000.crl", timeout=10)
    assert missing.value.code == 404


@pytest.mark.skipif(OPENSSL is None, reason="openssl not installed")
def test_openssl_queries_the_responder_over_http(
    stack: Stack, ca_stub: ca_pb2_grpc.CertificateAuthorityStub, tmp_path: Path
) -> None:
    chain, _ = _issue(ca_stub, stack)
    bundle = ca_stub.GetTrustBundle(ca_pb2.GetTrustBundleRequest(), timeout=10).pem
    (tmp_path / "root.pem").write_text(bundle)
    for name, cert in (("leaf.pem", chain[0]), ("inter.pem", chain[1])):
        (tmp_path / name).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    done = subprocess.run(
        [
            OPENSSL or "openssl",
            "ocsp",
            "-url",
            stack.http_url,
            "-issuer",
            str(tmp_path / "inter.pem"),
            "-cert",
            str(tmp_path / "leaf.pem"),
            "-CAfile",
            str(tmp_path / "root.pem"),
            "-verify_other",
            str(tmp_path / "inter.pem"),
            "-timeout",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    out = done.stdout + done.stderr
    assert "Response verify OK" in out and ": good" in out, out


def test_ca_restart_keeps_state_and_the_responder_resumes(
    stack: Stack,
    ca_stub: ca_pb2_grpc.CertificateAuthorityStub,
    ocsp_stub: ocsp_pb2_grpc.OcspResponderStub,
) -> None:
    before = ca_stub.GetTrustBundle(ca_pb2.GetTrustBundleRequest(), timeout=10).pem
    chain, serial_hex = _issue(ca_stub, stack)
    token = stack.admin_token
    assert stack.ca is not None
    stack.ca.stop(signal.SIGKILL)  # an acknowledged issuance must survive kill -9
    with grpc.insecure_channel(stack.start_ca().address) as channel:
        fresh = ca_pb2_grpc.CertificateAuthorityStub(channel)
        assert fresh.GetTrustBundle(ca_pb2.GetTrustBundleRequest(), timeout=10).pem == before
        assert stack.admin_token == token
        fresh.RevokeCertificate(
            ca_pb2.RevokeCertificateRequest(serial_hex=serial_hex, reason="superseded"),
            metadata=((ADMIN_TOKEN_METADATA_KEY, token),),
            timeout=10,
        )
        # The responder reconnects to the new ca process and resumes from its sequence.
        _wait_for_status(ocsp_stub, chain, "revoked", timeout=15)
        new_chain, _ = _issue(fresh, stack)
        assert _ocsp_status(ocsp_stub, new_chain)[0] == "good"


def test_http_front_survives_garbage(stack: Stack) -> None:
    host, _, port = stack.http_url.removeprefix("http://").partition(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(b"\x16\x03\x01garbage\r\n\r\n")
        assert re.match(rb"HTTP/1\.[01] 400 ", raw.recv(100))
    with urllib.request.urlopen(stack.http_url + "/%21%21not-base64", timeout=10) as answer:
        response = ocsp.load_der_ocsp_response(answer.read())
    assert response.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    # Still serving afterwards.
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(stack.http_url + "/crl/0000.crl", timeout=10)
    assert missing.value.code == 404


def test_unknown_serial_is_unknown(
    stack: Stack,
    ca_stub: ca_pb2_grpc.CertificateAuthorityStub,
    ocsp_stub: ocsp_pb2_grpc.OcspResponderStub,
) -> None:
    chain, _ = _issue(ca_stub, stack)
    never_issued = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(
            *_issuer_hashes(chain[1]), chain[0].serial_number ^ 1, hashes.SHA1()
        )
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    reply = ocsp_stub.Check(ocsp_pb2.OcspCheckRequest(request_der=never_issued), timeout=10)
    assert ocsp.load_der_ocsp_response(reply.response_der).certificate_status is (
        ocsp.OCSPCertStatus.UNKNOWN
    )


def _issuer_hashes(issuer: x509.Certificate) -> tuple[bytes, bytes]:
    from tlssim.pki.ocsp_responder import cert_id_hashes

    return cert_id_hashes(issuer, hashes.SHA1())


def test_a_silent_feed_makes_the_responder_say_try_later(tmp_path: Path) -> None:
    ports = [_free_port() for _ in range(3)]
    own = Stack(
        tmp_path,
        f"127.0.0.1:{ports[0]}",
        f"127.0.0.1:{ports[1]}",
        f"http://127.0.0.1:{ports[2]}",
        ocsp_env={"TLSSIM_FEED_MAX_AGE_S": "1.5"},
    )
    try:
        own.start_ca()
        _wait_serving(own.start_ocsp(), "tlssim.rpc.v1.OcspResponder")
        with (
            grpc.insecure_channel(own.ca_address) as ca_channel,
            grpc.insecure_channel(own.ocsp_address) as ocsp_channel,
        ):
            ca_stub = ca_pb2_grpc.CertificateAuthorityStub(ca_channel)
            ocsp_stub = ocsp_pb2_grpc.OcspResponderStub(ocsp_channel)
            chain, _ = _issue(ca_stub, own)
            assert _ocsp_status(ocsp_stub, chain)[0] == "good"
            points = chain[0].extensions.get_extension_for_class(x509.CRLDistributionPoints)
            assert points.value[0].full_name is not None
            crl_url = str(points.value[0].full_name[0].value)
            with urllib.request.urlopen(crl_url, timeout=10) as answer:
                crl_before = answer.read()

            assert own.ca is not None
            own.ca.process.send_signal(signal.SIGSTOP)  # the feed goes silent, not closed
            try:
                request = build_ocsp_request(chain[0], chain[1])
                deadline = time.monotonic() + 10
                while True:
                    reply = ocsp_stub.Check(
                        ocsp_pb2.OcspCheckRequest(request_der=request), timeout=10
                    )
                    status = ocsp.load_der_ocsp_response(reply.response_der).response_status
                    if status is ocsp.OCSPResponseStatus.TRY_LATER:
                        break
                    assert status is ocsp.OCSPResponseStatus.SUCCESSFUL
                    assert time.monotonic() < deadline, "still answering from a silent feed"
                    time.sleep(0.2)
                # The CRL (signed and dated by the CA) is still served from the cache.
                with urllib.request.urlopen(crl_url, timeout=10) as answer:
                    assert answer.read() == crl_before
            finally:
                own.ca.process.send_signal(signal.SIGCONT)
            deadline = time.monotonic() + 10
            while _try_later(ocsp_stub, chain):
                assert time.monotonic() < deadline, "the responder never trusted the feed again"
                time.sleep(0.2)
            assert _ocsp_status(ocsp_stub, chain)[0] == "good"
        assert own.ocsp is not None and "answering tryLater" in own.ocsp.logs()
    finally:
        for service in (own.ocsp, own.ca):
            if service is not None:
                service.stop()


def _try_later(ocsp_stub: ocsp_pb2_grpc.OcspResponderStub, chain: list[x509.Certificate]) -> bool:
    reply = ocsp_stub.Check(
        ocsp_pb2.OcspCheckRequest(request_der=build_ocsp_request(chain[0], chain[1])),
        timeout=10,
    )
    status = ocsp.load_der_ocsp_response(reply.response_der).response_status
    return bool(status is ocsp.OCSPResponseStatus.TRY_LATER)


def test_the_responder_answers_for_the_intermediate_with_a_certificate_from_the_root(
    stack: Stack,
    ca_stub: ca_pb2_grpc.CertificateAuthorityStub,
    ocsp_stub: ocsp_pb2_grpc.OcspResponderStub,
) -> None:
    from tlssim.clock import SystemClock

    chain, _ = _issue(ca_stub, stack)
    root = x509.load_pem_x509_certificates(
        ca_stub.GetTrustBundle(ca_pb2.GetTrustBundleRequest(), timeout=10).pem.encode()
    )[0]
    nonce = os.urandom(16)
    request = build_ocsp_request(chain[1], root, nonce)
    reply = ocsp_stub.Check(ocsp_pb2.OcspCheckRequest(request_der=request), timeout=10)
    result = check_ocsp_response(reply.response_der, chain[1], root, SystemClock(), nonce)
    assert result.status == "good", result.checks
    responder = next(c for c in result.checks if c.name == "ocsp/responder")
    assert "delegated responder" in responder.detail
