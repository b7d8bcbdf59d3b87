"""The client's certificate decision: chain checks, then revocation under a policy.

Follows the walkthrough: CA signature and chain, domain, expiry, then revocation status of
every certificate of the verified path below the trust anchor:

- the leaf: the stapled OCSP response, else a live query to the responder;
- each intermediate: a live query to the responder (its answer for an intermediate is
  signed by a delegated responder certificate from that intermediate's issuer), cached for
  a few seconds (StatusCache) so that a stream of handshakes does not ask again and again;
- when the responder cannot answer (down, slow, tryLater, unauthorized, a bad response), the
  CRL from the certificate's CRL distribution point (HttpCrlFetcher, with a short timeout),
  checked against the issuer's signature and the client's clock.

"The responder" is the lab's own (over gRPC) only for a path that ends at one of the lab's
roots (`lab_roots`): it knows nothing of other certificates. A certificate from elsewhere is
asked about where it says: the OCSP URL of its AIA, over HTTP POST (HttpOcspFetcher: a size
and a time limit, off the event loop), its answer checked the same way (signed by the issuer
or a delegated responder with id-kp-OCSPSigning, CertID, thisUpdate/nextUpdate, our nonce).

When asked to (`fetch_issuer`, off by default as in OpenSSL), a chain that leads to no
trust anchor is completed as browsers do: the issuer's certificate is fetched from the AIA
caIssuers URL of the last certificate (HttpIssuerFetcher: http, a size and a time limit),
up to MAX_AIA_FETCHES times, and the chain verified again.

Alerts: certificate_revoked for any revoked certificate; bad_certificate_status_response for
a bad or stale staple, or no staple for a must-staple certificate (policy hard or soft);
certificate_unknown when the status cannot be established under the hard policy (soft
accepts with a warning; off checks nothing).

The decision is a value (decision.Decision): what the report makes of it is not known here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from cryptography.x509.oid import AuthorityInformationAccessOID

from tlssim.client.decision import Decision
from tlssim.client.status import (
    CertificateStatus,
    CrlFetcher,
    HttpCrlFetcher,
    HttpOcspFetcher,
    IssuerFetcher,
    OcspFetcher,
    OcspUrlFetcher,
    StatusCache,
)
from tlssim.clock import Clock, monotonic_ms
from tlssim.pki.checks import Check, failed, passed
from tlssim.pki.crl import check_crl, crl_urls, ocsp_urls
from tlssim.pki.names import subject_text
from tlssim.pki.verify import (
    ChainVerification,
    ChainVerifier,
    build_ocsp_request,
    check_ocsp_response,
)
from tlssim.report.revocation import (
    LAB_RESPONDER,
    STAPLED,
    CertificateRevocation,
    Revocation,
    RevocationPolicy,
    RevocationSource,
    RevocationStatus,
)
from tlssim.tls import AlertDescription, events

_BAD_STATUS: Final = "bad_certificate_status_response"
_DER: Final = Encoding.DER
_GOOD, _REVOKED = RevocationStatus.GOOD, RevocationStatus.REVOKED
_UNAVAILABLE = RevocationStatus.UNAVAILABLE
# A certificate from outside the lab may name neither: no one can be asked about it.
NO_LOCATION: Final = "the certificate names no OCSP responder or CRL"
#: How many issuers an AIA chase fetches, one above the other, before it gives up.
MAX_AIA_FETCHES: Final = 4


@dataclass(frozen=True, kw_only=True)
class CertificatePolicy:
    """How one handshake's certificate is judged. `status_cache` is where intermediates'
    answers are kept: pass one shared cache to every policy for it to help."""

    verifier: ChainVerifier
    server_name: str  # the name the certificate must hold
    revocation: RevocationPolicy
    clock: Clock
    #: The lab's roots: a path that ends at one is the lab's, and `fetch_ocsp` (the lab's
    #: responder) answers for it; any other is asked about at the URLs it names.
    lab_roots: frozenset[x509.Certificate]
    fetch_ocsp: OcspFetcher
    fetch_ocsp_url: OcspUrlFetcher = field(default_factory=HttpOcspFetcher)
    fetch_crl: CrlFetcher = field(default_factory=HttpCrlFetcher)
    status_cache: StatusCache = field(default_factory=StatusCache)
    #: Set: a chain without a path to a trust anchor is completed from AIA caIssuers URLs.
    fetch_issuer: IssuerFetcher | None = None

    async def decide(self, received: events.CertificateReceived) -> Decision:
        """The decision on the server's chain: its alert is None to accept it."""
        try:
            chain = tuple(_load_fully(der) for der in received.chain)
        except ValueError as exc:
            check = Check("parse", False, str(exc), alert="bad_certificate")
            return Decision(alert=AlertDescription.bad_certificate, checks=(check,))
        result = self.verifier.verify(list(chain), self.server_name, self.clock.now())
        fetched: tuple[Check, ...] = ()
        if result.alert == "unknown_ca" and self.fetch_issuer is not None:
            result, fetched = await self._chase_aia(chain, result, self.fetch_issuer)
        if result.alert is not None:
            return Decision(
                alert=AlertDescription[result.alert],
                chain=chain,
                checks=(*fetched, *result.checks),
            )
        path = list(result.verified_chain) or list(chain)
        revoked = await _check_revocation(self, received.ocsp_response, path)
        return Decision(
            alert=revoked.alert,
            chain=chain,
            checks=(*fetched, *result.checks, *revoked.checks),
            revocation=revoked.revocation,
            warnings=revoked.warnings,
        )

    async def _chase_aia(
        self,
        chain: tuple[x509.Certificate, ...],
        result: ChainVerification,
        fetch: IssuerFetcher,
    ) -> tuple[ChainVerification, tuple[Check, ...]]:
        """Fetches the missing issuers named by caIssuers, one above the other, verifying
        again after each; the last verification and an "aia/N" check per fetch."""
        completed = list(chain)
        checks: list[Check] = []
        for number in range(1, MAX_AIA_FETCHES + 1):
            name = f"aia/{number}"
            last = completed[-1]
            subject = last.subject.rfc4514_string() or "the certificate with an empty subject"
            urls = ca_issuers_urls(last)
            if not urls:
                checks.append(failed(name, f"{subject} names no caIssuers URL", "unknown_ca"))
                break
            try:
                body = await fetch(urls[0])
                issuer = load_issuer(body)
            except Exception as exc:  # unreachable, slow, too large, not a certificate
                why = str(exc) or type(exc).__name__
                checks.append(failed(name, f"the issuer at {urls[0]}: {why}", "unknown_ca"))
                break
            completed.append(issuer)
            checks.append(
                passed(
                    name,
                    f"fetched {issuer.subject.rfc4514_string()} ({len(body)} bytes) from "
                    f"{urls[0]}, the caIssuers of {subject}",
                )
            )
            result = self.verifier.verify(completed, self.server_name, self.clock.now())
            if result.alert != "unknown_ca":
                break
        return result, tuple(checks)


def ca_issuers_urls(cert: x509.Certificate) -> list[str]:
    """The http URLs where the certificate says its issuer's certificate is (AIA)."""
    try:
        access = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except (x509.ExtensionNotFound, ValueError):
        return []
    return [
        str(d.access_location.value)
        for d in access
        if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
        and str(d.access_location.value).startswith("http://")
    ]


def load_issuer(body: bytes) -> x509.Certificate:
    """The certificate a caIssuers URL answers: DER (RFC 5280 4.2.2.1), a PKCS#7
    certs-only bundle (its first certificate), or PEM."""
    if body.lstrip().startswith(b"-----BEGIN"):
        return _load_fully(x509.load_pem_x509_certificates(body)[0].public_bytes(_DER))
    try:
        return _load_fully(body)
    except ValueError:
        bundle = pkcs7.load_der_pkcs7_certificates(body)
        if not bundle:
            raise ValueError("an empty PKCS#7 bundle") from None
        return _load_fully(bundle[0].public_bytes(_DER))


# Certificates parsed completely, by their DER: servers present the same few chains again and
# again, and a parsed certificate is immutable. Parse failures are not kept.
_PARSED: dict[bytes, x509.Certificate] = {}
_PARSED_MAX: Final = 256


def _load_fully(der: bytes) -> x509.Certificate:
    """Parses a certificate completely: `cryptography` decodes fields lazily, so a damaged
    name or extension would otherwise only fail later, far from here."""
    cert = _PARSED.get(der)
    if cert is not None:
        return cert
    cert = x509.load_der_x509_certificate(der)
    _ = (cert.subject, cert.issuer, cert.extensions, cert.not_valid_before_utc)
    _ = (cert.not_valid_after_utc, cert.public_key(), cert.signature_hash_algorithm)
    if len(_PARSED) >= _PARSED_MAX:
        _PARSED.clear()
    _PARSED[bytes(der)] = cert
    return cert


@dataclass(frozen=True, kw_only=True, slots=True)
class _RevocationOutcome:
    alert: AlertDescription | None
    revocation: Revocation
    checks: tuple[Check, ...] = ()
    warnings: tuple[str, ...] = ()


async def _check_revocation(
    policy: CertificatePolicy, staple: bytes | None, path: Sequence[x509.Certificate]
) -> _RevocationOutcome:
    """Checks every certificate of `path` (leaf first, ending at the trust anchor) but the
    anchor, concurrently, and decides under the policy."""
    started = monotonic_ms()
    if policy.revocation is RevocationPolicy.OFF:
        return _RevocationOutcome(
            alert=None,
            revocation=Revocation(policy=policy.revocation, status=RevocationStatus.NOT_CHECKED),
        )
    if len(path) < 2:
        revocation = Revocation(
            policy=policy.revocation,
            status=_UNAVAILABLE,
            detail="no issuer certificate to build a CertID",
        )
        return _unavailable(policy, revocation, (), "no issuer certificate")
    pairs = list(itertools.pairwise(path))
    lab = path[-1] in policy.lab_roots
    asking = [
        _leaf_status(policy, lab, staple, *pairs[0]),
        *(
            _intermediate_status(policy, lab, position, cert, issuer)
            for position, (cert, issuer) in enumerate(pairs[1:], start=1)
        ),
    ]
    # Concurrently when more than one may wait on a responder; else in turn, without a task
    # each (a staple, and statuses already cached, are answered at once).
    waiting = (staple is None) + sum(policy.status_cache.get(c) is None for c, _ in pairs[1:])
    if waiting > 1:
        statuses = list(await asyncio.gather(*asking))
    else:
        statuses = [await status for status in asking]
    deciding = _deciding(statuses)
    revocation = Revocation(
        policy=policy.revocation,
        status=deciding.status,
        source=deciding.source,
        detail=deciding.detail
        if deciding.position == 0
        else f"{deciding.label}: {deciding.detail}",
        checked_ms=round(monotonic_ms() - started, 3),
        certificates=tuple(
            CertificateRevocation(
                position=s.position,
                subject=subject_text(s.cert),
                serial=format(s.cert.serial_number, "x"),
                status=s.status,
                source=s.source,
                detail=s.detail,
                location=s.location,
            )
            for s in statuses
        ),
        location=deciding.location,
    )
    leaf = statuses[0]
    checks = (
        *(Check(c.name, c.ok, c.detail, c.alert, _source_of(c, leaf.source)) for c in leaf.checks),
        *(
            Check(
                f"revocation/{s.label.replace(' ', '-')}",
                s.status is _GOOD,
                _status_detail(s.status, s.detail),
                alert=_alert_for(s, policy),
                source=s.source.value if s.source else "",
            )
            for s in statuses
        ),
    )
    if deciding.status is _REVOKED:
        alert: AlertDescription | None = AlertDescription.certificate_revoked
    elif deciding.alert == _BAD_STATUS:
        alert = AlertDescription.bad_certificate_status_response
    elif deciding.status is _GOOD:
        alert = None
    else:
        why = f"revocation status {deciding.status} ({deciding.label}: {deciding.detail})"
        return _unavailable(policy, revocation, checks, why)
    return _RevocationOutcome(alert=alert, revocation=revocation, checks=checks)


def _deciding(statuses: Sequence[CertificateStatus]) -> CertificateStatus:
    """The certificate whose status decides: revoked first, then a bad or missing staple,
    then any other status that is not good, else the leaf."""
    wanted: tuple[Callable[[CertificateStatus], bool], ...] = (
        lambda s: s.status is _REVOKED,
        lambda s: s.alert is not None,
        lambda s: s.status is not _GOOD,
    )
    for matches in wanted:
        found = next((s for s in statuses if matches(s)), None)
        if found is not None:
            return found
    return statuses[0]


def _alert_for(status: CertificateStatus, policy: CertificatePolicy) -> str | None:
    if status.status is _GOOD:
        return None
    if status.status is _REVOKED:
        return "certificate_revoked"
    if status.alert:
        return status.alert
    return "certificate_unknown" if policy.revocation is RevocationPolicy.HARD else None


def _source_of(check: Check, leaf_source: RevocationSource | None) -> str:
    if check.name.startswith("crl/"):
        return RevocationSource.CRL.value
    return (leaf_source if leaf_source is RevocationSource.STAPLE else RevocationSource.OCSP).value


async def _leaf_status(
    policy: CertificatePolicy,
    lab: bool,
    staple: bytes | None,
    leaf: x509.Certificate,
    issuer: x509.Certificate,
) -> CertificateStatus:
    if staple is not None:
        outcome = check_ocsp_response(staple, leaf, issuer, policy.clock.now())
        return CertificateStatus(
            position=0,
            cert=leaf,
            status=RevocationStatus(outcome.status),
            source=RevocationSource.STAPLE,
            detail=outcome.detail,
            checks=tuple(outcome.checks),
            alert=_BAD_STATUS if outcome.alert == _BAD_STATUS else None,
            location=STAPLED,
        )
    if _must_staple(leaf):
        return CertificateStatus(
            position=0,
            cert=leaf,
            status=_UNAVAILABLE,
            source=None,
            detail="the certificate requires a stapled OCSP response (must-staple) and none came",
            alert=_BAD_STATUS,
        )
    return await _live_status(policy, lab, 0, leaf, issuer)


async def _intermediate_status(
    policy: CertificatePolicy,
    lab: bool,
    position: int,
    cert: x509.Certificate,
    issuer: x509.Certificate,
) -> CertificateStatus:
    cached = policy.status_cache.get(cert)
    if cached is not None:
        return dataclasses.replace(
            cached, position=position, detail=f"{cached.detail} (cached)", alert=None
        )
    status = await _live_status(policy, lab, position, cert, issuer)
    valid_for_s = (
        None
        if status.next_update is None
        else (status.next_update - policy.clock.now()).total_seconds()
    )
    policy.status_cache.put(status, valid_for_s)
    return status


async def _live_status(
    policy: CertificatePolicy,
    lab: bool,
    position: int,
    cert: x509.Certificate,
    issuer: x509.Certificate,
) -> CertificateStatus:
    """The responder's answer; when it has none, the CRL's. A certificate that names no OCSP
    responder is not asked about; one outside the lab is asked at the URL it names, never
    the lab's responder (which knows only the lab's certificates)."""
    nonce = os.urandom(16)
    failed_checks: tuple[Check, ...] = ()
    responders = ocsp_urls(cert)
    location = ""
    if not responders:
        if not crl_urls(cert):
            return CertificateStatus(
                position=position, cert=cert, status=_UNAVAILABLE, source=None, detail=NO_LOCATION
            )
        why = "the certificate names no OCSP responder"
    else:
        location = LAB_RESPONDER if lab else responders[0]
        request = build_ocsp_request(cert, issuer, nonce)
        try:
            if lab:
                answer = await policy.fetch_ocsp(request)
            else:
                answer = await policy.fetch_ocsp_url(location, request)
        except Exception as exc:  # the responder is down, slow or unreachable
            where = "" if lab else f" at {location}"
            why = f"responder unavailable{where}: {exc or type(exc).__name__}"
        else:
            outcome = check_ocsp_response(answer, cert, issuer, policy.clock.now(), nonce=nonce)
            if outcome.status != _UNAVAILABLE:
                return CertificateStatus(
                    position=position,
                    cert=cert,
                    status=RevocationStatus(outcome.status),
                    source=RevocationSource.OCSP,
                    detail=outcome.detail if lab else f"{outcome.detail} (OCSP {location})",
                    checks=tuple(outcome.checks),
                    next_update=outcome.next_update,
                    location=location,
                )
            why = f"responder: {outcome.detail}" if lab else f"{location}: {outcome.detail}"
            failed_checks = tuple(outcome.checks)
    unavailable = CertificateStatus(
        position=position,
        cert=cert,
        status=_UNAVAILABLE,
        source=RevocationSource.OCSP,
        detail=f"{why}; the certificate names no CRL",
        checks=failed_checks,
        location=location,
    )
    urls = crl_urls(cert)
    if not urls:
        return unavailable
    try:
        crl_der = await policy.fetch_crl(urls[0])
    except Exception as exc:
        return dataclasses.replace(
            unavailable,
            source=RevocationSource.CRL,
            detail=f"{why}; CRL {urls[0]} unavailable: {exc or type(exc).__name__}",
            location=urls[0],
        )
    outcome = check_crl(crl_der, cert, issuer, policy.clock.now())
    fallback = "CRL fallback" if lab else f"CRL {urls[0]}"
    return CertificateStatus(
        position=position,
        cert=cert,
        status=RevocationStatus(outcome.status),
        source=RevocationSource.CRL,
        detail=f"{outcome.detail} ({fallback}; {why})",
        checks=(*failed_checks, *outcome.checks),
        next_update=outcome.next_update,
        location=urls[0],
    )


def _must_staple(cert: x509.Certificate) -> bool:
    try:
        features = cert.extensions.get_extension_for_class(x509.TLSFeature).value
    except (x509.ExtensionNotFound, ValueError):
        return False
    return x509.TLSFeatureType.status_request in features


def _unavailable(
    policy: CertificatePolicy,
    revocation: Revocation,
    checks: tuple[Check, ...],
    why: str,
) -> _RevocationOutcome:
    """No status could be established: hard rejects, soft accepts with a warning."""
    if policy.revocation is RevocationPolicy.HARD:
        return _RevocationOutcome(
            alert=AlertDescription.certificate_unknown, revocation=revocation, checks=checks
        )
    warning = f"soft-fail: {why}; the certificate was accepted"
    return _RevocationOutcome(alert=None, revocation=revocation, checks=checks, warnings=(warning,))


def _status_detail(status: RevocationStatus, detail: str) -> str:
    """ "good, valid until ..." already says its status; other details get it in front."""
    return detail if detail.startswith(str(status)) else f"{status}: {detail}"
