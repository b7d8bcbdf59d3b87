"""Issuance is authorised: the real ca (under `tlssim up`) refuses anonymous callers and wrong
credentials, keeps each identity to its names and profiles, and bounds what a CSR may carry.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from tests.integration.conftest import LocalStack
from tlssim.pki.authority import issuer_id
from tlssim.pki.enrollment import ENROLLMENT_TOKEN_METADATA_KEY, credential_path
from tlssim.pki.keys import generate_private_key
from tlssim.pki.policy import RESPONDER_COMMON_NAME
from tlssim.rpc.v1 import ca_pb2, ca_pb2_grpc

pytestmark = pytest.mark.integration

Metadata = tuple[tuple[str, str], ...]


def credential(stack: LocalStack, identity: str) -> Metadata:
    token = credential_path(stack.data_dir / "ca", identity).read_text().strip()
    return ((ENROLLMENT_TOKEN_METADATA_KEY, token),)


@pytest.fixture
def ca(stack: LocalStack) -> Iterator[ca_pb2_grpc.CertificateAuthorityStub]:
    with grpc.insecure_channel(stack.env["TLSSIM_CA_ADDR"]) as channel:
        yield ca_pb2_grpc.CertificateAuthorityStub(channel)


def csr_for(common_name: str, *names: x509.GeneralName, ca: bool = False) -> bytes:
    key = generate_private_key()
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name, _validate=False)])
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
    if ca:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True
        )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def dns_csr(name: str) -> bytes:
    return csr_for(name, x509.DNSName(name))


def issue(
    ca: ca_pb2_grpc.CertificateAuthorityStub, csr: bytes, profile: str, metadata: Metadata = ()
) -> grpc.StatusCode:
    try:
        ca.IssueCertificate(
            ca_pb2.IssueCertificateRequest(csr_der=csr, profile=profile),
            metadata=metadata,
            timeout=10,
        )
    except grpc.RpcError as exc:
        code: grpc.StatusCode = exc.code()
        return code
    return grpc.StatusCode.OK


def root_id(ca: ca_pb2_grpc.CertificateAuthorityStub) -> str:
    pem = ca.GetTrustBundle(ca_pb2.GetTrustBundleRequest(), timeout=10).pem
    return issuer_id(x509.load_pem_x509_certificates(pem.encode())[0])


def test_anonymous_and_wrong_credentials_are_unauthenticated(
    stack: LocalStack, ca: ca_pb2_grpc.CertificateAuthorityStub
) -> None:
    root = root_id(ca)
    attempts = [
        (dns_csr("www.google.com"), "server"),
        (dns_csr("*.com"), "server"),
        (csr_for("*"), "server"),
        (csr_for("localhost", x509.DNSName("localhost")), "server"),
        (dns_csr("valid.tlssim.test"), "server"),
        (csr_for(RESPONDER_COMMON_NAME), "ocsp-responder"),
        (csr_for(RESPONDER_COMMON_NAME), f"ocsp-responder@{root}"),
    ]
    wrong = (
        (),
        ((ENROLLMENT_TOKEN_METADATA_KEY, ""),),
        ((ENROLLMENT_TOKEN_METADATA_KEY, "not-a-credential"),),
        ((ENROLLMENT_TOKEN_METADATA_KEY, "x" * 2_000),),
        # The admin token is no enrollment credential.
        ((ENROLLMENT_TOKEN_METADATA_KEY, stack.env["TLSSIM_ADMIN_TOKEN"]),),
    )
    for csr, profile in attempts:
        for metadata in wrong:
            assert issue(ca, csr, profile, metadata) is grpc.StatusCode.UNAUTHENTICATED, (
                profile,
                metadata[:1],
            )
    logs = stack.logs()
    assert "refused UNAUTHENTICATED (no-credential)" in logs
    assert "refused UNAUTHENTICATED (bad-credential)" in logs
    assert "x" * 200 not in logs  # request-derived fields are cut in the log
    # The public parts stay public.
    assert ca.GetTrustBundle(ca_pb2.GetTrustBundleRequest(), timeout=10).pem
    assert ca.GetCrl(ca_pb2.GetCrlRequest(), timeout=10).der


def test_the_server_gets_only_its_hosts_under_server_profiles(
    stack: LocalStack, ca: ca_pb2_grpc.CertificateAuthorityStub
) -> None:
    server = credential(stack, "server")
    root = root_id(ca)
    refused = {
        "outside name": (dns_csr("www.google.com"), "server"),
        "wildcard": (dns_csr("*.tlssim.test"), "server"),
        "bare wildcard": (csr_for("*"), "server"),
        "wildcard tld": (dns_csr("*.com"), "server"),
        "localhost": (dns_csr("localhost"), "server"),
        "IP in CN": (csr_for("127.0.0.1"), "server"),
        "IP in SAN": (
            csr_for("valid.tlssim.test", x509.IPAddress(ipaddress.ip_address("127.0.0.1"))),
            "server",
        ),
        "outside name beside a host": (
            csr_for(
                "valid.tlssim.test", x509.DNSName("valid.tlssim.test"), x509.DNSName("evil.test")
            ),
            "server",
        ),
        "OCSP signing": (csr_for(RESPONDER_COMMON_NAME), "ocsp-responder"),
        "OCSP signing from the root": (csr_for(RESPONDER_COMMON_NAME), f"ocsp-responder@{root}"),
        "CA certificate": (
            csr_for("valid.tlssim.test", x509.DNSName("valid.tlssim.test"), ca=True),
            "server",
        ),
    }
    for what, (csr, profile) in refused.items():
        assert issue(ca, csr, profile, server) is grpc.StatusCode.PERMISSION_DENIED, what
    for host, profile in (("valid.tlssim.test", "server"), ("expired.tlssim.test", "expired")):
        assert issue(ca, dns_csr(host), profile, server) is grpc.StatusCode.OK, host
    logs = stack.logs()
    for reason in ("name-not-allowed", "wildcard", "ip-address", "profile-not-allowed"):
        assert f"refused PERMISSION_DENIED ({reason})" in logs, reason
    assert "refused PERMISSION_DENIED (ca-requested)" in logs


def test_the_responder_gets_only_ocsp_signing_certificates(
    stack: LocalStack, ca: ca_pb2_grpc.CertificateAuthorityStub
) -> None:
    ocsp = credential(stack, "ocsp")
    for csr, profile in (
        (dns_csr("valid.tlssim.test"), "server"),
        (dns_csr("valid.tlssim.test"), "ocsp-responder"),
        (csr_for(RESPONDER_COMMON_NAME, x509.DNSName("valid.tlssim.test")), "ocsp-responder"),
        (csr_for(RESPONDER_COMMON_NAME, ca=True), "ocsp-responder"),
    ):
        assert issue(ca, csr, profile, ocsp) is grpc.StatusCode.PERMISSION_DENIED, profile
    root = root_id(ca)
    for profile in ("ocsp-responder", f"ocsp-responder@{root}"):
        assert issue(ca, csr_for(RESPONDER_COMMON_NAME), profile, ocsp) is grpc.StatusCode.OK
    # The client gets no server or responder certificate.
    client = credential(stack, "client")
    for csr, profile in (
        (dns_csr("valid.tlssim.test"), "server"),
        (csr_for(RESPONDER_COMMON_NAME), "ocsp-responder"),
    ):
        assert issue(ca, csr, profile, client) is grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.filterwarnings("ignore:Attribute's length")
def test_oversized_csrs_are_refused_and_the_ca_keeps_answering(
    stack: LocalStack, ca: ca_pb2_grpc.CertificateAuthorityStub
) -> None:
    server = credential(stack, "server")
    # 1 MB never reaches the ca's code: the gRPC request limit (64 KiB) stops it.
    huge = ca_pb2.IssueCertificateRequest(csr_der=b"\x30" * (1024 * 1024), profile="server")
    with pytest.raises(grpc.RpcError) as too_big:
        ca.IssueCertificate(huge, metadata=server, timeout=10)
    assert too_big.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    many_names = csr_for(
        "valid.tlssim.test", *(x509.DNSName(f"h{i}.tlssim.test") for i in range(40))
    )
    big_subject = csr_for("a" * 40_000)
    for csr in (many_names, big_subject):
        assert len(csr) < 64 * 1024
        assert issue(ca, csr, "server", server) is grpc.StatusCode.INVALID_ARGUMENT
    assert issue(ca, b"x" * 60_000, "server", server) is grpc.StatusCode.INVALID_ARGUMENT
    assert issue(ca, dns_csr("valid.tlssim.test"), "p" * 1000, server) is (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    for _ in range(10):
        issue(ca, big_subject, "server", server)
        issue(ca, big_subject, "server")
    started = time.monotonic()
    assert ca.GetTrustBundle(ca_pb2.GetTrustBundleRequest(), timeout=1).pem
    assert issue(ca, dns_csr("valid.tlssim.test"), "server", server) is grpc.StatusCode.OK
    assert time.monotonic() - started < 1.0
    assert "a" * 200 not in stack.logs()
