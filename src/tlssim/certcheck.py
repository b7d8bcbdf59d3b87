"""The client's certificate decision: chain checks, then revocation under a policy.

Follows the walkthrough: CA signature and chain, domain, expiry, then revocation status of
every certificate of the verified path below the trust anchor:

- the leaf: the stapled OCSP response, else a live query to the responder;
- each intermediate: a live query to the responder (its answer for an intermediate is
  signed by a delegated responder certificate from that intermediate's issuer), cached for
  a few seconds (TLSSIM_STATUS_CACHE_S, default 5) so that a stream of handshakes does not
  ask again and again;
- when the responder cannot answer (down, slow, tryLater, unauthorized, a bad response), the
  CRL from the certificate's CRL distribution point over HTTP (TLSSIM_CRL_TIMEOUT_S, default
  2 s), checked against the issuer's signature and the client's clock.

Alerts: certificate_revoked for any revoked certificate; bad_certificate_status_response for
a bad or stale staple, or no staple for a must-staple certificate (policy hard or soft);
certificate_unknown when the status cannot be established under the hard policy (soft
accepts with a warning; off checks nothing).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import itertools
import os
import time
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography import x509

from tlssim.clock import Clock, monotonic_ms
from tlssim.pki.checks import Check
from tlssim.pki.crl import check_crl, crl_urls
from tlssim.pki.verify import ChainVerifier, build_ocsp_request, check_ocsp_response
from tlssim.report import Verification
from tlssim.tls import AlertDescription, events

# Sends an OCSP request (DER) to the responder and returns its answer (DER), or raises.
OcspFetcher = Callable[[bytes], Awaitable[bytes]]
# Fetches a CRL (DER) from its distribution point URL, or raises.
CrlFetcher = Callable[[str], Awaitable[bytes]]

POLICIES = ("hard", "soft", "off")
CRL_TIMEOUT_S: Final = float(os.environ.get("TLSSIM_CRL_TIMEOUT_S", "2"))
STATUS_CACHE_S: Final = float(os.environ.get("TLSSIM_STATUS_CACHE_S", "5"))
MAX_CRL_BYTES: Final = 4 * 1024 * 1024
_BAD_STATUS: Final = "bad_certificate_status_response"
# Addresses in certificates point at the lab's own responder: never through a proxy.
_DIRECT: Final = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _http_get(url: str, timeout: float) -> bytes:
    with _DIRECT.open(url, timeout=timeout) as answer:
        body: bytes = answer.read(MAX_CRL_BYTES + 1)
    if len(body) > MAX_CRL_BYTES:
        raise ValueError(f"the CRL at {url} is larger than {MAX_CRL_BYTES} bytes")
    return body


async def fetch_crl_over_http(url: str) -> bytes:
    """GETs a CRL with a short timeout (TLSSIM_CRL_TIMEOUT_S)."""
    return await asyncio.wait_for(
        asyncio.to_thread(_http_get, url, CRL_TIMEOUT_S), CRL_TIMEOUT_S + 0.5
    )


@dataclass(frozen=True)
class CertificateStatus:
    """What is known about one certificate of the path, and from where."""

    position: int  # 0 = the leaf, 1 = the first intermediate, ...
    cert: x509.Certificate
    status: str  # good / revoked / unknown / unavailable
    source: str | None  # staple / ocsp / crl
    detail: str
    checks: tuple[Any, ...] = ()  # tlssim.pki Check objects behind the answer
    alert: str | None = None  # set for a bad staple or a missing must-staple staple
    next_update: dt.datetime | None = None

    @property
    def label(self) -> str:
        return "leaf" if self.position == 0 else f"intermediate {self.position}"


class StatusCache:
    """Recent good/revoked answers for intermediates (thread-unsafe; one event loop)."""

    def __init__(self, ttl_s: float = STATUS_CACHE_S) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[x509.Certificate, tuple[float, CertificateStatus]] = {}

    def get(self, cert: x509.Certificate) -> CertificateStatus | None:
        entry = self._entries.get(cert)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            del self._entries[cert]
            return None
        return entry[1]

    def put(self, status: CertificateStatus, valid_for_s: float | None) -> None:
        if self.ttl_s <= 0 or status.status not in ("good", "revoked"):
            return
        ttl = self.ttl_s if valid_for_s is None else min(self.ttl_s, valid_for_s)
        if ttl > 0:
            if len(self._entries) > 1024:
                self._entries.clear()
            self._entries[status.cert] = (time.monotonic() + ttl, status)


# Shared by every handshake of the process unless a policy brings its own.
SHARED_STATUS_CACHE: Final = StatusCache()


@dataclass(frozen=True)
class CertificatePolicy:
    verifier: ChainVerifier
    server_name: str
    revocation: str  # hard | soft | off
    clock: Clock
    fetch_ocsp: OcspFetcher
    fetch_crl: CrlFetcher = fetch_crl_over_http
    status_cache: StatusCache = field(default=SHARED_STATUS_CACHE)


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


async def _decide(
    policy: CertificatePolicy, received: events.CertificateReceived, verification: Verification
) -> AlertDescription | None:
    try:
        chain = [_load_fully(der) for der in received.chain]
    except ValueError as exc:
        verification.checks.append(Check("parse", False, str(exc), alert="bad_certificate"))
        return AlertDescription.bad_certificate
    verification.chain = chain
    result = policy.verifier.verify(chain, policy.server_name, policy.clock.now())
    verification.checks.extend(result.checks)
    if result.alert is not None:
        return AlertDescription[result.alert]
    path = list(result.verified_chain) or chain
    return await _check_revocation(policy, received.ocsp_response, path, verification)


async def _check_revocation(
    policy: CertificatePolicy,
    staple: bytes | None,
    path: Sequence[x509.Certificate],
    verification: Verification,
) -> AlertDescription | None:
    """Checks every certificate of `path` (leaf first, ending at the trust anchor) but the
    anchor, concurrently, and decides under the policy."""
    started = monotonic_ms()
    revocation: dict[str, Any] = {"policy": policy.revocation, "status": "not_checked"}
    revocation["source"] = None
    verification.revocation = revocation
    if policy.revocation == "off":
        return None
    if len(path) < 2:
        revocation.update(status="unavailable", detail="no issuer certificate to build a CertID")
        return _unavailable(policy, verification, "no issuer certificate")
    pairs = list(itertools.pairwise(path))
    statuses = await asyncio.gather(
        _leaf_status(policy, staple, *pairs[0]),
        *(
            _intermediate_status(policy, position, cert, issuer)
            for position, (cert, issuer) in enumerate(pairs[1:], start=1)
        ),
    )
    deciding = _deciding(statuses)
    overall = deciding.status
    revocation.update(
        status=overall,
        source=deciding.source,
        detail=deciding.detail
        if deciding.position == 0
        else f"{deciding.label}: {deciding.detail}",
        checked_ms=round(monotonic_ms() - started, 3),
        certificates=[
            {
                "position": s.position,
                "subject": s.cert.subject.rfc4514_string(),
                "serial": format(s.cert.serial_number, "x"),
                "status": s.status,
                "source": s.source,
                "detail": s.detail,
            }
            for s in statuses
        ],
    )
    leaf = statuses[0]
    verification.checks.extend(
        dataclasses.replace(c, source=_source_of(c, leaf.source)) for c in leaf.checks
    )
    for s in statuses:
        verification.checks.append(
            Check(
                f"revocation/{s.label.replace(' ', '-')}",
                s.status == "good",
                f"{s.status}: {s.detail}",
                alert=_alert_for(s, policy),
                source=s.source or "",
            )
        )
    if overall == "revoked":
        return AlertDescription.certificate_revoked
    if deciding.alert == _BAD_STATUS:
        return AlertDescription.bad_certificate_status_response
    if overall == "good":
        return None
    return _unavailable(policy, verification, f"revocation status {overall} ({deciding.label})")


def _deciding(statuses: Sequence[CertificateStatus]) -> CertificateStatus:
    """The certificate whose status decides: revoked first, then a bad or missing staple,
    then any other status that is not good, else the leaf."""
    for wanted in (
        lambda s: s.status == "revoked",
        lambda s: s.alert is not None,
        lambda s: s.status != "good",
    ):
        found = next((s for s in statuses if wanted(s)), None)
        if found is not None:
            return found
    return statuses[0]


def _alert_for(status: CertificateStatus, policy: CertificatePolicy) -> str | None:
    if status.status == "good":
        return None
    if status.status == "revoked":
        return "certificate_revoked"
    if status.alert:
        return status.alert
    return "certificate_unknown" if policy.revocation == "hard" else None


def _source_of(check: Any, leaf_source: str | None) -> str:
    if str(getattr(check, "name", "")).startswith("crl/"):
        return "crl"
    return "staple" if leaf_source == "staple" else "ocsp"


async def _leaf_status(
    policy: CertificatePolicy,
    staple: bytes | None,
    leaf: x509.Certificate,
    issuer: x509.Certificate,
) -> CertificateStatus:
    if staple is not None:
        outcome = check_ocsp_response(staple, leaf, issuer, policy.clock.now())
        return CertificateStatus(
            0,
            leaf,
            outcome.status,
            "staple",
            outcome.detail,
            outcome.checks,
            _BAD_STATUS if outcome.alert == _BAD_STATUS else None,
        )
    if _must_staple(leaf):
        return CertificateStatus(
            0,
            leaf,
            "unavailable",
            None,
            "the certificate requires a stapled OCSP response (must-staple) and none came",
            alert=_BAD_STATUS,
        )
    return await _live_status(policy, 0, leaf, issuer)


async def _intermediate_status(
    policy: CertificatePolicy, position: int, cert: x509.Certificate, issuer: x509.Certificate
) -> CertificateStatus:
    cached = policy.status_cache.get(cert)
    if cached is not None:
        return CertificateStatus(
            position,
            cert,
            cached.status,
            cached.source,
            f"{cached.detail} (cached)",
            cached.checks,
            next_update=cached.next_update,
        )
    status = await _live_status(policy, position, cert, issuer)
    policy.status_cache.put(status, _valid_for_s(status, policy.clock))
    return status


def _valid_for_s(status: CertificateStatus, clock: Clock) -> float | None:
    if status.next_update is None:
        return None
    return (status.next_update - clock.now()).total_seconds()


async def _live_status(
    policy: CertificatePolicy, position: int, cert: x509.Certificate, issuer: x509.Certificate
) -> CertificateStatus:
    """The responder's answer; when it has none, the CRL's."""
    nonce = os.urandom(16)
    failed_checks: tuple[Any, ...] = ()
    try:
        answer = await policy.fetch_ocsp(build_ocsp_request(cert, issuer, nonce))
    except Exception as exc:  # the responder is down, slow or unreachable
        why = f"responder unavailable: {exc or type(exc).__name__}"
    else:
        outcome = check_ocsp_response(answer, cert, issuer, policy.clock.now(), nonce=nonce)
        if outcome.status != "unavailable":
            return CertificateStatus(
                position,
                cert,
                outcome.status,
                "ocsp",
                outcome.detail,
                outcome.checks,
                next_update=outcome.next_update,
            )
        why = f"responder: {outcome.detail}"
        failed_checks = outcome.checks
    urls = crl_urls(cert)
    if not urls:
        return CertificateStatus(
            position,
            cert,
            "unavailable",
            "ocsp",
            f"{why}; the certificate names no CRL",
            failed_checks,
        )
    try:
        crl_der = await policy.fetch_crl(urls[0])
    except Exception as exc:
        return CertificateStatus(
            position,
            cert,
            "unavailable",
            "crl",
            f"{why}; CRL {urls[0]} unavailable: {exc or type(exc).__name__}",
            failed_checks,
        )
    outcome = check_crl(crl_der, cert, issuer, policy.clock.now())
    return CertificateStatus(
        position,
        cert,
        outcome.status,
        "crl",
        f"{outcome.detail} (CRL fallback; {why})",
        (*failed_checks, *outcome.checks),
        next_update=outcome.next_update,
    )


def _must_staple(cert: x509.Certificate) -> bool:
    try:
        features = cert.extensions.get_extension_for_class(x509.TLSFeature).value
    except (x509.ExtensionNotFound, ValueError):
        return False
    return x509.TLSFeatureType.status_request in features


def _unavailable(
    policy: CertificatePolicy, verification: Verification, why: str
) -> AlertDescription | None:
    if policy.revocation == "hard":
        return AlertDescription.certificate_unknown
    verification.warnings.append(f"soft-fail: {why}; the certificate was accepted")
    return None
