"""The TLS client service: runs one handshake per request and returns the report
(the client itself is tlssim.client; this is its gRPC front and its connections)."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import logging
from pathlib import Path
from typing import Any

import grpc
from cryptography import x509

from tlssim import rpcutil
from tlssim.client.handshake import Connector, run_handshake
from tlssim.client.identity import ClientIdentity
from tlssim.client.policy import CertificatePolicy
from tlssim.client.request import BadRequest, Plan, plan_for
from tlssim.client.status import (
    CRL_TIMEOUT_S,
    STATUS_CACHE_S,
    HttpCrlFetcher,
    HttpIssuerFetcher,
    HttpOcspFetcher,
    StatusCache,
)
from tlssim.clock import Clock, SkewedClock
from tlssim.net.transport import GrpcClientTransport, TcpTransport, Transport
from tlssim.pki.verify import ChainVerifier
from tlssim.report.model import Report
from tlssim.report.records import records_of, to_dicts
from tlssim.rpc.v1 import (
    ca_pb2,
    ca_pb2_grpc,
    client_pb2,
    client_pb2_grpc,
    ocsp_pb2,
    ocsp_pb2_grpc,
    server_pb2_grpc,
)
from tlssim.services import runtime
from tlssim.services.backoff import Backoff, until_done
from tlssim.services.handshake_metrics import HandshakeMetrics
from tlssim.services.settings import ClientSettings
from tlssim.telemetry import metrics
from tlssim.telemetry.feed import Feed
from tlssim.telemetry.traces import TraceLog
from tlssim.topology.endpoints import split_host_port

log = logging.getLogger("tlssim.client")

SERVICE_NAME = "tlssim.rpc.v1.TlsClient"
# A request may carry trust anchors (ca_pem) and application data.
MAX_REQUEST_BYTES = 1024 * 1024
OCSP_TIMEOUT_S = 2.0
STARTUP_RETRY_S = 0.5
RENEWAL_CHECK_S = 60.0
SERVER_CONNECTIONS = 4


class TlsClientServicer(client_pb2_grpc.TlsClientServicer):
    def __init__(
        self,
        server_address: str,
        ca_address: str,
        ocsp_address: str,
        clock: Clock,
        *,
        crl_timeout_s: float = CRL_TIMEOUT_S,
        status_cache_s: float = STATUS_CACHE_S,
        replica: str | None = None,
    ) -> None:
        self._clock = clock
        #: This replica's name, put into every report it builds.
        self.replica = replica
        self._server_address = server_address
        # A few connections to the server, used in turn: a hop that keeps each connection on
        # one backend (the faults relay's pass-through, any TCP balancer in front of server
        # replicas) still spreads the handshakes.
        self._server_channels = [
            # Untraced: Connect passes the trace id itself (an intercepted stream leaves a
            # task of gRPC's pending, and logged, whenever the server ends the call first).
            rpcutil.open_channel(server_address, own_connection=True, traced=False)
            for _ in range(SERVER_CONNECTIONS)
        ]
        self._servers = itertools.cycle(
            [server_pb2_grpc.TlsServerStub(c) for c in self._server_channels]
        )
        self._ca_channel = rpcutil.open_channel(ca_address)
        self._ocsp_channel = rpcutil.open_channel(ocsp_address)
        self._ca = ca_pb2_grpc.CertificateAuthorityStub(self._ca_channel)
        self._ocsp = ocsp_pb2_grpc.OcspResponderStub(self._ocsp_channel)
        self._verifiers: dict[str, ChainVerifier] = {}
        # The lab's roots: only paths to them are asked about at the lab's responder.
        self._lab_roots: frozenset[x509.Certificate] | None = None
        # Shared by every handshake: intermediates' answers, and how CRLs are fetched.
        self._status_cache = StatusCache(ttl_s=status_cache_s)
        self._fetch_crl = HttpCrlFetcher(timeout_s=crl_timeout_s)
        self._fetch_ocsp_url = HttpOcspFetcher(timeout_s=OCSP_TIMEOUT_S)
        self._fetch_issuer = HttpIssuerFetcher(timeout_s=crl_timeout_s)
        # Each report once built, as watchers see it (WatchReports): JSON, made once.
        self.reports: Feed[str] = Feed()
        self.metrics = HandshakeMetrics("client")
        #: Each handshake asked for, and its outcome, under the caller's trace.
        self.traces = TraceLog("client")
        #: The client's own certificate, presented when a server asks ("auto").
        self.identity: ClientIdentity | None = None

    def enroll_with(self, credential: Path) -> ClientIdentity:
        self.identity = ClientIdentity(self._ca, credential, self._clock)
        return self.identity

    async def close(self) -> None:
        for channel in (*self._server_channels, self._ca_channel, self._ocsp_channel):
            await channel.close()

    async def _trust_bundle(self) -> frozenset[x509.Certificate]:
        """The lab's roots, from the ca, once (raises AioRpcError when it cannot answer)."""
        if self._lab_roots is None:
            reply = await self._ca.GetTrustBundle(ca_pb2.GetTrustBundleRequest(), timeout=5)
            self._lab_roots = frozenset(x509.load_pem_x509_certificates(reply.pem.encode()))
        return self._lab_roots

    async def lab_roots(self) -> frozenset[x509.Certificate]:
        """The lab's roots; none while the ca cannot say (then every certificate is asked
        about at the URLs it names: the lab's own name the responder's HTTP front)."""
        try:
            return await self._trust_bundle()
        except grpc.aio.AioRpcError:
            return frozenset()

    async def _verifier(self, ca_pem: str) -> ChainVerifier:
        """One verifier per trust store, built once (building it is the expensive part)."""
        if not ca_pem:
            if "" not in self._verifiers:
                self._verifiers[""] = ChainVerifier(list(await self._trust_bundle()))
            return self._verifiers[""]
        if ca_pem not in self._verifiers:
            try:
                roots = x509.load_pem_x509_certificates(ca_pem.encode())
            except ValueError as exc:
                raise BadRequest(f"ca_pem holds no PEM certificate: {exc}") from None
            self._verifiers[ca_pem] = ChainVerifier(roots)
        return self._verifiers[ca_pem]

    async def _fetch_ocsp(self, request_der: bytes) -> bytes:
        reply = await self._ocsp.Check(
            ocsp_pb2.OcspCheckRequest(request_der=request_der),
            timeout=OCSP_TIMEOUT_S,
        )
        return bytes(reply.response_der)

    async def RunHandshake(self, request: Any, context: Any) -> Any:
        try:
            plan = plan_for(request)
            verifier = await self._verifier(plan.ca_pem)
        except BadRequest as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except grpc.aio.AioRpcError as exc:
            await context.abort(
                grpc.StatusCode.UNAVAILABLE,
                f"cannot get the trust bundle from the ca: {exc.details()}",
            )
        report = await self.handshake(plan, verifier)
        report_json = report.to_json()
        self._publish(report, report_json)
        return client_pb2.HandshakeResult(ok=report.ok, report_json=report_json)

    def _publish(self, report: Report, report_json: str) -> None:
        if report.keylog is not None or report.capture is not None:
            # Secrets and raw bytes stay with whoever asked for the handshake; watchers get
            # the records they opened, decoded.
            records = None
            if report.keylog is not None and report.capture is not None:
                records = tuple(
                    to_dicts(
                        records_of(
                            report.capture.client_to_server,
                            report.capture.server_to_client,
                            report.keylog,
                            report.capture.order,
                        )
                    )
                )
            report_json = dataclasses.replace(
                report, keylog=None, capture=None, records=records
            ).to_json()
        self.reports.publish(report_json)

    async def handshake(self, plan: Plan, verifier: ChainVerifier) -> Report:
        if plan.client_cert == "auto" and self.identity is not None:
            config = dataclasses.replace(plan.config, client_certificate=self.identity.current)
            plan = dataclasses.replace(plan, config=config)
        clock: Clock = self._clock
        if plan.clock_skew:
            clock = SkewedClock(self._clock, plan.clock_skew)
        policy = CertificatePolicy(
            verifier=verifier,
            server_name=plan.target.verify_name,
            revocation=plan.revocation,
            clock=clock,
            lab_roots=await self.lab_roots(),
            fetch_ocsp=self._fetch_ocsp,
            fetch_ocsp_url=self._fetch_ocsp_url,
            fetch_crl=self._fetch_crl,
            status_cache=self._status_cache,
            fetch_issuer=self._fetch_issuer if plan.chase_aia else None,
        )
        connector = self._connector(plan.tcp_address)
        self.traces.record(
            "handshake requested",
            {"target": connector.label, "server_name": plan.target.verify_name},
        )
        report = await run_handshake(
            plan, policy, connector, rpcutil.current_trace_id(), client_replica=self.replica
        )
        self.traces.record(
            "handshake done", handshake_outcome(report), duration_ms=report.timings.total_ms
        )
        log.info("handshake %s -> %s ok=%s", report.target, plan.target.verify_name, report.ok)
        self.metrics.count_report(report)
        return report

    async def WatchReports(self, request: Any, context: Any) -> Any:
        async for number, report_json in self.reports.follow(request.after_sequence):
            yield client_pb2.PublishedReport(sequence=number, report_json=report_json)

    async def WatchReportBatches(self, request: Any, context: Any) -> Any:
        async for batch in self.reports.follow_batches(request.after_sequence):
            yield client_pb2.PublishedReports(
                reports=[
                    client_pb2.PublishedReport(sequence=number, report_json=report_json)
                    for number, report_json in batch
                ]
            )

    def _connector(self, tcp_address: str) -> Connector:
        if not tcp_address:

            async def through_the_server_service() -> Transport:
                call = next(self._servers).Connect(metadata=rpcutil.trace_metadata())
                return GrpcClientTransport(call)

            return Connector(
                label=f"grpc://{self._server_address}", open=through_the_server_service
            )

        async def over_tcp() -> Transport:
            host, port = split_host_port(tcp_address)
            return await TcpTransport.connect(host, port)  # within run_handshake's deadline

        return Connector(label=f"tcp://{tcp_address}", open=over_tcp)


def handshake_outcome(report: Report) -> dict[str, Any]:
    """The report in a few fields, for the trace timeline."""
    out: dict[str, Any] = {
        "ok": report.ok,
        "version": report.version,
        "suite": report.cipher_suite,
        "group": report.key_exchange,
        "resumed": report.resumed,
        "revocation": str(report.revocation.status),
        "revocation_source": str(report.revocation.source or "-"),
    }
    if report.alert is not None:
        out["alert"] = f"{report.alert.description} (sent by {report.alert.sent_by})"
    if report.error:
        out["error"] = report.error
    return out


async def serve(settings: ClientSettings, clock: Clock) -> None:
    servicer = TlsClientServicer(
        settings.server,
        settings.ca,
        settings.ocsp,
        clock,
        crl_timeout_s=settings.crl_timeout_s,
        status_cache_s=settings.status_cache_s,
        replica=settings.replica or None,
    )
    register = functools.partial(client_pb2_grpc.add_TlsClientServicer_to_server, servicer)
    identity = servicer.enroll_with(settings.enrollment_token_file)
    try:
        await _until_enrolled(identity, settings.ca)
        async with (
            runtime.grpc_server(
                settings.listen, SERVICE_NAME, register, MAX_REQUEST_BYTES, servicer.traces
            ),
            metrics.endpoint(
                settings.metrics_listen,
                metrics.Metrics(servicer.metrics.sources()),
                settings.http_hosts,
            ),
        ):
            log.info("client ready on %s (server %s)", settings.listen, settings.server)
            while True:
                await asyncio.sleep(RENEWAL_CHECK_S)
                if identity.needs_renewal():
                    await _until_enrolled(identity, settings.ca)
    finally:
        await servicer.close()


async def _until_enrolled(identity: ClientIdentity, ca_address: str) -> None:
    """Enrolls the client's certificate, retrying while the ca is not there or refuses."""
    await until_done(
        identity.enroll, f"enroll with the ca at {ca_address}", log, Backoff(STARTUP_RETRY_S)
    )
