"""Client-side CRLs: where a certificate's CRL (and OCSP responder) is, and checking a CRL
against the clock."""

from __future__ import annotations

import datetime as dt
from typing import Final

from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID

from tlssim.clock import Clock
from tlssim.pki.checks import Check, failed, first_alert, passed
from tlssim.pki.keys import certificate_public_key
from tlssim.pki.revocation import DEFAULT_SKEW, OcspVerification

# A CRL that cannot be used says nothing about the certificate: the caller's policy decides.
_UNUSABLE: Final = "certificate_unknown"


def crl_urls(cert: x509.Certificate) -> list[str]:
    """The http(s) URLs of the certificate's CRL distribution points, in order."""
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except (x509.ExtensionNotFound, ValueError):
        return []
    return [
        str(name.value)
        for point in points
        for name in point.full_name or ()
        if isinstance(name, x509.UniformResourceIdentifier)
        and str(name.value).startswith(("http://", "https://"))
    ]


def ocsp_urls(cert: x509.Certificate) -> list[str]:
    """The http(s) URLs of the OCSP responders the certificate names (its Authority
    Information Access), in order."""
    try:
        access = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except (x509.ExtensionNotFound, ValueError):
        return []
    return [
        str(description.access_location.value)
        for description in access
        if description.access_method == AuthorityInformationAccessOID.OCSP
        and isinstance(description.access_location, x509.UniformResourceIdentifier)
        and str(description.access_location.value).startswith(("http://", "https://"))
    ]


def check_crl(
    crl_der: bytes,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    clock: Clock | dt.datetime,
    *,
    skew: dt.timedelta = DEFAULT_SKEW,
) -> OcspVerification:
    """Checks a DER CRL for `cert`: parse, issuer name, signature by `issuer`, freshness
    (thisUpdate/nextUpdate against the clock), then whether the serial is listed.

    Returns the same shape as an OCSP check (checks named "crl/..."): status good or
    revoked when the CRL is usable, else unavailable.
    """
    checks: list[Check] = []
    try:
        crl = x509.load_der_x509_crl(crl_der)
    except ValueError as exc:
        checks.append(failed("crl/parse", f"not a DER CRL: {exc}", _UNUSABLE))
        return OcspVerification("unavailable", tuple(checks), first_alert(tuple(checks)))
    now = clock if isinstance(clock, dt.datetime) else clock.now()
    if crl.issuer != issuer.subject:
        checks.append(failed("crl/issuer", f"issued by {crl.issuer.rfc4514_string()}", _UNUSABLE))
    else:
        checks.append(passed("crl/issuer", issuer.subject.rfc4514_string()))
    try:
        signature_ok = crl.is_signature_valid(certificate_public_key(issuer))
    except Exception as exc:  # unsupported key or algorithm
        checks.append(failed("crl/signature", f"cannot check: {exc}", _UNUSABLE))
    else:
        checks.append(
            passed("crl/signature", "verified by the issuer")
            if signature_ok
            else failed("crl/signature", "the signature does not verify", _UNUSABLE)
        )
    checks.append(_freshness(crl, now, skew))
    if not all(c.ok for c in checks):
        return OcspVerification("unavailable", tuple(checks), first_alert(tuple(checks)))
    entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    if entry is None:
        checks.append(passed("crl/serial", f"serial {cert.serial_number:x} is not listed"))
        return OcspVerification(
            "good", tuple(checks), None, crl.last_update_utc, crl.next_update_utc
        )
    checks.append(passed("crl/serial", f"serial {cert.serial_number:x} is listed"))
    try:
        reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.value
    except x509.ExtensionNotFound:
        reason = "unspecified"
    return OcspVerification(
        "revoked",
        tuple(checks),
        "certificate_revoked",
        crl.last_update_utc,
        crl.next_update_utc,
        entry.revocation_date_utc,
        reason,
    )


def _freshness(crl: x509.CertificateRevocationList, now: dt.datetime, skew: dt.timedelta) -> Check:
    this_update, next_update = crl.last_update_utc, crl.next_update_utc
    if this_update > now + skew:
        return failed(
            "crl/freshness",
            f"thisUpdate {this_update.isoformat()} is in the future (now {now.isoformat()})",
            _UNUSABLE,
        )
    if next_update is None:
        return failed("crl/freshness", "the CRL has no nextUpdate", _UNUSABLE)
    if next_update < now - skew:
        return failed(
            "crl/freshness",
            f"stale: nextUpdate {next_update.isoformat()} has passed (now {now.isoformat()})",
            _UNUSABLE,
        )
    return passed(
        "crl/freshness", f"thisUpdate {this_update.isoformat()}, until {next_update.isoformat()}"
    )
