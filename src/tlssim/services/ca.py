"""The certificate authority service: issues from CSRs, revokes, publishes the status feed."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import functools
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any, Final

import grpc
from cryptography.hazmat.primitives import serialization

from tlssim import rpcutil
from tlssim.clock import Clock
from tlssim.pki.admin import ADMIN_TOKEN_METADATA_KEY, load_or_create_admin_token
from tlssim.pki.authority import Authority, serial_from_hex, serial_to_hex
from tlssim.pki.enrollment import (
    ENROLLMENT_TOKEN_METADATA_KEY,
    AdminToken,
    EnrollmentCredentials,
)
from tlssim.pki.errors import InvalidRequest, NotFound, PkiError, PolicyRefused
from tlssim.pki.policy import NamePolicy, build_policies
from tlssim.pki.profiles import ACME_PROFILE, build_hierarchy, build_profiles
from tlssim.pki.store import EventKind, StatusEvent
from tlssim.rpc.v1 import ca_pb2, ca_pb2_grpc
from tlssim.services import runtime
from tlssim.services.settings import CaSettings
from tlssim.telemetry import metrics
from tlssim.telemetry.traces import TraceLog

log = logging.getLogger("tlssim.ca")

SERVICE_NAME: Final = "tlssim.rpc.v1.CertificateAuthority"
HEARTBEAT_INTERVAL_S: Final = 2.0
_FEED_BATCH: Final = 500
LIST_DEFAULT: Final = 100
LIST_MAX: Final = 1000
# Sequences are SQLite integers (signed 64-bit).
MAX_SEQUENCE: Final = 2**63 - 1

# Request-derived text (profile names, refusal details) is cut to this length in the log.
LOGGED_FIELD_CHARS: Final = 80

_KIND: Final = {
    EventKind.ISSUED: ca_pb2.StatusEvent.ISSUED,
    EventKind.REVOKED: ca_pb2.StatusEvent.REVOKED,
}


def _cut(text: str) -> str:
    # The log formatter escapes what is left (runtime.SafeFormatter).
    return text if len(text) <= LOGGED_FIELD_CHARS else text[:LOGGED_FIELD_CHARS] + "..."


class Refusals:
    """Counts refused calls per reason and logs them; the log's rate limit
    (runtime.RateLimit) keeps it to one line per reason a second, so an anonymous caller
    cannot flood the log."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self.metric = metrics.Tally(
            "tlssim_ca_refusals", "issuance and revocation calls refused, by reason", ["reason"]
        )

    def record(self, code: grpc.StatusCode, reason: str, detail: str, **fields: str) -> None:
        self.counts[reason] += 1
        self.metric.add(reason)
        described = " ".join(f'{k}="{_cut(v)}"' for k, v in fields.items())
        log.warning(
            "refused %s (%s): %s; %s; refusals %s trace=%s",
            code.name,
            reason,
            _cut(detail),
            described,
            ", ".join(f"{r}={n}" for r, n in sorted(self.counts.items())),
            rpcutil.current_trace_id(),
            extra={"rate_key": f"refused {reason}"},
        )


class CertificateAuthorityService(ca_pb2_grpc.CertificateAuthorityServicer):
    """The CertificateAuthority gRPC servicer over one Authority.

    IssueCertificate needs an enrollment credential and issues only what the caller's
    identity may have; RevokeCertificate needs the admin token; the rest is public.
    """

    def __init__(
        self,
        authority: Authority,
        admin_token: AdminToken,
        credentials: EnrollmentCredentials,
        policies: Mapping[str, NamePolicy],
        heartbeat_interval: float = HEARTBEAT_INTERVAL_S,
    ) -> None:
        self.authority = authority
        self._admin_token = admin_token
        self._credentials = credentials
        self._policies = dict(policies)
        self.refusals = Refusals()
        #: What the ca did for each trace: issuances, revocations, CRLs.
        self.traces = TraceLog("ca")
        self.issued = metrics.Tally(
            "tlssim_ca_issued", "certificates issued, by profile", ["profile"]
        )
        self.revoked = metrics.Tally(
            "tlssim_ca_revoked", "certificates revoked, by reason", ["reason"]
        )
        self._heartbeat_interval = heartbeat_interval
        self._latest_sequence = authority.store.latest_sequence()
        # Set (and replaced) when an event is committed or the ca closes: a watcher waits on
        # the one it took before looking, without a lock, so a cancelled watcher leaves
        # nothing behind (a Condition's lock, cancelled while re-acquired, was left held).
        self._news = asyncio.Event()
        self._closing = False
        self._issuer_der = {
            ca.id: ca.certificate.public_bytes(serialization.Encoding.DER)
            for ca in authority.cas.values()
        }

    async def close(self) -> None:
        """Ends every open WatchStatus stream."""
        self._closing = True
        self._announce()

    def _announce(self) -> None:
        woken, self._news = self._news, asyncio.Event()
        woken.set()

    def _has_news(self, after_sequence: int) -> bool:
        return self._closing or self._latest_sequence > after_sequence

    async def _published(self, sequence: int) -> None:
        self._latest_sequence = max(self._latest_sequence, sequence)
        self._announce()

    def _event_message(self, event: StatusEvent) -> Any:
        message = ca_pb2.StatusEvent(
            sequence=event.sequence,
            kind=_KIND[event.kind],
            serial_hex=event.serial_hex,
            issuer_der=self._issuer_der.get(event.issuer_id, b""),
            reason=event.reason,
        )
        if event.revocation_time is not None:
            message.revocation_time = int(event.revocation_time.timestamp())
        return message

    # -- RPCs -----------------------------------------------------------------------------

    async def GetTrustBundle(self, request: Any, context: Any) -> Any:
        return ca_pb2.GetTrustBundleResponse(pem=self.authority.trust_bundle_pem())

    async def _refuse(
        self, context: Any, code: grpc.StatusCode, reason: str, detail: str, **fields: str
    ) -> None:
        self.refusals.record(code, reason, detail, **fields)
        await context.abort(code, detail)

    async def IssueCertificate(self, request: Any, context: Any) -> Any:
        profile = request.profile or "server"
        presented = _metadata(context).get(ENROLLMENT_TOKEN_METADATA_KEY)
        identity = self._credentials.identify(presented)
        if identity is None:
            reason = "bad-credential" if presented else "no-credential"
            await self._refuse(
                context,
                grpc.StatusCode.UNAUTHENTICATED,
                reason,
                f"issuing needs a valid enrollment credential in {ENROLLMENT_TOKEN_METADATA_KEY}",
                profile=profile,
            )
        assert identity is not None
        policy = self._policies.get(identity, NamePolicy(identity=identity))
        try:
            issued = await asyncio.to_thread(
                functools.partial(
                    self.authority.issue,
                    bytes(request.csr_der),
                    profile,
                    policy=policy,
                    lifetime=(
                        dt.timedelta(seconds=request.lifetime_seconds)
                        if request.lifetime_seconds
                        else None
                    ),
                )
            )
        except PolicyRefused as exc:
            await self._refuse(
                context,
                grpc.StatusCode.PERMISSION_DENIED,
                exc.reason,
                str(exc),
                identity=identity,
                profile=profile,
            )
        except InvalidRequest as exc:
            await self._refuse(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "invalid-request",
                str(exc),
                identity=identity,
                profile=profile,
            )
        await self._published(issued.event.sequence)
        self.issued.add(profile)
        log.info(
            "issued %s serial %s (%s) to %s trace=%s",
            issued.leaf.subject.rfc4514_string(),
            issued.serial_hex,
            _cut(profile),
            identity,
            rpcutil.current_trace_id(),
        )
        self.traces.record(
            "certificate issued",
            {
                "serial": issued.serial_hex,
                "subject": issued.leaf.subject.rfc4514_string(),
                "profile": _cut(profile),
                "to": identity,
            },
        )
        return ca_pb2.IssueCertificateResponse(
            chain_der=[c.public_bytes(serialization.Encoding.DER) for c in issued.chain],
            serial_hex=issued.serial_hex,
        )

    def _acme_may_revoke(self, context: Any, serial_hex: str) -> bool:
        """The ACME service revokes, with its own credential, what it had issued."""
        presented = _metadata(context).get(ENROLLMENT_TOKEN_METADATA_KEY)
        if self._credentials.identify(presented) != "acme":
            return False
        try:
            record = self.authority.store.certificate(serial_to_hex(serial_from_hex(serial_hex)))
        except (ValueError, PkiError):
            return False
        return record is not None and record.profile == ACME_PROFILE

    async def RevokeCertificate(self, request: Any, context: Any) -> Any:
        admin = self._admin_token.matches(_metadata(context).get(ADMIN_TOKEN_METADATA_KEY))
        if not admin and not self._acme_may_revoke(context, str(request.serial_hex)):
            await self._refuse(
                context,
                grpc.StatusCode.PERMISSION_DENIED,
                "bad-admin-token",
                f"revoking needs the deployment's admin token in {ADMIN_TOKEN_METADATA_KEY}",
                serial=str(request.serial_hex),
            )
        try:
            event = await asyncio.to_thread(
                self.authority.revoke, request.serial_hex, request.reason
            )
        except InvalidRequest as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except NotFound as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        await self._published(event.sequence)
        self.revoked.add(str(event.reason))
        log.info("revoked serial %s (%s) seq=%d", event.serial_hex, event.reason, event.sequence)
        self.traces.record(
            "certificate revoked", {"serial": event.serial_hex, "reason": str(event.reason)}
        )
        return ca_pb2.RevokeCertificateResponse(sequence=event.sequence)

    async def ListCertificates(self, request: Any, context: Any) -> Any:
        host = str(request.host)
        if len(host) > 253:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "host must be a DNS name")
        limit = min(int(request.limit) or LIST_DEFAULT, LIST_MAX)
        listed = await asyncio.to_thread(
            self.authority.store.listing, host, bool(request.revoked_only), limit
        )
        return ca_pb2.ListCertificatesResponse(
            certificates=[
                ca_pb2.IssuedCertificate(
                    serial_hex=c.serial_hex,
                    subject=c.subject,
                    issuer_id=c.issuer_id,
                    profile=c.profile,
                    not_before=int(c.not_before.timestamp()),
                    not_after=int(c.not_after.timestamp()),
                    revoked=c.revocation_reason is not None,
                    reason=c.revocation_reason or "",
                )
                for c in listed
            ]
        )

    async def GetCrl(self, request: Any, context: Any) -> Any:
        try:
            ca_id = (
                self.authority.ca_by_certificate_der(bytes(request.issuer_der)).id
                if request.issuer_der
                else "intermediate"
            )
            der = await asyncio.to_thread(self.authority.crl_der, ca_id)
        except PkiError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        self.traces.record("CRL served", {"issuer": ca_id, "bytes": len(der)})
        return ca_pb2.GetCrlResponse(der=der)

    async def WatchStatus(self, request: Any, context: Any) -> AsyncIterator[Any]:
        """Replays events after `after_sequence`, sends a heartbeat once caught up, then
        streams new events as they are committed and a heartbeat every couple of seconds."""
        last = int(request.after_sequence)
        if last > MAX_SEQUENCE:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"after_sequence {last} is beyond any sequence"
            )
        caught_up_announced = False
        while not self._closing:
            events = await asyncio.to_thread(self.authority.store.events_after, last, _FEED_BATCH)
            for event in events:
                yield self._event_message(event)
                last = event.sequence
            if events:
                continue
            if not caught_up_announced:
                # Tells the follower it has everything so far (it may now answer queries).
                caught_up_announced = True
                yield ca_pb2.StatusEvent(sequence=last, heartbeat=True)
            news = self._news
            if self._has_news(last):
                continue
            try:
                async with asyncio.timeout(self._heartbeat_interval):
                    await news.wait()
            except TimeoutError:
                yield ca_pb2.StatusEvent(sequence=last, heartbeat=True)


def _metadata(context: Any) -> dict[str, str]:
    """The call's text metadata (binary "-bin" entries are no credentials)."""
    return {
        str(key): value
        for key, value in (context.invocation_metadata() or ())
        if isinstance(value, str)
    }


async def serve(settings: CaSettings, clock: Clock) -> None:
    """Runs the ca until cancelled, keeping its state in `settings.data_dir`."""
    depth = settings.long_chain_depth
    authority = await asyncio.to_thread(
        functools.partial(
            Authority.open,
            settings.data_dir,
            clock,
            ocsp_url=settings.ocsp_url,
            hierarchy=build_hierarchy(depth),
            profiles=build_profiles(depth),
        )
    )
    load_or_create_admin_token(settings.data_dir, settings.admin_token)
    credentials = await asyncio.to_thread(EnrollmentCredentials.open, settings.data_dir)
    service = CertificateAuthorityService(
        authority,
        AdminToken(settings.data_dir, settings.admin_token),
        credentials,
        build_policies(),
    )
    exposed = metrics.Metrics([service.issued, service.revoked, service.refusals.metric])
    try:
        async with (
            runtime.grpc_server(
                settings.listen,
                SERVICE_NAME,
                functools.partial(ca_pb2_grpc.add_CertificateAuthorityServicer_to_server, service),
                traces=service.traces,
            ),
            metrics.endpoint(settings.metrics_listen, exposed, settings.http_hosts),
        ):
            log.info(
                "ca listening on %s (data %s, %d events, OCSP URL %s; enrollment credentials "
                "in its enrollment/ folder)",
                settings.listen,
                settings.data_dir,
                authority.store.latest_sequence(),
                settings.ocsp_url,
            )
            await runtime.run_forever()
    finally:
        await service.close()
        authority.close()
        counts = service.refusals.counts
        log.info(
            "ca stopped (refusals: %s)",
            ", ".join(f"{r}={n}" for r, n in sorted(counts.items())) or "none",
        )
