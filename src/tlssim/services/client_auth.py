"""How the server judges a client's certificate on its client-auth hosts.

Checks, in order: every certificate's validity window (certificate_expired, or
bad_certificate before notBefore), a path to our roots for a clientAuth leaf (unknown_ca
when no trusted root is reached, bad_certificate when a path breaks the policy), then the
leaf's status by OCSP from our responder under a hard policy: revoked is
certificate_revoked, and an answer that is missing, unknown or untrustworthy refuses too.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from tlssim import rpcutil
from tlssim.clock import Clock
from tlssim.pki.revocation import build_ocsp_request, check_ocsp_response
from tlssim.tls import AlertDescription, events
from tlssim.tls.config import ClientAuth
from tlssim.topology import vhosts

log = logging.getLogger("tlssim.server")

#: Asks the OCSP responder: DER request in, DER response out.
FetchOcsp = Callable[[bytes], Awaitable[bytes]]


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientVerdict:
    """The alert to send (None: accepted) and why, in one line."""

    alert: AlertDescription | None
    detail: str
    subject: str = ""


def client_auth_for(
    roots: tuple[x509.Certificate, ...],
) -> Callable[[vhosts.VirtualHost | None], ClientAuth | None]:
    """What the server asks of a client, per virtual host (the host's ``client_auth``)."""
    names = tuple(root.subject.public_bytes() for root in roots)

    def ask(host: vhosts.VirtualHost | None) -> ClientAuth | None:
        if host is None or not host.client_auth:
            return None
        return ClientAuth(required=host.client_auth == "required", certificate_authorities=names)

    return ask


def post_handshake_ask(roots: tuple[x509.Certificate, ...]) -> ClientAuth:
    """What the echo protocol's private path asks of a client after the handshake."""
    names = tuple(root.subject.public_bytes() for root in roots)
    return ClientAuth(required=True, certificate_authorities=names)


class ClientCertificateJudge:
    def __init__(
        self, roots: tuple[x509.Certificate, ...], fetch_ocsp: FetchOcsp, clock: Clock
    ) -> None:
        self.roots = roots
        self._store = Store(list(roots))
        self._fetch_ocsp = fetch_ocsp
        self._clock = clock

    async def __call__(self, received: events.CertificateReceived) -> AlertDescription | None:
        verdict = await self.judge(received.chain)
        log.info(
            "client certificate %s: %s (%s) trace_id=%s",
            verdict.subject or "(unreadable)",
            "accepted" if verdict.alert is None else verdict.alert.name,
            verdict.detail,
            rpcutil.current_trace_id(),
        )
        return verdict.alert

    async def judge(self, chain_der: tuple[bytes, ...]) -> ClientVerdict:
        try:
            chain = [x509.load_der_x509_certificate(der) for der in chain_der]
        except ValueError as exc:
            return ClientVerdict(alert=AlertDescription.bad_certificate, detail=str(exc))
        leaf, intermediates = chain[0], chain[1:]
        subject = leaf.subject.rfc4514_string()
        now = self._clock.now()
        for cert in chain:
            if now > cert.not_valid_after_utc:
                return ClientVerdict(
                    alert=AlertDescription.certificate_expired,
                    detail=f"expired at {cert.not_valid_after_utc.isoformat()}",
                    subject=subject,
                )
            if now < cert.not_valid_before_utc:
                return ClientVerdict(
                    alert=AlertDescription.bad_certificate,
                    detail=f"not valid before {cert.not_valid_before_utc.isoformat()}",
                    subject=subject,
                )
        try:
            verifier = PolicyBuilder().store(self._store).time(now).build_client_verifier()
            path = verifier.verify(leaf, intermediates).chain
        except VerificationError as exc:
            alert = (
                AlertDescription.bad_certificate
                if _issued_by_our_roots(chain, self.roots)
                else AlertDescription.unknown_ca
            )
            return ClientVerdict(alert=alert, detail=str(exc), subject=subject)
        return await self._revocation(leaf, path[1], now, subject)

    async def _revocation(
        self, leaf: x509.Certificate, issuer: x509.Certificate, now: dt.datetime, subject: str
    ) -> ClientVerdict:
        try:
            response = await self._fetch_ocsp(build_ocsp_request(leaf, issuer))
        except grpc.aio.AioRpcError as exc:
            return ClientVerdict(
                alert=AlertDescription.bad_certificate_status_response,
                detail=f"no OCSP answer (hard policy): {exc.code().name}",
                subject=subject,
            )
        status = check_ocsp_response(response, leaf, issuer, now)
        if status.status == "good":
            return ClientVerdict(
                alert=None, detail="chain, validity and OCSP good", subject=subject
            )
        if status.status == "revoked":
            reason = status.revocation_reason or "unspecified"
            return ClientVerdict(
                alert=AlertDescription.certificate_revoked,
                detail=f"OCSP: revoked ({reason})",
                subject=subject,
            )
        return ClientVerdict(
            alert=AlertDescription.bad_certificate_status_response,
            detail=f"OCSP status {status.status} (hard policy)",
            subject=subject,
        )


def _issued_by_our_roots(
    chain: list[x509.Certificate], roots: tuple[x509.Certificate, ...]
) -> bool:
    """Whether the presented chain names one of our roots as an issuer (a broken path to a
    known root is bad_certificate; an unknown issuer is unknown_ca)."""
    subjects = {root.subject for root in roots} | {c.subject for c in chain[1:]}
    return chain[-1].issuer in {root.subject for root in roots} and chain[0].issuer in subjects
