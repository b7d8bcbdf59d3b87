"""Fuzz targets for the PKI's parsers: OCSP requests through the responder and CSRs
through the ca's issuance, on a throwaway authority in a temporary directory."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID
from hypothesis import strategies as st

from tests.fuzz.strategies import mutated
from tlssim.clock import FixedClock
from tlssim.pki.authority import Authority
from tlssim.pki.errors import PkiError
from tlssim.pki.ocsp_responder import (
    CertStatus,
    OcspReply,
    OcspResponder,
    ServedIssuer,
    StatusRecord,
)

# -- the PKI's parsers -------------------------------------------------------------------------

_NOW = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)


@functools.cache
def _authority() -> Authority:
    directory = Path(tempfile.mkdtemp(prefix="tlssim-fuzz-ca-"))
    return Authority.open(directory / "ca", FixedClock(_NOW))


@functools.cache
def _csr_key() -> ed25519.Ed25519PrivateKey:
    """Ed25519 signs deterministically, so a failing CSR shrinks reproducibly."""
    return ed25519.Ed25519PrivateKey.generate()


_NAME_OIDS = [
    NameOID.COMMON_NAME,
    NameOID.ORGANIZATION_NAME,
    NameOID.COUNTRY_NAME,
    NameOID.EMAIL_ADDRESS,
    NameOID.SERIAL_NUMBER,
]
_text = st.text(st.characters(min_codepoint=1, max_codepoint=0x7FF), min_size=1, max_size=30)
_dnsish = st.one_of(
    st.from_regex(r"[a-z0-9*]{1,10}(\.[a-z0-9-]{1,10}){0,3}", fullmatch=True),
    _text,
    st.sampled_from(["127.0.0.1", "::1", "256.1.1.1", "", " ", "a..b", "-x.test"]),
)


@st.composite
def csrs(draw: st.DrawFn) -> tuple[bytes, str]:
    """A signed CSR with odd names and SANs, sometimes byte-mutated; and a profile name."""
    attributes = []
    for oid in draw(st.lists(st.sampled_from(_NAME_OIDS), max_size=3)):
        value = draw(_dnsish if oid == NameOID.COMMON_NAME else _text)
        try:
            attributes.append(x509.NameAttribute(oid, value))
        except ValueError:
            continue
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes))
    sans: list[x509.GeneralName] = []
    for kind, value in draw(st.lists(st.tuples(st.integers(0, 2), _dnsish), max_size=3)):
        try:
            if kind == 0:
                sans.append(x509.DNSName(value))
            elif kind == 1:
                sans.append(x509.RFC822Name(value))
            else:
                sans.append(x509.UniformResourceIdentifier(value))
        except ValueError:
            continue
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    try:
        der = builder.sign(_csr_key(), None).public_bytes(serialization.Encoding.DER)
    except (ValueError, TypeError, UnicodeError):
        der = b"\x30\x00"
    der = draw(st.one_of(st.just(der), mutated(st.just(der))))
    profile = draw(
        st.one_of(st.sampled_from(["server", "must-staple", "ocsp-responder", "revoked"]), _text)
    )
    return der, profile


def _issue(case: tuple[bytes, str]) -> None:
    der, profile = case
    with contextlib.suppress(PkiError):
        _authority().issue(der, profile)


@functools.cache
def _responder() -> tuple[OcspResponder, x509.Certificate]:
    authority = _authority()
    issuer = authority.ca("intermediate")
    served = ServedIssuer.create(issuer.certificate, issuer.certificate, issuer.private_key)

    def lookup(_issuer: x509.Certificate, serial: int) -> StatusRecord:
        if serial % 2:
            return StatusRecord(CertStatus.REVOKED, _NOW, x509.ReasonFlags.key_compromise)
        return StatusRecord(CertStatus.GOOD)

    return OcspResponder([served], lookup, FixedClock(_NOW)), issuer.certificate


@st.composite
def ocsp_requests(draw: st.DrawFn) -> bytes:
    """An OCSP request by hash for our issuer or another, with a nonce, then byte edits."""
    _, issuer = _responder()
    algorithm = draw(
        st.sampled_from([hashes.SHA1(), hashes.SHA256(), hashes.SHA384(), hashes.SHA512()])
    )
    name_hash = draw(st.binary(min_size=algorithm.digest_size, max_size=algorithm.digest_size))
    key_hash = draw(st.binary(min_size=algorithm.digest_size, max_size=algorithm.digest_size))
    if draw(st.booleans()):
        from tlssim.pki.ocsp_responder import cert_id_hashes

        name_hash, key_hash = cert_id_hashes(issuer, algorithm)
    builder = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        name_hash, key_hash, draw(st.integers(1, 2**159)), algorithm
    )
    if draw(st.booleans()):
        builder = builder.add_extension(
            x509.OCSPNonce(draw(st.binary(min_size=1, max_size=40))), critical=False
        )
    der = builder.build().public_bytes(serialization.Encoding.DER)
    return draw(st.one_of(st.just(der), mutated(st.just(der)), st.binary(max_size=40)))


def _ocsp(request_der: bytes) -> None:
    responder, _ = _responder()
    reply = responder.respond(request_der)
    assert isinstance(reply, OcspReply) and reply.der


def pki_targets() -> list[tuple[str, st.SearchStrategy[Any], Callable[[Any], None]]]:
    return [("pki:ocsp_request", ocsp_requests(), _ocsp), ("pki:csr", csrs(), _issue)]
