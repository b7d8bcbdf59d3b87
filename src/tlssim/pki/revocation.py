"""Client-side OCSP: build a request, and check a response against the cert and the clock."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from tlssim.clock import Clock
from tlssim.pki.checks import Check, failed, first_alert, passed
from tlssim.pki.keys import MLDSA_PUBLIC_TYPES, PublicKey, certificate_public_key
from tlssim.pki.names import subject_text
from tlssim.pki.ocsp_responder import cert_id_hashes

DEFAULT_SKEW: Final = dt.timedelta(minutes=5)
_BAD_RESPONSE: Final = "bad_certificate_status_response"
_HASHES: Final[dict[str, type[hashes.HashAlgorithm]]] = {
    h.name: h for h in (hashes.SHA1, hashes.SHA256, hashes.SHA384, hashes.SHA512)
}


@dataclass(frozen=True, slots=True)
class OcspVerification:
    """The outcome of checking one OCSP response for one certificate.

    `status` is good / revoked / unknown when every check passed, else unavailable.
    `alert` is certificate_revoked for a revoked certificate, bad_certificate_status_response
    when the response cannot be trusted, and None otherwise (for unknown the caller's
    hard/soft-fail policy decides).
    """

    status: str
    checks: tuple[Check, ...]
    alert: str | None
    this_update: dt.datetime | None = None
    next_update: dt.datetime | None = None
    revocation_time: dt.datetime | None = None
    revocation_reason: str | None = None

    @property
    def detail(self) -> str:
        """One line for the report: the first failure, or what the response said."""
        failure = next((c for c in self.checks if not c.ok), None)
        if failure is not None:
            return f"{failure.name}: {failure.detail}"
        if self.status == "revoked":
            return f"revoked at {self.revocation_time} ({self.revocation_reason})"
        return f"{self.status}, valid until {self.next_update}"


def build_ocsp_request(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    nonce: bytes | None = None,
    algorithm: hashes.HashAlgorithm | None = None,
) -> bytes:
    """A DER OCSPRequest for `cert` (SHA-1 CertID by default, as OpenSSL sends)."""
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, algorithm or hashes.SHA1())
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def _unavailable(checks: list[Check]) -> OcspVerification:
    return OcspVerification("unavailable", tuple(checks), first_alert(tuple(checks)))


def check_ocsp_response(
    response_der: bytes,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    clock: Clock | dt.datetime,
    nonce: bytes | None = None,
    *,
    skew: dt.timedelta = DEFAULT_SKEW,
) -> OcspVerification:
    """Checks an OCSP response: parse, signature, responder authorization, CertID,
    freshness and (when one was sent) nonce; named checks prefixed with "ocsp/".

    `clock` is a Clock or the moment to check at.
    """
    checks: list[Check] = []
    try:
        response = ocsp.load_der_ocsp_response(response_der)
    except ValueError as exc:
        checks.append(failed("ocsp/parse", f"not a DER OCSPResponse: {exc}", _BAD_RESPONSE))
        return _unavailable(checks)
    if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        checks.append(
            failed(
                "ocsp/response-status",
                f"responder answered {response.response_status.name}",
                _BAD_RESPONSE,
            )
        )
        return _unavailable(checks)
    checks.append(passed("ocsp/response-status", "successful"))

    now = clock if isinstance(clock, dt.datetime) else clock.now()
    checks.extend(_signature_checks(response, issuer, now))
    single = _matching_single_response(response, cert, issuer)
    if single is None:
        checks.append(
            failed("ocsp/cert-id", "no response in it is for this certificate", _BAD_RESPONSE)
        )
        return _unavailable(checks)
    checks.append(passed("ocsp/cert-id", f"serial {cert.serial_number:x}"))
    checks.append(_freshness_check(single, now, skew))
    if nonce is not None:
        checks.append(_nonce_check(response, nonce))
    if not all(c.ok for c in checks):
        return _unavailable(checks)

    this_update, next_update = single.this_update_utc, single.next_update_utc
    status = single.certificate_status
    if status is ocsp.OCSPCertStatus.REVOKED:
        reason = single.revocation_reason
        return OcspVerification(
            "revoked",
            tuple(checks),
            "certificate_revoked",
            this_update,
            next_update,
            single.revocation_time_utc,
            reason.value if reason is not None else "unspecified",
        )
    name = "good" if status is ocsp.OCSPCertStatus.GOOD else "unknown"
    return OcspVerification(name, tuple(checks), None, this_update, next_update)


def _signature_checks(
    response: ocsp.OCSPResponse, issuer: x509.Certificate, now: dt.datetime
) -> list[Check]:
    """ "ocsp/responder" (who signed, and may they) and "ocsp/signature"."""
    signer, why = _find_signer(response, issuer)
    if signer is None:
        return [failed("ocsp/responder", why, _BAD_RESPONSE)]
    if signer is not issuer:
        problem = _delegation_problem(signer, issuer, now)
        if problem:
            return [failed("ocsp/responder", problem, _BAD_RESPONSE)]
    responder = passed("ocsp/responder", why)
    algorithm = response.signature_hash_algorithm
    problem = _signature_problem(
        signer, response.signature, response.tbs_response_bytes, algorithm and algorithm.name
    )
    if problem is not None:
        return [responder, failed("ocsp/signature", problem, _BAD_RESPONSE)]
    return [responder, passed("ocsp/signature", "verified")]


@functools.lru_cache(maxsize=256)
def _signature_problem(
    signer: x509.Certificate, signature: bytes, data: bytes, hash_name: str | None
) -> str | None:
    """Why `signer`'s signature over `data` does not verify, or None when it does (cached:
    the same staple is checked by every handshake until the server refreshes it)."""
    try:
        _verify_signature(
            certificate_public_key(signer),
            signature,
            data,
            _HASHES[hash_name]() if hash_name in _HASHES else None,
        )
    except (InvalidSignature, ValueError, TypeError) as exc:
        return str(exc) or "the signature does not verify"
    return None


def _find_signer(
    response: ocsp.OCSPResponse, issuer: x509.Certificate
) -> tuple[x509.Certificate | None, str]:
    if _is_responder(issuer, response):
        return issuer, "signed by the issuing CA"
    for candidate in response.certificates:
        if _is_responder(candidate, response):
            return candidate, f"delegated responder {subject_text(candidate)}"
    return None, "the responder is neither the issuer nor a certificate in the response"


def _is_responder(cert: x509.Certificate, response: ocsp.OCSPResponse) -> bool:
    if response.responder_key_hash is not None:
        return _key_hash(cert) == response.responder_key_hash
    return cert.subject == response.responder_name


@functools.lru_cache(maxsize=256)
def _key_hash(cert: x509.Certificate) -> bytes:
    """SHA-1 of the certificate's public key (the OCSP ResponderID byKey)."""
    return x509.SubjectKeyIdentifier.from_public_key(certificate_public_key(cert)).digest


def _delegation_problem(
    signer: x509.Certificate, issuer: x509.Certificate, now: dt.datetime
) -> str | None:
    """Why a delegated responder may not answer for `issuer`, or None when it may."""
    problem = _delegation_problem_at_any_time(signer, issuer)
    if problem is None and not signer.not_valid_before_utc <= now <= signer.not_valid_after_utc:
        return "the delegated responder certificate is outside its validity period"
    return problem


@functools.lru_cache(maxsize=256)
def _delegation_problem_at_any_time(
    signer: x509.Certificate, issuer: x509.Certificate
) -> str | None:
    """The delegation's problems that do not depend on the time (cached: a responder
    certificate is seen again and again)."""
    if not _directly_issued_by(signer, issuer):
        return "the delegated responder certificate was not issued by the certificate's issuer"
    try:
        usages = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return "the delegated responder certificate has no extendedKeyUsage"
    if ExtendedKeyUsageOID.OCSP_SIGNING not in usages:
        return "the delegated responder certificate lacks the OCSPSigning EKU"
    return None


@functools.lru_cache(maxsize=256)
def _directly_issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether `issuer` signed `cert` (cached: a responder certificate is seen again and again)."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _verify_signature(
    key: PublicKey, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm | None
) -> None:
    if isinstance(key, ed25519.Ed25519PublicKey):
        key.verify(signature, data)
    elif isinstance(key, MLDSA_PUBLIC_TYPES):
        key.verify(signature, data)  # pure ML-DSA, empty context (RFC 9882)
    elif algorithm is None:
        raise ValueError("the response names no signature hash")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, data, ec.ECDSA(algorithm))
    elif isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, data, padding.PKCS1v15(), algorithm)


@functools.lru_cache(maxsize=256)
def _cert_id_hashes(issuer: x509.Certificate, algorithm_name: str) -> tuple[bytes, bytes]:
    return cert_id_hashes(issuer, _HASHES[algorithm_name]())


def _matching_single_response(
    response: ocsp.OCSPResponse, cert: x509.Certificate, issuer: x509.Certificate
) -> ocsp.OCSPSingleResponse | None:
    for single in response.responses:
        if single.serial_number != cert.serial_number:
            continue
        expected = _cert_id_hashes(issuer, single.hash_algorithm.name)
        if (single.issuer_name_hash, single.issuer_key_hash) == expected:
            return single
    return None


def _freshness_check(
    single: ocsp.OCSPSingleResponse, now: dt.datetime, skew: dt.timedelta
) -> Check:
    this_update, next_update = single.this_update_utc, single.next_update_utc
    if this_update > now + skew:
        return failed(
            "ocsp/freshness",
            f"thisUpdate {this_update.isoformat()} is in the future (now {now.isoformat()})",
            _BAD_RESPONSE,
        )
    if next_update is not None and next_update < now - skew:
        return failed(
            "ocsp/freshness",
            f"stale: nextUpdate {next_update.isoformat()} has passed (now {now.isoformat()})",
            _BAD_RESPONSE,
        )
    until = next_update.isoformat() if next_update else "no nextUpdate"
    return passed("ocsp/freshness", f"thisUpdate {this_update.isoformat()}, until {until}")


def _nonce_check(response: ocsp.OCSPResponse, nonce: bytes) -> Check:
    try:
        echoed = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return failed("ocsp/nonce", "the response carries no nonce", _BAD_RESPONSE)
    if echoed != nonce:
        return failed("ocsp/nonce", "the response's nonce differs from ours", _BAD_RESPONSE)
    return passed("ocsp/nonce", "echoed")
