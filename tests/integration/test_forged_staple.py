"""The forged-staple attack: an impostor holding the key of a revoked valid.tlssim.test
certificate staples a "good" OCSP answer. It cannot get an OCSP-signing certificate from the
ca, and a staple signed by a key the ca never certified does not fool a hard-fail client.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.integration.conftest import LocalStack
from tests.peers import ServerPeer
from tlssim.pki.admin import ADMIN_TOKEN_METADATA_KEY
from tlssim.pki.authority import issuer_id
from tlssim.pki.enrollment import ENROLLMENT_TOKEN_METADATA_KEY, credential_path
from tlssim.pki.keys import PrivateKey, build_csr, generate_private_key, private_key_to_pem
from tlssim.pki.policy import RESPONDER_COMMON_NAME
from tlssim.rpc.v1 import ca_pb2, ca_pb2_grpc

pytestmark = pytest.mark.integration

OPENSSL = shutil.which("openssl")
HOST = "valid.tlssim.test"


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _self_made_responder() -> tuple[x509.Certificate, PrivateKey]:
    """An OCSP-signing certificate the attacker signed itself, named like the real one."""
    key = generate_private_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, RESPONDER_COMMON_NAME)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        .add_extension(x509.OCSPNoCheck(), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def forged_good_staple(leaf: x509.Certificate, issuer: x509.Certificate) -> bytes:
    responder, key = _self_made_responder()
    now = dt.datetime.now(dt.UTC)
    response = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=leaf,
            issuer=issuer,
            algorithm=hashes.SHA1(),
            cert_status=ocsp.OCSPCertStatus.GOOD,
            this_update=now - dt.timedelta(minutes=1),
            next_update=now + dt.timedelta(hours=1),
            revocation_time=None,
            revocation_reason=None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, responder)
        .certificates([responder])
        .sign(key, hashes.SHA256())
    )
    return response.public_bytes(serialization.Encoding.DER)


@pytest.fixture
def ca(stack: LocalStack) -> Iterator[ca_pb2_grpc.CertificateAuthorityStub]:
    with grpc.insecure_channel(stack.env["TLSSIM_CA_ADDR"]) as channel:
        yield ca_pb2_grpc.CertificateAuthorityStub(channel)


@pytest.mark.skipif(OPENSSL is None, reason="openssl not installed")
def test_a_forged_staple_for_a_revoked_certificate_is_rejected(
    stack: LocalStack, ca: ca_pb2_grpc.CertificateAuthorityStub, tmp_path: Path
) -> None:
    bundle = ca.GetTrustBundle(ca_pb2.GetTrustBundleRequest(), timeout=10).pem
    root = x509.load_pem_x509_certificates(bundle.encode())[0]

    # The attacker asks for an OCSP-signing certificate, anonymously, under every CA.
    responder_csr = build_csr(generate_private_key(), RESPONDER_COMMON_NAME).public_bytes(
        serialization.Encoding.DER
    )
    for profile in ("ocsp-responder", f"ocsp-responder@{issuer_id(root)}"):
        with pytest.raises(grpc.RpcError) as refused:
            ca.IssueCertificate(
                ca_pb2.IssueCertificateRequest(csr_der=responder_csr, profile=profile), timeout=10
            )
        assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED

    # It holds the key of a valid.tlssim.test certificate that was since revoked
    # (keyCompromise): issued to the server once, revoked by the operator.
    key = generate_private_key()
    csr = build_csr(key, HOST, (HOST,)).public_bytes(serialization.Encoding.DER)
    token = credential_path(stack.data_dir / "ca", "server").read_text().strip()
    issued = ca.IssueCertificate(
        ca_pb2.IssueCertificateRequest(csr_der=csr, profile="server"),
        metadata=((ENROLLMENT_TOKEN_METADATA_KEY, token),),
        timeout=10,
    )
    ca.RevokeCertificate(
        ca_pb2.RevokeCertificateRequest(serial_hex=issued.serial_hex, reason="keyCompromise"),
        metadata=((ADMIN_TOKEN_METADATA_KEY, stack.env["TLSSIM_ADMIN_TOKEN"]),),
        timeout=10,
    )
    leaf, intermediate = (x509.load_der_x509_certificate(d) for d in issued.chain_der)

    # The impostor: OpenSSL serving that chain and stapling a "good" answer it signed itself.
    (tmp_path / "leaf.pem").write_bytes(_pem(leaf))
    (tmp_path / "chain.pem").write_bytes(_pem(intermediate))
    (tmp_path / "key.pem").write_bytes(private_key_to_pem(key))
    (tmp_path / "forged.der").write_bytes(forged_good_staple(leaf, intermediate))
    command = ["openssl", "s_server", "-accept", "127.0.0.1:{port}"]
    command += ["-cert", str(tmp_path / "leaf.pem"), "-key", str(tmp_path / "key.pem")]
    command += ["-cert_chain", str(tmp_path / "chain.pem")]
    command += ["-status_file", str(tmp_path / "forged.der"), "-www", "-quiet"]
    with ServerPeer("openssl", command, tmp_path / "impostor.log", stdin_eof=True) as impostor:
        for version in ("1.3", "1.2"):
            report = stack.handshake(
                *("--tcp", impostor.address, "--server-name", HOST, "--tls", version),
                *("--revocation", "hard"),
                ok=False,
            )
            assert report.alert is not None, report
            assert report.alert.description in (
                "certificate_revoked",
                "bad_certificate_status_response",
            ), report
            # The forged staple did arrive, and its signer was not accepted.
            assert any(
                c.name == "ocsp/responder" and c.source == "staple" and not c.ok
                for c in report.checks
            ), report.checks
