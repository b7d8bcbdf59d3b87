"""An OCSP responder wired to an authority's store, as the tests need it."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tlssim.pki import Authority, CertStatus, OcspResponder, ServedIssuer, StatusRecord
from tlssim.pki.authority import serial_to_hex
from tlssim.pki.keys import PrivateKey, build_csr, generate_private_key


@dataclass(frozen=True)
class ResponderSetup:
    responder: OcspResponder
    responder_cert: x509.Certificate
    responder_key: PrivateKey
    issuer: x509.Certificate


def store_lookup(authority: Authority):  # type: ignore[no-untyped-def]
    def lookup(issuer: x509.Certificate, serial: int) -> StatusRecord:
        serial_hex = serial_to_hex(serial)
        if authority.store.certificate(serial_hex) is None:
            return StatusRecord(CertStatus.UNKNOWN)
        revocation = authority.store.revocation(serial_hex)
        if revocation is None:
            return StatusRecord(CertStatus.GOOD)
        return StatusRecord(
            CertStatus.REVOKED, revocation.revoked_at, x509.ReasonFlags(revocation.reason)
        )

    return lookup


def delegated_responder(authority: Authority) -> ResponderSetup:
    key = generate_private_key()
    csr = build_csr(key, "tlssim OCSP responder")
    issued = authority.issue(csr.public_bytes(serialization.Encoding.DER), "ocsp-responder")
    issuer = authority.ca("intermediate").certificate
    served = ServedIssuer.create(issuer, issued.leaf, key)
    responder = OcspResponder([served], store_lookup(authority), authority.clock)
    return ResponderSetup(responder, issued.leaf, key, issuer)
