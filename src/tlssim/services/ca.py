"""The certificate authority service: issues from CSRs, revokes, publishes the status feed."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from typing import Any, Final

import grpc
from cryptography.hazmat.primitives import serialization

from tlssim import rpcutil
from tlssim.clock import Clock
from tlssim.pki.admin import ADMIN_TOKEN_METADATA_KEY, load_or_create_admin_token, token_matches
from tlssim.pki.authority import Authority
from tlssim.pki.errors import InvalidRequest, NotFound, PkiError
from tlssim.pki.profiles import build_hierarchy, build_profiles
from tlssim.pki.store import EventKind, StatusEvent
from tlssim.rpc.v1 import ca_pb2, ca_pb2_grpc
from tlssim.services import runtime
from tlssim.services.settings import CaSettings

log = logging.getLogger("tlssim.ca")

SERVICE_NAME: Final = "tlssim.rpc.v1.CertificateAuthority"
HEARTBEAT_INTERVAL_S: Final = 2.0
_FEED_BATCH: Final = 500
# Sequences are SQLite integers (signed 64-bit).
MAX_SEQUENCE: Final = 2**63 - 1

_KIND: Final = {
    EventKind.ISSUED: ca_pb2.StatusEvent.ISSUED,
    EventKind.REVOKED: ca_pb2.StatusEvent.REVOKED,
}


class CertificateAuthorityService(ca_pb2_grpc.CertificateAuthorityServicer):
    """The CertificateAuthority gRPC servicer over one Authority."""

    def __init__(
        self,
        authority: Authority,
        admin_token: str,
        heartbeat_interval: float = HEARTBEAT_INTERVAL_S,
    ) -> None:
        self.authority = authority
        self._admin_token = admin_token
        self._heartbeat_interval = heartbeat_interval
        self._latest_sequence = authority.store.latest_sequence()
        self._changed = asyncio.Condition()
        self._closing = False
        self._issuer_der = {
            ca.id: ca.certificate.public_bytes(serialization.Encoding.DER)
            for ca in authority.cas.values()
        }

    async def close(self) -> None:
        """Ends every open WatchStatus stream."""
        async with self._changed:
            self._closing = True
            self._changed.notify_all()

    def _has_news(self, after_sequence: int) -> bool:
        return self._closing or self._latest_sequence > after_sequence

    async def _published(self, sequence: int) -> None:
        async with self._changed:
            self._latest_sequence = max(self._latest_sequence, sequence)
            self._changed.notify_all()

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

    async def IssueCertificate(self, request: Any, context: Any) -> Any:
        try:
            issued = await asyncio.to_thread(
                self.authority.issue, bytes(request.csr_der), request.profile or "server"
            )
        except InvalidRequest as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        await self._published(issued.event.sequence)
        log.info(
            "issued %s serial %s (%s) trace=%s",
            issued.leaf.subject.rfc4514_string(),
            issued.serial_hex,
            request.profile or "server",
            rpcutil.current_trace_id(),
        )
        return ca_pb2.IssueCertificateResponse(
            chain_der=[c.public_bytes(serialization.Encoding.DER) for c in issued.chain],
            serial_hex=issued.serial_hex,
        )

    async def RevokeCertificate(self, request: Any, context: Any) -> Any:
        metadata = dict(context.invocation_metadata() or ())
        if not token_matches(metadata.get(ADMIN_TOKEN_METADATA_KEY), self._admin_token):
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"revoking needs the deployment's admin token in {ADMIN_TOKEN_METADATA_KEY}",
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
        log.info("revoked serial %s (%s) seq=%d", event.serial_hex, event.reason, event.sequence)
        return ca_pb2.RevokeCertificateResponse(sequence=event.sequence)

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
            async with self._changed:
                try:
                    await asyncio.wait_for(
                        self._changed.wait_for(functools.partial(self._has_news, last)),
                        self._heartbeat_interval,
                    )
                except TimeoutError:
                    yield ca_pb2.StatusEvent(sequence=last, heartbeat=True)


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
    admin_token = load_or_create_admin_token(settings.data_dir, settings.admin_token)
    service = CertificateAuthorityService(authority, admin_token)
    try:
        async with runtime.grpc_server(
            settings.listen,
            SERVICE_NAME,
            functools.partial(ca_pb2_grpc.add_CertificateAuthorityServicer_to_server, service),
        ):
            log.info(
                "ca listening on %s (data %s, %d events, OCSP URL %s)",
                settings.listen,
                settings.data_dir,
                authority.store.latest_sequence(),
                settings.ocsp_url,
            )
            await runtime.run_forever()
    finally:
        await service.close()
        authority.close()
        log.info("ca stopped")
