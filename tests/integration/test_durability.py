"""No acknowledged revocation is lost when the ca and the responder die with SIGKILL.

The services run as separate `tlssim serve NAME` processes (what `tlssim up` starts), so
that two of them can be killed and restarted on the same data directory while the server
and the client keep running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tlssim.clock import SystemClock
from tlssim.harness.localstack import handshake_report, stack_env
from tlssim.pki import build_ocsp_request, check_ocsp_response
from tlssim.pki.admin import ADMIN_TOKEN_METADATA_KEY
from tlssim.pki.enrollment import ENROLLMENT_TOKEN_METADATA_KEY, credential_path, read_token
from tlssim.pki.keys import build_csr, generate_private_key
from tlssim.report.model import Report
from tlssim.report.revocation import RevocationSource, RevocationStatus
from tlssim.rpc.v1 import ca_pb2, ca_pb2_grpc, ocsp_pb2, ocsp_pb2_grpc

pytestmark = pytest.mark.integration

STARTUP_TIMEOUT_S = 60
HOST = "ecdsa-p256.tlssim.test"
BURST = 20
HEALTH = {
    "ca": ("TLSSIM_CA_ADDR", "tlssim.rpc.v1.CertificateAuthority"),
    "ocsp": ("TLSSIM_OCSP_ADDR", "tlssim.rpc.v1.OcspResponder"),
    "server": ("TLSSIM_SERVER_ADDR", "tlssim.rpc.v1.TlsServer"),
    "client": ("TLSSIM_CLIENT_ADDR", "tlssim.rpc.v1.TlsClient"),
}


@dataclass
class Services:
    env: dict[str, str]
    tmp: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def start(self, name: str) -> None:
        with (self.tmp / f"{name}.log").open("ab") as out:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "tlssim", "serve", name],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        variable, service = HEALTH[name]
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        with grpc.insecure_channel(self.env[variable]) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                if self.processes[name].poll() is not None:
                    pytest.fail(f"{name} exited:\n{self.log(name)}")
                try:
                    request = health_pb2.HealthCheckRequest(service=service)
                    if health.Check(request, timeout=1).status == 1:  # SERVING
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.1)
        pytest.fail(f"{name} did not become healthy:\n{self.log(name)}")

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def tlssim(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tlssim", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def handshake(self, *args: str) -> Report:
        return handshake_report(self.tlssim("handshake", "--json", "--server-name", HOST, *args))


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    started = Services(stack_env(tmp_path, TLSSIM_ADMIN_TOKEN="integration-test-token"), tmp_path)
    try:
        for name in ("ca", "ocsp", "server", "client"):
            started.start(name)
        yield started
    finally:
        started.stop_all()


def _ocsp_status(address: str, chain: list[x509.Certificate]) -> str:
    nonce = os.urandom(16)
    with grpc.insecure_channel(address) as channel:
        stub = ocsp_pb2_grpc.OcspResponderStub(channel)
        reply = stub.Check(
            ocsp_pb2.OcspCheckRequest(request_der=build_ocsp_request(chain[0], chain[1], nonce)),
            timeout=10,
        )
    result = check_ocsp_response(reply.response_der, chain[0], chain[1], SystemClock(), nonce)
    return result.status


def test_acknowledged_revocations_survive_kill_9_of_ca_and_responder(
    services: Services,
) -> None:
    env = services.env
    before = services.handshake("--revocation", "hard")
    assert before.ok, before
    host_serial = before.chain[0].serial

    done = services.tlssim("ca", "revoke", host_serial, "--reason", "keyCompromise")
    assert done.returncode == 0, done.stderr

    # A burst of issuances and revocations, each acknowledged, then SIGKILL straight after.
    chains: list[list[x509.Certificate]] = []
    with grpc.insecure_channel(env["TLSSIM_CA_ADDR"]) as channel:
        ca = ca_pb2_grpc.CertificateAuthorityStub(channel)
        token = ((ADMIN_TOKEN_METADATA_KEY, env["TLSSIM_ADMIN_TOKEN"]),)
        # Issued as the server would be: its credential, one of its names.
        server_token = read_token(credential_path(Path(env["TLSSIM_DATA_DIR"]) / "ca", "server"))
        as_server = ((ENROLLMENT_TOKEN_METADATA_KEY, server_token),)
        for _ in range(BURST):
            name = "valid.tlssim.test"
            csr = build_csr(generate_private_key(), name, (name,))
            issued = ca.IssueCertificate(
                ca_pb2.IssueCertificateRequest(
                    csr_der=csr.public_bytes(serialization.Encoding.DER)
                ),
                metadata=as_server,
                timeout=10,
            )
            chains.append([x509.load_der_x509_certificate(d) for d in issued.chain_der])
            ca.RevokeCertificate(
                ca_pb2.RevokeCertificateRequest(serial_hex=issued.serial_hex, reason="superseded"),
                metadata=token,
                timeout=10,
            )
    services.kill("ca")
    services.kill("ocsp")

    services.start("ca")
    services.start("ocsp")  # healthy only once it has caught up with the feed

    for chain in chains:
        assert _ocsp_status(env["TLSSIM_OCSP_ADDR"], chain) == "revoked"
    points = chains[0][0].extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert points[0].full_name is not None
    with urllib.request.urlopen(str(points[0].full_name[0].value), timeout=10) as answer:
        crl = x509.load_der_x509_crl(answer.read())
    listed = {entry.serial_number for entry in crl}
    assert {chain[0].serial_number for chain in chains} <= listed
    assert int(host_serial, 16) in listed

    # The client (still running) reaches the restarted responder: the host is revoked. Its
    # channel may be between reconnect attempts for a moment (then the CRL answers, as
    # revoked too); within a few seconds the responder itself says so.
    deadline = time.monotonic() + 5
    while True:
        live = services.handshake("--revocation", "hard", "--no-staple")
        assert live.alert is not None, live
        assert live.alert.description == "certificate_revoked"
        if live.revocation.source == RevocationSource.OCSP or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert live.revocation.source == RevocationSource.OCSP
    # And the server's next staple says so too.
    deadline = time.monotonic() + 15
    while True:
        stapled = services.handshake("--revocation", "hard")
        if stapled.revocation.status == RevocationStatus.REVOKED:
            break
        assert time.monotonic() < deadline, stapled.revocation
        time.sleep(0.5)
    assert stapled.revocation.source == RevocationSource.STAPLE
    assert stapled.alert is not None
    assert stapled.alert.description == "certificate_revoked"
