"""The client's certificate decision: chain checks, then revocation under a policy.

Follows the walkthrough: CA signature and chain, domain, expiry, then revocation status,
from the stapled OCSP response or, without one, a live query to the responder.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cryptography import x509

from tlssim.clock import Clock, monotonic_ms
from tlssim.pki.verify import ChainVerifier, build_ocsp_request, check_ocsp_response
from tlssim.report import Check, Verification
from tlssim.tls import AlertDescription, events

# Sends an OCSP request (DER) to the responder and returns its answer (DER), or raises.
OcspFetcher = Callable[[bytes], Awaitable[bytes]]

POLICIES = ("hard", "soft", "off")


@dataclass(frozen=True)
class CertificatePolicy:
    verifier: ChainVerifier
    server_name: str
    revocation: str  # hard | soft | off
    clock: Clock
    fetch_ocsp: OcspFetcher


async def decide(
    policy: CertificatePolicy,
    received: events.CertificateReceived,
    verification: Verification,
    run_started_ms: float,
) -> AlertDescription | None:
    """Fills `verification` and returns None to accept the chain or the alert to reject it."""
    verification.started_ms = monotonic_ms() - run_started_ms
    try:
        return await _decide(policy, received, verification)
    finally:
        verification.finished_ms = monotonic_ms() - run_started_ms


async def _decide(
    policy: CertificatePolicy, received: events.CertificateReceived, verification: Verification
) -> AlertDescription | None:
    try:
        chain = [x509.load_der_x509_certificate(der) for der in received.chain]
    except ValueError as exc:
        verification.checks.append(Check("parse", False, str(exc), alert="bad_certificate"))
        return AlertDescription.bad_certificate
    verification.chain = chain
    result = policy.verifier.verify(chain, policy.server_name, policy.clock.now())
    verification.checks.extend(_as_check(c) for c in result.checks)
    if result.alert is not None:
        return AlertDescription[result.alert]
    return await _check_revocation(policy, received.ocsp_response, chain, verification)


async def _check_revocation(
    policy: CertificatePolicy,
    staple: bytes | None,
    chain: list[x509.Certificate],
    verification: Verification,
) -> AlertDescription | None:
    started = monotonic_ms()
    revocation: dict[str, object] = {
        "policy": policy.revocation,
        "status": "not_checked",
        "source": None,
    }
    verification.revocation = revocation
    if policy.revocation == "off":
        return None
    if len(chain) < 2:
        revocation.update(status="unavailable", detail="no issuer certificate to build a CertID")
        return _unavailable(policy, verification, "no issuer certificate")
    leaf, issuer = chain[0], chain[1]
    if staple is not None:
        outcome = check_ocsp_response(staple, leaf, issuer, policy.clock.now())
        source = "staple"
    else:
        nonce = os.urandom(16)
        try:
            answer = await policy.fetch_ocsp(build_ocsp_request(leaf, issuer, nonce))
        except Exception as exc:  # the responder is down, slow or unreachable
            revocation.update(
                status="unavailable",
                source="ocsp",
                detail=str(exc) or type(exc).__name__,
                checked_ms=round(monotonic_ms() - started, 3),
            )
            verification.checks.append(
                Check("revocation", False, f"responder unavailable: {exc}", "ocsp")
            )
            return _unavailable(policy, verification, "the OCSP responder is unavailable")
        outcome = check_ocsp_response(answer, leaf, issuer, policy.clock.now(), nonce=nonce)
        source = "ocsp"
    revocation.update(
        status=outcome.status,
        source=source,
        detail=outcome.detail,
        checked_ms=round(monotonic_ms() - started, 3),
    )
    verification.checks.extend(_as_check(c, source) for c in outcome.checks)
    if outcome.status == "revoked":
        return AlertDescription.certificate_revoked
    if outcome.status == "good":
        return None
    if outcome.alert == "bad_certificate_status_response" and source == "staple":
        return AlertDescription.bad_certificate_status_response
    return _unavailable(policy, verification, f"revocation status {outcome.status}")


def _unavailable(
    policy: CertificatePolicy, verification: Verification, why: str
) -> AlertDescription | None:
    if policy.revocation == "hard":
        return AlertDescription.certificate_unknown
    verification.warnings.append(f"soft-fail: {why}; the certificate was accepted")
    return None


def _as_check(check: object, source: str = "") -> Check:
    return Check(
        name=str(getattr(check, "name", "")),
        ok=bool(getattr(check, "ok", False)),
        detail=str(getattr(check, "detail", "")),
        source=source or str(getattr(check, "source", "") or ""),
        alert=getattr(check, "alert", None),
    )
