"""The ca's side of ACME: the acme identity's policy, lifetimes, and what it may revoke."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.acme.client import csr_for
from tlssim import rpcutil
from tlssim.clock import SystemClock
from tlssim.pki import Authority
from tlssim.pki.enrollment import (
    ENROLLMENT_TOKEN_METADATA_KEY,
    AdminToken,
    EnrollmentCredentials,
    credential_path,
)
from tlssim.pki.errors import PolicyRefused
from tlssim.pki.keys import build_csr
from tlssim.pki.policy import build_policies
from tlssim.rpc.v1 import ca_pb2, ca_pb2_grpc
from tlssim.services.ca import CertificateAuthorityService

ACME = build_policies()["acme"]


@pytest.fixture
def authority(tmp_path: Path) -> Iterator[Authority]:
    opened = Authority.open(tmp_path / "ca", SystemClock(), ocsp_url="http://127.0.0.1:8080")
    yield opened
    opened.close()


@pytest.mark.parametrize(
    "names", [["tlssim.test"], ["a.b.tlssim.test", "127.0.0.1"], ["::1"], ["127.9.9.9"]]
)
def test_acme_may_have_the_lab_zone_and_loopback(authority: Authority, names: list[str]) -> None:
    issued = authority.issue(csr_for(names), "acme", policy=ACME)
    assert issued.leaf.issuer == authority.ca("intermediate").certificate.subject


@pytest.mark.parametrize(
    ("names", "reason"),
    [
        (["example.com"], "name-not-allowed"),
        (["tlssim.test.example.com"], "name-not-allowed"),
        (["10.0.0.1"], "ip-address"),
        (["*.tlssim.test"], "wildcard"),
    ],
)
def test_acme_may_not_have_anything_else(
    authority: Authority, names: list[str], reason: str
) -> None:
    with pytest.raises(PolicyRefused) as refused:
        authority.issue(csr_for(names), "acme", policy=ACME)
    assert refused.value.reason == reason


def test_acme_gets_only_its_profile_and_the_server_no_ip(authority: Authority) -> None:
    with pytest.raises(PolicyRefused):
        authority.issue(csr_for(["valid.tlssim.test"]), "server", policy=ACME)
    with pytest.raises(PolicyRefused) as refused:
        authority.issue(csr_for(["127.0.0.1"]), "server", policy=build_policies()["server"])
    assert refused.value.reason == "ip-address"


def test_a_lifetime_shortens_the_profile_and_never_lengthens_it(authority: Authority) -> None:
    short = authority.issue(csr_for(["s.tlssim.test"]), "acme", lifetime=dt.timedelta(minutes=5))
    assert short.leaf.not_valid_after_utc - short.leaf.not_valid_before_utc == dt.timedelta(
        minutes=5
    )
    long = authority.issue(csr_for(["l.tlssim.test"]), "acme", lifetime=dt.timedelta(days=900))
    assert long.leaf.not_valid_after_utc - long.leaf.not_valid_before_utc == dt.timedelta(days=90)


def test_an_empty_subject_gets_its_first_name_as_cn(authority: Authority) -> None:
    issued = authority.issue(csr_for(["first.tlssim.test", "second.tlssim.test"]), "acme")
    assert issued.leaf.subject.rfc4514_string() == "CN=first.tlssim.test"
    assert authority.store.listing("first.tlssim.test", False, 10)


def test_the_acme_credential_revokes_acme_certificates_only(tmp_path: Path) -> None:
    async def main() -> None:
        data = tmp_path / "ca"
        authority = Authority.open(data, SystemClock(), ocsp_url="http://127.0.0.1:8080")
        service = CertificateAuthorityService(
            authority, AdminToken(data), EnrollmentCredentials.open(data), build_policies()
        )
        server = rpcutil.create_server()
        ca_pb2_grpc.add_CertificateAuthorityServicer_to_server(service, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        token = credential_path(data, "acme").read_text().strip()
        as_acme = ((ENROLLMENT_TOKEN_METADATA_KEY, token),)
        key = ec.generate_private_key(ec.SECP256R1())
        server_csr = build_csr(key, "valid.tlssim.test", ("valid.tlssim.test",))
        theirs = authority.issue(server_csr.public_bytes(serialization.Encoding.DER), "server")
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = ca_pb2_grpc.CertificateAuthorityStub(channel)
                reply = await stub.IssueCertificate(
                    ca_pb2.IssueCertificateRequest(
                        csr_der=csr_for(["mine.tlssim.test"]), profile="acme", lifetime_seconds=600
                    ),
                    metadata=as_acme,
                )
                leaf = x509.load_der_x509_certificate(reply.chain_der[0])
                assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == dt.timedelta(
                    seconds=600
                )
                revoke = functools.partial(stub.RevokeCertificate, metadata=as_acme)
                await revoke(ca_pb2.RevokeCertificateRequest(serial_hex=reply.serial_hex))
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await revoke(ca_pb2.RevokeCertificateRequest(serial_hex=theirs.serial_hex))
                assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await stub.IssueCertificate(
                        ca_pb2.IssueCertificateRequest(
                            csr_der=csr_for(["x.example.com"]), profile="acme"
                        ),
                        metadata=as_acme,
                    )
                assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        finally:
            await server.stop(None)
            await service.close()
            authority.close()

    asyncio.run(main())
