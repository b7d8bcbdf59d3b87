"""The TLS client service: runs one handshake per request and returns the report."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import json
import logging
import os
from typing import Any

import grpc
from cryptography import x509

from tlssim import certcheck, rpcutil, vhosts
from tlssim.clock import Clock, SkewedClock, monotonic_ms
from tlssim.endpoints import split_host_port
from tlssim.net.drive import ClientRun, run_client
from tlssim.net.transport import (
    GrpcClientTransport,
    RecordingTransport,
    TcpTransport,
    Transport,
)
from tlssim.pki.verify import ChainVerifier
from tlssim.report import Verification, build_report
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
from tlssim.services.settings import ClientSettings
from tlssim.tls import (
    CipherSuite,
    ClientConfig,
    ClientConnection,
    NamedGroup,
    ProtocolVersion,
    Session,
    SignatureScheme,
    events,
)
from tlssim.tls.config import DEFAULT_TLS12_CIPHER_SUITES, DEFAULT_TLS13_CIPHER_SUITES

log = logging.getLogger("tlssim.client")

SERVICE_NAME = "tlssim.rpc.v1.TlsClient"
# A request may carry trust anchors (ca_pem) and application data.
MAX_REQUEST_BYTES = 1024 * 1024
HANDSHAKE_DEADLINE_S = 10.0
OCSP_TIMEOUT_S = 2.0
DEFAULT_APPLICATION_DATA = b"GET / HTTP/1.1\r\nHost: tlssim\r\n\r\n"


class BadRequest(ValueError):
    """A handshake request the client cannot run; reported as INVALID_ARGUMENT."""


def _enum_values(enum: Any, names: Any, what: str) -> tuple[Any, ...]:
    try:
        return tuple(enum[n] for n in names)
    except KeyError as exc:
        known = ", ".join(m.name for m in enum)
        raise BadRequest(f"unknown {what} {exc.args[0]!r}; known: {known}") from None


VERSIONS = {
    "": (ProtocolVersion.TLSv1_3, ProtocolVersion.TLSv1_2),
    "1.3": (ProtocolVersion.TLSv1_3,),
    "1.2": (ProtocolVersion.TLSv1_2,),
}


def _suites_for(
    versions: tuple[ProtocolVersion, ...], key_exchange: str
) -> tuple[CipherSuite, ...]:
    """The default suites for these versions, narrowed to one TLS 1.2 key exchange if asked."""
    suites: tuple[CipherSuite, ...] = ()
    if ProtocolVersion.TLSv1_3 in versions and key_exchange != "rsa":
        suites += DEFAULT_TLS13_CIPHER_SUITES
    if ProtocolVersion.TLSv1_2 in versions:
        rsa_kx = tuple(s for s in DEFAULT_TLS12_CIPHER_SUITES if s.name.startswith("TLS_RSA_"))
        ecdhe = tuple(s for s in DEFAULT_TLS12_CIPHER_SUITES if s not in rsa_kx)
        suites += {"rsa": rsa_kx, "ecdhe": ecdhe}.get(key_exchange, ecdhe + rsa_kx)
    return suites


def client_config(request: Any) -> ClientConfig:
    """The engine's configuration for a HandshakeRequest."""
    if request.tls_version not in VERSIONS:
        raise BadRequest(f"TLS version {request.tls_version!r} is not supported; use 1.2 or 1.3")
    if request.key_exchange not in ("", "ecdhe", "rsa"):
        raise BadRequest(f"key exchange {request.key_exchange!r}: use rsa or ecdhe")
    if request.revocation not in ("", *certcheck.POLICIES):
        raise BadRequest(f"revocation policy must be one of {', '.join(certcheck.POLICIES)}")
    versions = VERSIONS[request.tls_version]
    if request.key_exchange == "rsa":
        if versions == (ProtocolVersion.TLSv1_3,):
            raise BadRequest("RSA key transport exists only in TLS 1.2; use --tls 1.2")
        versions = (ProtocolVersion.TLSv1_2,)
    kwargs: dict[str, Any] = {"versions": versions}
    kwargs["cipher_suites"] = (
        _enum_values(CipherSuite, request.cipher_suites, "cipher suite")
        if request.cipher_suites
        else _suites_for(versions, request.key_exchange)
    )
    if request.groups:
        groups = _enum_values(NamedGroup, request.groups, "group")
        kwargs["supported_groups"] = groups
        kwargs["key_share_groups"] = groups[:1]
    if request.signature_schemes:
        kwargs["signature_schemes"] = _enum_values(
            SignatureScheme, request.signature_schemes, "signature scheme"
        )
    return ClientConfig(
        server_name=request.server_name or None,
        entropy=os.urandom,
        request_ocsp=not request.no_status_request,
        **kwargs,
    )


class TlsClientServicer(client_pb2_grpc.TlsClientServicer):
    def __init__(
        self, server_address: str, ca_address: str, ocsp_address: str, clock: Clock
    ) -> None:
        self._clock = clock
        self._server_address = server_address
        self._server_channel = rpcutil.open_channel(server_address)
        self._ca_channel = rpcutil.open_channel(ca_address)
        self._ocsp_channel = rpcutil.open_channel(ocsp_address)
        self._server = server_pb2_grpc.TlsServerStub(self._server_channel)
        self._ca = ca_pb2_grpc.CertificateAuthorityStub(self._ca_channel)
        self._ocsp = ocsp_pb2_grpc.OcspResponderStub(self._ocsp_channel)
        self._verifiers: dict[str, ChainVerifier] = {}
        self._closing: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        for channel in (self._server_channel, self._ca_channel, self._ocsp_channel):
            await channel.close()

    async def _verifier(self, ca_pem: str) -> ChainVerifier:
        """One verifier per trust store, built once (building it is the expensive part)."""
        if not ca_pem:
            if "" not in self._verifiers:
                reply = await self._ca.GetTrustBundle(
                    ca_pb2.GetTrustBundleRequest(), timeout=5, metadata=rpcutil.trace_metadata()
                )
                self._verifiers[""] = ChainVerifier(
                    x509.load_pem_x509_certificates(reply.pem.encode())
                )
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
            metadata=rpcutil.trace_metadata(),
        )
        return bytes(reply.response_der)

    async def RunHandshake(self, request: Any, context: Any) -> Any:
        try:
            config = client_config(request)
            verifier = await self._verifier(request.ca_pem)
        except BadRequest as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except grpc.aio.AioRpcError as exc:
            await context.abort(
                grpc.StatusCode.UNAVAILABLE,
                f"cannot get the trust bundle from the ca: {exc.details()}",
            )
        report = await self.handshake(request, config, verifier)
        return client_pb2.HandshakeResult(ok=report["ok"], report_json=json.dumps(report))

    async def handshake(
        self, request: Any, config: ClientConfig, verifier: ChainVerifier
    ) -> dict[str, Any]:
        clock: Clock = self._clock
        if request.clock_skew_seconds:
            clock = SkewedClock(self._clock, dt.timedelta(seconds=request.clock_skew_seconds))
        policy = certcheck.CertificatePolicy(
            verifier=verifier,
            server_name=request.server_name or vhosts.DEFAULT_HOST,
            revocation=request.revocation or "soft",
            clock=clock,
            fetch_ocsp=self._fetch_ocsp,
        )
        app_data = request.application_data or DEFAULT_APPLICATION_DATA
        started = monotonic_ms()
        first: dict[str, Any] | None = None
        if request.resume:
            first, session = await self._run_once(request, config, policy, app_data)
            if session is None:
                first["ok"] = False
                first["error"] = first["error"] or "the server offered no session to resume"
                return first
            config = dataclasses.replace(config, session=session)
        report, _ = await self._run_once(request, config, policy, app_data)
        if first is not None:
            report["first_handshake"] = {
                key: first[key] for key in ("ok", "version", "cipher_suite", "resumed", "timings")
            } | {"steps": [s["name"] for s in first["steps"]]}
        report["timings"]["total_ms"] = round(monotonic_ms() - started, 3)
        log.info("handshake %s -> %s ok=%s", report["target"], request.server_name, report["ok"])
        return report

    async def _run_once(
        self,
        request: Any,
        config: ClientConfig,
        policy: certcheck.CertificatePolicy,
        app_data: bytes,
    ) -> tuple[dict[str, Any], Session | None]:
        """One connection: handshake, echo, close; the report, plus the session to resume."""
        verification = Verification()
        run = ClientRun()

        async def decide(received: Any) -> Any:
            return await certcheck.decide(policy, received, verification, run.started_ms)

        opened, target = await self._open(request.tcp_address, run)
        transport = RecordingTransport(opened) if opened is not None else None
        if transport is not None:
            try:
                await run_client(
                    ClientConnection(config), transport, decide, app_data, HANDSHAKE_DEADLINE_S, run
                )
            finally:
                # The report does not wait for the server to finish its side of the call.
                closing = asyncio.create_task(transport.close())
                self._closing.add(closing)
                closing.add_done_callback(self._closing.discard)
        report = build_report(
            run=run,
            verification=verification,
            server_name=request.server_name or None,
            target=target,
            trace_id=rpcutil.current_trace_id(),
            application_data=app_data,
        )
        if request.keylog:
            report["keylog"] = [
                t.event.keylog_line()
                for t in run.timeline
                if isinstance(t.event, events.SecretDerived)
            ]
        if request.capture and transport is not None:
            report["capture"] = {
                "client_to_server": transport.sent.hex(),
                "server_to_client": transport.received.hex(),
            }
        sessions = [
            t.event.session for t in run.timeline if isinstance(t.event, events.SessionReceived)
        ]
        return report, (sessions[-1] if sessions else None)

    async def _open(self, tcp_address: str, run: ClientRun) -> tuple[Transport | None, str]:
        if not tcp_address:
            call = self._server.Connect(metadata=rpcutil.trace_metadata())
            return GrpcClientTransport(call), f"grpc://{self._server_address}"
        try:
            host, port = split_host_port(tcp_address)
            tcp = await asyncio.wait_for(TcpTransport.connect(host, port), HANDSHAKE_DEADLINE_S)
        except (OSError, ValueError, TimeoutError) as exc:
            run.failure = f"cannot connect to {tcp_address}: {exc}"
            return None, f"tcp://{tcp_address}"
        return tcp, f"tcp://{tcp_address}"


async def serve(settings: ClientSettings, clock: Clock) -> None:
    servicer = TlsClientServicer(settings.server, settings.ca, settings.ocsp, clock)
    register = functools.partial(client_pb2_grpc.add_TlsClientServicer_to_server, servicer)
    try:
        async with runtime.grpc_server(settings.listen, SERVICE_NAME, register, MAX_REQUEST_BYTES):
            log.info("client ready on %s (server %s)", settings.listen, settings.server)
            await runtime.run_forever()
    finally:
        await servicer.close()
