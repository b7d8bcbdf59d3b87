"""The certificate authority service: issues from CSRs, revokes, publishes the status feed."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import os
import pathlib
import signal
from collections.abc import AsyncIterator, Coroutine
from typing import Any, Final

import grpc
from cryptography.hazmat.primitives import serialization

from tlssim import rpcutil
from tlssim.clock import Clock, SystemClock
from tlssim.endpoints import Endpoints
from tlssim.pki.admin import ADMIN_TOKEN_METADATA_KEY, load_or_create_admin_token, token_matches
from tlssim.pki.authority import Authority
from tlssim.pki.errors import InvalidRequest, NotFound, PkiError
from tlssim.pki.profiles import DEFAULT_LONG_CHAIN_DEPTH, build_hierarchy, build_profiles
from tlssim.pki.store import EventKind, StatusEvent
from tlssim.rpc.v1 import ca_pb2, ca_pb2_grpc

log = logging.getLogger("tlssim.ca")

SERVICE_NAME: Final = "tlssim.rpc.v1.CertificateAuthority"
HEARTBEAT_INTERVAL_S: Final = 2.0
DEFAULT_DATA_DIR: Final = pathlib.Path("tlssim-data/ca")
_FEED_BATCH: Final = 500

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


def long_chain_depth_from_env() -> int:
    """TLSSIM_LONG_CHAIN_DEPTH: the intermediates of long-chain.tlssim.test (1..8, default 3)."""
    raw = os.environ.get("TLSSIM_LONG_CHAIN_DEPTH", "").strip()
    return int(raw) if raw.isdigit() else DEFAULT_LONG_CHAIN_DEPTH


async def serve(
    listen: str,
    data_dir: pathlib.Path,
    ocsp_url: str,
    clock: Clock,
    long_chain_depth: int | None = None,
) -> None:
    """Runs the ca on `listen` until cancelled, keeping its state in `data_dir`."""
    depth = long_chain_depth_from_env() if long_chain_depth is None else long_chain_depth
    authority = await asyncio.to_thread(
        functools.partial(
            Authority.open,
            data_dir,
            clock,
            ocsp_url=ocsp_url,
            hierarchy=build_hierarchy(depth),
            profiles=build_profiles(depth),
        )
    )
    admin_token = load_or_create_admin_token(data_dir)
    service = CertificateAuthorityService(authority, admin_token)
    server = rpcutil.create_server()
    ca_pb2_grpc.add_CertificateAuthorityServicer_to_server(service, server)
    try:
        await rpcutil.start_server(server, listen, [SERVICE_NAME])
        log.info(
            "ca listening on %s (data %s, %d events, OCSP URL %s)",
            listen,
            data_dir,
            authority.store.latest_sequence(),
            ocsp_url,
        )
        # Shielded: cancelling wait_for_termination itself breaks a later server.stop().
        await asyncio.shield(server.wait_for_termination())
    finally:
        await service.close()
        await server.stop(grace=1.0)
        authority.close()
        log.info("ca stopped")


async def run_until_signalled(service: Coroutine[Any, Any, None]) -> None:
    """Runs `service` until SIGTERM or SIGINT, then cancels it so it shuts down gracefully."""
    task = asyncio.ensure_future(service)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def main(argv: list[str] | None = None) -> None:
    endpoints = Endpoints.from_env()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", default=endpoints.ca)
    parser.add_argument(
        "--data-dir",
        type=pathlib.Path,
        default=pathlib.Path(os.environ.get("TLSSIM_CA_DATA_DIR", str(DEFAULT_DATA_DIR))),
    )
    parser.add_argument("--ocsp-url", default=endpoints.ocsp_url)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    service = serve(args.listen, args.data_dir, args.ocsp_url, SystemClock())
    asyncio.run(run_until_signalled(service))


if __name__ == "__main__":
    main()
