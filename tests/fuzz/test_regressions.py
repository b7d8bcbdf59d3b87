"""Inputs the fuzzer found that crashed a parser, kept so they never crash again."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from tlssim.clock import FixedClock
from tlssim.pki.authority import Authority
from tlssim.pki.errors import InvalidRequest, PkiError
from tlssim.pki.ocsp_responder import (
    CertStatus,
    OcspResponder,
    ServedIssuer,
    StatusRecord,
    cert_id_hashes,
)

NOW = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)

#: A well-formed CSR but for its version: 2, where PKCS#10 only has v1 (0). Loading it
#: raises cryptography's InvalidVersion, which is not a ValueError.
CSR_VERSION_2 = bytes.fromhex(
    "3081aa305e020102300c310a300806035504030c0120302a300506032b6570032100e7a12a946f3aee"
    "6dae6d76924da4f6b17f9dbba0f544967df53e7dca00d02603a01f301d06092a86c886f70d01090e31"
    "10300e300c0603551d1104053003820120300506032b6570034100b932c8ce2b3afe8ddd2d5346afac"
    "04259804a31c497606527496c55972dd33113b96c0a732256c2cd221b3fca42c31cb91c5882c732fd1"
    "d8b17abe43b734fd02"
)


def test_csr_with_an_unknown_version_is_an_invalid_request(tmp_path: Path) -> None:
    authority = Authority.open(tmp_path / "ca", FixedClock(NOW))
    with pytest.raises(InvalidRequest):
        authority.issue(CSR_VERSION_2, "server")


def test_csr_with_an_empty_subject_and_an_empty_first_name_is_no_crash(tmp_path: Path) -> None:
    """An empty subject is named after the first subjectAltName: an empty DNS name cannot
    be a CN (1 to 64 characters), so the next usable one is taken, or none."""
    authority = Authority.open(tmp_path / "ca", FixedClock(NOW))
    key = ed25519.Ed25519PrivateKey.generate()

    def csr(*names: str) -> bytes:
        san = x509.SubjectAlternativeName([x509.DNSName(n) for n in names])
        builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
        signed = builder.add_extension(san, critical=False).sign(key, None)
        return signed.public_bytes(serialization.Encoding.DER)

    for names, common_name in ((("", "valid.tlssim.test"), "valid.tlssim.test"), (("",), None)):
        try:
            leaf = authority.issue(csr(*names), "server").chain[0]
        except PkiError:
            continue  # refused is fine; a crash is not
        cn = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        assert [a.value for a in cn] == ([common_name] if common_name else [])


def test_ocsp_request_with_a_negative_serial_gets_an_answer(tmp_path: Path) -> None:
    authority = Authority.open(tmp_path / "ca", FixedClock(NOW))
    issuer = authority.ca("intermediate")
    served = ServedIssuer.create(issuer.certificate, issuer.certificate, issuer.private_key)
    responder = OcspResponder(
        [served], lambda _issuer, _serial: StatusRecord(CertStatus.GOOD), FixedClock(NOW)
    )
    name_hash, key_hash = cert_id_hashes(issuer.certificate, hashes.SHA1())
    request = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        name_hash, key_hash, 0x7EADBEEF, hashes.SHA1()
    )
    der = request.build().public_bytes(serialization.Encoding.DER)
    positive = b"\x02\x04\x7e\xad\xbe\xef"
    assert der.count(positive) == 1
    negative = der.replace(positive, b"\x02\x04\xfe\xad\xbe\xef")  # the fuzzer's edit
    assert ocsp.load_der_ocsp_request(negative).serial_number < 0
    reply = responder.respond(negative)
    assert reply.outcome == "malformedRequest"


#: A CSR whose subject holds a string of the wrong ASN.1 kind: cryptography decodes the
#: subject lazily, so it failed only when the policy read it.
CSR_BAD_SUBJECT_STRING = bytes.fromhex(
    "3081f73081aa02010030383117301506035504030c0e6d74642e79797a6a3833766a7776310c300a0603"
    "5504030c033a3a31310f300d06035504030c0632aa366f6575302a300506032b6570032100708cb99fd8"
    "6b29470ec5cc8fbf18e03f65d11b77d9219a0ecf2fe41723a4777ba03f303d06092a864886f70d01090e"
    "3130302e302c0603551d1104253023820b454344534120502d32353682093235362e312e312e31810931"
    "32372e302e302e31300506032b657003410034a94443ac15a00bc55ca4a892cd6306e0ab08a44241a200"
    "3ce55312539c5f2f5db4244d8e9de76915147c01f3bb5a419e192cad662ae77aea9704eb051b1202"
)


def test_csr_whose_subject_does_not_decode_is_an_invalid_request(tmp_path: Path) -> None:
    authority = Authority.open(tmp_path / "ca", FixedClock(NOW))
    with pytest.raises(InvalidRequest, match="not a well-formed DER CSR"):
        authority.issue(CSR_BAD_SUBJECT_STRING, "must-staple")
