"""The ML-DSA hierarchy: its CAs, leaves, CRL and OCSP answers are ML-DSA signed, and the
client-side checks (path validation, CRL and OCSP signatures) accept them."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import mldsa
from cryptography.x509.oid import SignatureAlgorithmOID

from tests.pki.helpers import csr_der
from tests.pki.ocsp_fixtures import store_lookup
from tlssim.pki import (
    Authority,
    ChainVerifier,
    OcspResponder,
    ServedIssuer,
    build_ocsp_request,
    check_ocsp_response,
    issuer_id,
)
from tlssim.pki.keys import build_csr, generate_private_key, key_type_name

HOST = "mldsa65.tlssim.test"


def test_the_hierarchy_is_mldsa87_over_mldsa65(authority: Authority) -> None:
    root = authority.ca("mldsa-root").certificate
    intermediate = authority.ca("mldsa-intermediate").certificate
    assert isinstance(root.public_key(), mldsa.MLDSA87PublicKey)
    assert isinstance(intermediate.public_key(), mldsa.MLDSA65PublicKey)
    assert root.signature_algorithm_oid == SignatureAlgorithmOID.ML_DSA_87
    assert intermediate.signature_algorithm_oid == SignatureAlgorithmOID.ML_DSA_87
    intermediate.verify_directly_issued_by(root)


def test_the_trust_bundle_carries_both_roots(authority: Authority) -> None:
    roots = x509.load_pem_x509_certificates(authority.trust_bundle_pem().encode())
    assert {key_type_name(r.public_key()) for r in roots} == {"ecdsa-p256", "mldsa87"}  # type: ignore[arg-type]


@pytest.mark.parametrize("key_type", ["mldsa44", "mldsa65"])
def test_mldsa_leaves_verify_to_the_mldsa_root(authority: Authority, key_type: str) -> None:
    _, der = csr_der(key_type, HOST)
    issued = authority.issue(der, "mldsa")
    leaf, intermediate = issued.chain
    assert key_type_name(leaf.public_key()) == key_type  # type: ignore[arg-type]
    assert leaf.signature_algorithm_oid == SignatureAlgorithmOID.ML_DSA_65
    verifier = ChainVerifier(authority.trusted_roots(), authority.clock)
    result = verifier.verify([leaf, intermediate], HOST)
    assert result.ok, result.checks
    assert result.verified_chain[-1] == authority.ca("mldsa-root").certificate


def test_an_mldsa_leaf_under_the_classical_root_alone_is_unknown_ca(
    authority: Authority,
) -> None:
    _, der = csr_der("mldsa65", HOST)
    leaf, intermediate = authority.issue(der, "mldsa").chain
    classical_only = ChainVerifier([authority.ca("root").certificate], authority.clock)
    assert classical_only.verify([leaf, intermediate], HOST).alert == "unknown_ca"


def test_the_mldsa_intermediates_crl_is_mldsa_signed(authority: Authority) -> None:
    _, der = csr_der("mldsa44", HOST)
    issued = authority.issue(der, "mldsa-revoked")
    crl = x509.load_der_x509_crl(authority.crl_der("mldsa-intermediate"))
    intermediate = authority.ca("mldsa-intermediate").certificate
    assert crl.signature_algorithm_oid == SignatureAlgorithmOID.ML_DSA_65
    assert crl.is_signature_valid(intermediate.public_key())  # type: ignore[arg-type]
    assert crl.get_revoked_certificate_by_serial_number(issued.leaf.serial_number) is not None
    points = issued.leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert points[0].full_name is not None
    assert str(points[0].full_name[0].value).endswith(f"/{issuer_id(intermediate)}.crl")


def test_ocsp_answers_for_the_mldsa_chain_are_mldsa_signed(authority: Authority) -> None:
    intermediate = authority.ca("mldsa-intermediate").certificate
    responder_key = generate_private_key("mldsa44")
    responder_csr = build_csr(responder_key, "tlssim OCSP responder")
    responder_cert = authority.issue(
        responder_csr.public_bytes(serialization.Encoding.DER),
        f"ocsp-responder@{issuer_id(intermediate)}",
    ).leaf
    assert responder_cert.signature_algorithm_oid == SignatureAlgorithmOID.ML_DSA_65
    served = ServedIssuer.create(intermediate, responder_cert, responder_key)
    responder = OcspResponder([served], store_lookup(authority), authority.clock)

    _, der = csr_der("mldsa65", HOST)
    good = authority.issue(der, "mldsa").leaf
    _, der = csr_der("mldsa65", HOST)
    revoked = authority.issue(der, "mldsa-revoked").leaf
    for cert, status in ((good, "good"), (revoked, "revoked")):
        reply = responder.respond(build_ocsp_request(cert, intermediate))
        checked = check_ocsp_response(reply.der, cert, intermediate, authority.clock)
        assert checked.status == status, checked.checks
        assert next(c for c in checked.checks if c.name == "ocsp/signature").ok
    # A damaged ML-DSA signature is caught.
    damaged = bytearray(responder.respond(build_ocsp_request(good, intermediate)).der)
    responder_der = responder_cert.public_bytes(serialization.Encoding.DER)
    at = bytes(damaged).index(responder_der) - 100  # inside the response's signature
    damaged[at] ^= 0x01
    checked = check_ocsp_response(bytes(damaged), good, intermediate, authority.clock)
    assert checked.status == "unavailable"
    assert checked.alert == "bad_certificate_status_response"
