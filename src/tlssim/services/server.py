"""The TLS server service: gets its certificates from the ca, staples OCSP, serves handshakes.

Handshakes arrive over the TlsServer.Connect gRPC stream and directly over TCP (so that
OpenSSL and other real TLS stacks can connect); application data is echoed back.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp

from tlssim import rpcutil
from tlssim.clock import Clock, monotonic_ms
from tlssim.net.drive import serve_connection
from tlssim.net.tcp_server import EngineProtocol
from tlssim.net.transport import GrpcServerTransport
from tlssim.net.used_tickets import UsedTickets
from tlssim.pki import keys
from tlssim.pki.admin import ADMIN_TOKEN_METADATA_KEY
from tlssim.pki.authority import self_signed_certificate, serial_to_hex
from tlssim.pki.enrollment import (
    ENROLLMENT_TOKEN_METADATA_KEY,
    AdminToken,
    read_token,
)
from tlssim.pki.revocation import build_ocsp_request
from tlssim.rpc.v1 import ca_pb2, ca_pb2_grpc, ocsp_pb2, ocsp_pb2_grpc, server_pb2, server_pb2_grpc
from tlssim.services import runtime
from tlssim.services.backoff import Backoff, until_done
from tlssim.services.client_auth import (
    ClientCertificateJudge,
    client_auth_for,
    post_handshake_ask,
)
from tlssim.services.handshake_metrics import HandshakeMetrics
from tlssim.services.served import ConnectionFeed, ObservedServerConnection, ServedConnection
from tlssim.services.server_clients import ClientName, ClientNames
from tlssim.services.server_feed import follow_revocations
from tlssim.services.settings import ServerSettings
from tlssim.telemetry import metrics
from tlssim.telemetry.traces import TraceLog
from tlssim.tls import (
    CertifiedKey,
    CipherSuite,
    HandshakeFailure,
    NamedGroup,
    ProtocolVersion,
    ServerConfig,
    ServerConnection,
    SessionCache,
    SignatureScheme,
    UnrecognizedName,
    events,
)
from tlssim.tls.anti_replay import EarlyDataSettings
from tlssim.tls.config import DEFAULT_CIPHER_SUITES, ClientAuth, HostPolicy
from tlssim.tls.ffdhe import DH_GROUPS
from tlssim.tls.signatures import key_supports
from tlssim.topology import vhosts
from tlssim.topology.endpoints import split_host_port

log = logging.getLogger("tlssim.server")

SERVICE_NAME = "tlssim.rpc.v1.TlsServer"
# One message carries the TLS records of a flight (the engine caps a record at 16 KiB).
MAX_REQUEST_BYTES = 256 * 1024
STARTUP_RETRY_S = 0.5
# After the feed says a served certificate was revoked: how often, and how patiently, to
# ask for a staple that says so (a responder may hear of it later, e.g. cut off from the
# ca); after that the regular refreshes carry on.
REVOKED_STAPLE_RETRY_S = 0.1
REVOKED_STAPLE_RETRY_MAX_S = 1.0
REVOKED_STAPLE_PATIENCE_S = 120.0


@dataclass
class HostCertificate:
    """One certificate of a virtual host, with its current OCSP staple."""

    host: str
    key_type: str
    key: Any
    chain: tuple[bytes, ...]  # leaf first, every intermediate (what the ca returned)
    send_intermediates: bool = True
    staple: bytes | None = None
    staple_next_update: dt.datetime | None = None
    staple_status: str = ""  # what the staple says: good, revoked, unknown
    staple_trace: str = ""  # the trace of the fetch that brought it

    def certified_key(self) -> CertifiedKey:
        presented = self.chain if self.send_intermediates else self.chain[:1]
        return CertifiedKey(chain=presented, private_key=self.key, ocsp_response=self.staple)

    @property
    def serial_hex(self) -> str:
        return serial_to_hex(x509.load_der_x509_certificate(self.chain[0]).serial_number)


#: Enrollment requests the server keeps in flight to the ca at start.
ENROLL_IN_FLIGHT = 8
# Under the data directory: the hosts' slow keys (keys.SLOW_KEY_TYPES), reused at the next
# start so that a restart is not held up by an RSA-8192 key (certificates are new each start).
KEY_DIR = "server-keys"


class HostCertificates:
    """The certificates of every virtual host, obtained from the ca by CSR at start, each
    request carrying the server's enrollment credential (read from its file every time, so
    a rotated credential is picked up)."""

    def __init__(
        self,
        ca: Any,
        ocsp_stub: Any,
        clock: Clock,
        *,
        credential: Path,
        traces: TraceLog,
        key_dir: Path | None = None,
    ) -> None:
        self._ca = ca
        # Where keys that take seconds to generate are kept for the next start (None: nowhere).
        self._key_dir = key_dir
        self._traces = traces
        self._credential = credential
        self._ocsp = ocsp_stub
        self._clock = clock
        self._hosts: dict[str, list[HostCertificate]] = {}
        # Serials of ours the ca's feed said were revoked: never stapled as good again.
        self._revoked: set[str] = set()
        # Keys being generated ahead of enrollment, by (host, key type).
        self._pending_keys: dict[tuple[str, str], asyncio.Future[keys.PrivateKey]] = {}

    def generate_keys(self) -> None:
        """Starts generating every host's keys in threads (they release the GIL), so that
        the slow ones (an RSA-8192 key takes seconds) are ready when the ca answers."""
        for host in vhosts.VIRTUAL_HOSTS:
            for key_type in host.key_types:
                self._pending_keys[(host.name, key_type)] = asyncio.ensure_future(
                    asyncio.to_thread(self._new_key, host.name, key_type)
                )

    def _new_key(self, host: str, key_type: str) -> keys.PrivateKey:
        if self._key_dir is None or key_type not in keys.SLOW_KEY_TYPES:
            return keys.generate_private_key(key_type)
        return keys.kept_private_key(key_type, self._key_dir / f"{host}.{key_type}.pem")

    async def enroll_all(self) -> None:
        # Several requests in flight: the hosts are many, and each waits on the ca's round trip.
        room = asyncio.Semaphore(ENROLL_IN_FLIGHT)

        async def enroll(host: vhosts.VirtualHost) -> None:
            async with room:
                certs = [await self._enroll(host, key_type) for key_type in host.key_types]
            self._hosts[host.name] = certs
            log.info("enrolled %s (%s)", host.name, ", ".join(host.key_types))

        await asyncio.gather(*(enroll(host) for host in vhosts.VIRTUAL_HOSTS))

    async def _enroll(self, host: vhosts.VirtualHost, key_type: str) -> HostCertificate:
        # In a thread: an RSA-8192 key takes seconds, and connections are being served.
        pending = self._pending_keys.pop((host.name, key_type), None)
        key = await (pending or asyncio.to_thread(self._new_key, host.name, key_type))
        if host.profile == vhosts.SELF_SIGNED:
            cert = self_signed_certificate(key, host.name, self._clock.now())
            der = cert.public_bytes(keys.Encoding.DER)
            return HostCertificate(host.name, key_type, key, (der,))
        csr = keys.build_csr(key, host.name, (host.name,))
        reply = await self._ca.IssueCertificate(
            ca_pb2.IssueCertificateRequest(
                csr_der=csr.public_bytes(keys.Encoding.DER), profile=host.profile
            ),
            metadata=((ENROLLMENT_TOKEN_METADATA_KEY, read_token(self._credential)),),
        )
        chain = tuple(bytes(c) for c in reply.chain_der)
        return HostCertificate(host.name, key_type, key, chain, host.send_intermediates)

    async def refresh_staples(self) -> None:
        """Fetches a fresh OCSP response for every certificate; a stale staple is dropped."""
        for certs in self._hosts.values():
            for cert in certs:
                await self._fetch_staple(cert)
                if cert.staple_next_update and cert.staple_next_update <= self._clock.now():
                    cert.staple, cert.staple_next_update = None, None

    async def _fetch_staple(self, cert: HostCertificate) -> None:
        """A fresh staple for `cert`; for one the feed said was revoked, an answer that says
        good is not taken (from a responder that has not heard yet)."""
        if len(cert.chain) < 2:
            return
        # Each fetch is a trace of its own; a handshake that staples its answer links to it.
        token = rpcutil.trace_id_var.set(rpcutil.new_trace_id())
        try:
            await self._fetch_staple_now(cert)
        finally:
            rpcutil.trace_id_var.reset(token)

    async def _fetch_staple_now(self, cert: HostCertificate) -> None:
        where = {"host": cert.host, "key_type": cert.key_type}
        leaf = x509.load_der_x509_certificate(cert.chain[0])
        issuer = x509.load_der_x509_certificate(cert.chain[1])
        try:
            reply = await self._ocsp.Check(
                ocsp_pb2.OcspCheckRequest(request_der=build_ocsp_request(leaf, issuer)), timeout=5
            )
            response = ocsp.load_der_ocsp_response(reply.response_der)
        except (grpc.aio.AioRpcError, ValueError) as exc:
            log.warning("no OCSP staple for %s: %s", cert.host, exc)
            why = exc.code().name if isinstance(exc, grpc.aio.AioRpcError) else str(exc)
            self._traces.record("staple fetch failed", where | {"error": why})
            return
        if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            log.warning("no OCSP staple for %s: %s", cert.host, response.response_status.name)
            self._traces.record(
                "staple fetch failed", where | {"error": response.response_status.name}
            )
            return
        if (
            response.certificate_status == ocsp.OCSPCertStatus.GOOD
            and cert.serial_hex in self._revoked
        ):
            return
        cert.staple = bytes(reply.response_der)
        cert.staple_next_update = response.next_update_utc
        cert.staple_status = response.certificate_status.name.lower()
        cert.staple_trace = rpcutil.current_trace_id()
        self._traces.record("staple fetched", where | {"status": cert.staple_status})

    async def renew(self, host_name: str) -> list[str]:
        """New keys and certificates for one lab host, stapled before they are served; the
        leaves' serials. The name is resolved as a connection's SNI is (any case, a trailing
        dot, empty for the default host). Raises LookupError for a name that is not a lab host."""
        host = vhosts.find(host_name)
        if host is None:
            raise LookupError(f"no lab host {host_name!r}")
        certs = [await self._enroll(host, key_type) for key_type in host.key_types]
        for cert in certs:
            await self._fetch_staple(cert)
        self._hosts[host.name] = certs
        log.info("renewed %s: %s", host.name, ", ".join(c.serial_hex for c in certs))
        return [c.serial_hex for c in certs]

    async def revoked(self, serial_hex: str) -> None:
        """The ca revoked `serial_hex`: if we serve it, its staple (which may still say good)
        goes at once, and a fresh one is fetched until the responder says revoked too."""
        held = [c for certs in self._hosts.values() for c in certs if c.serial_hex == serial_hex]
        if held:
            self._revoked.add(serial_hex)
        for cert in held:
            cert.staple, cert.staple_next_update = None, None
            log.info("%s (%s) was revoked: staple dropped", cert.host, serial_hex)
        backoff = Backoff(REVOKED_STAPLE_RETRY_S, REVOKED_STAPLE_RETRY_MAX_S)
        deadline = time.monotonic() + REVOKED_STAPLE_PATIENCE_S
        while held and time.monotonic() < deadline:
            for cert in held:
                if cert.staple is None or not _says_revoked(cert.staple):
                    await self._fetch_staple(cert)
            if all(c.staple is not None for c in held):
                return
            await backoff.wait()

    def held(self, host: str, key_type: str) -> HostCertificate | None:
        """The certificate of one lab host (by exact name) and key type ("": its first)."""
        return next((c for c in self._hosts.get(host, []) if key_type in ("", c.key_type)), None)

    def select(
        self,
        host: vhosts.VirtualHost | None,
        server_name: str | None,
        offered: tuple[SignatureScheme, ...],
    ) -> CertifiedKey:
        """A certificate of `host` (the virtual host `server_name` resolved to) for a client
        offering `offered`."""
        if host is None:
            raise UnrecognizedName(f"no virtual host {server_name!r}")
        certs = self._hosts.get(host.name, [])
        for cert in certs:
            if any(key_supports(cert.key, scheme) for scheme in offered):
                chosen = {"host": host.name, "key_type": cert.key_type}
                staple = cert.staple_status if cert.staple else "none"
                links = (cert.staple_trace,) if cert.staple else ()
                self._traces.record(
                    "certificate chosen", chosen | {"staple_held": staple}, links=links
                )
                return cert.certified_key()
        held = ", ".join(c.key_type for c in certs)
        tls13_only = " (ML-DSA signs in TLS 1.3 only)" if "mldsa" in held else ""
        raise HandshakeFailure(
            f"{host.name} has no certificate for the offered signature algorithms: it holds "
            f"{held}{tls13_only}"
        )


class ConnectionHost:
    """The virtual host of one connection, resolved once from the SNI its ClientHello names
    (``vhosts.find``: any case, a trailing dot, the default host without SNI) and handed to
    everything the engine asks per host: the groups, client authentication and the
    certificate."""

    def __init__(
        self,
        certificates: HostCertificates,
        client_auth: Callable[[vhosts.VirtualHost | None], ClientAuth | None],
    ) -> None:
        self._certificates = certificates
        self._client_auth = client_auth
        self._resolved: tuple[str | None, vhosts.VirtualHost | None] | None = None

    def host(self, server_name: str | None) -> vhosts.VirtualHost | None:
        """The virtual host for `server_name` (None: no such host), looked up once."""
        if self._resolved is None or self._resolved[0] != server_name:
            self._resolved = (server_name, vhosts.find(server_name))
        return self._resolved[1]

    def groups(self, server_name: str | None) -> tuple[NamedGroup, ...] | None:
        return host_groups(self.host(server_name))

    def policy(self, server_name: str | None) -> HostPolicy | None:
        return host_policy(self.host(server_name))

    def client_auth(self, server_name: str | None) -> ClientAuth | None:
        return self._client_auth(self.host(server_name))

    def select_certificate(
        self, server_name: str | None, offered: tuple[SignatureScheme, ...]
    ) -> CertifiedKey:
        return self._certificates.select(self.host(server_name), server_name, offered)


def host_groups(host: vhosts.VirtualHost | None) -> tuple[NamedGroup, ...] | None:
    """The groups a virtual host narrows the server's to (pq.tlssim.test: ML-KEM ones)."""
    if host is None or not host.groups:
        return None
    return tuple(NamedGroup[g] for g in host.groups)


def host_policy(host: vhosts.VirtualHost | None) -> HostPolicy | None:
    """The versions and suites a host allows instead of the server's (the legacy hosts)."""
    if host is None or not (host.versions or host.cipher_suites):
        return None
    return HostPolicy(
        versions=tuple(ProtocolVersion[v] for v in host.versions)
        or (ProtocolVersion.TLSv1_3, ProtocolVersion.TLSv1_2),
        cipher_suites=tuple(CipherSuite[s] for s in host.cipher_suites) or DEFAULT_CIPHER_SUITES,
        encrypt_then_mac=host.encrypt_then_mac,
        dh_group=DH_GROUPS[host.dh_group] if host.dh_group else None,
    )


def _says_revoked(staple: bytes) -> bool:
    response = ocsp.load_der_ocsp_response(staple)
    return bool(response.certificate_status == ocsp.OCSPCertStatus.REVOKED)


def log_connection(transport: str, conn: ServerConnection, client: ClientName) -> None:
    """One line per connection, carrying the trace id of the call it belongs to."""
    if not log.isEnabledFor(logging.INFO):
        return  # nor the line's parts
    if conn.negotiated is not None:
        n = conn.negotiated
        log.info(
            "%s handshake for %s: %s %s %s%s%s%s (client: %s)",
            transport,
            n.server_name or "(no SNI)",
            n.version.label,
            n.cipher_suite.name,
            n.key_exchange,
            " resumed" if n.resumed else "",
            _early_data_note(conn),
            f", ended by {conn.error.alert.name}" if conn.error else "",
            client.name,
        )
    else:
        why = conn.error.alert.name if conn.error else "the client went away"
        log.info(
            "%s handshake failed: %s%s (client: %s)",
            transport,
            why,
            _early_data_note(conn),
            client.name,
        )


def _early_data_note(conn: ServerConnection) -> str:
    """ ", 0-RTT accepted" and the like, for the log line (empty without 0-RTT)."""
    timeline = getattr(conn, "timeline", ())
    for _, ev in timeline:
        if isinstance(ev, events.EarlyDataAnswered):
            return ", 0-RTT accepted" if ev.accepted else f", 0-RTT rejected ({ev.reason})"
    return ""


def trace_connection(
    traces: TraceLog, transport: str, conn: ObservedServerConnection, client: ClientName
) -> None:
    """The connection's outcome as a trace event, timed from its start."""
    details: dict[str, Any] = {
        "transport": transport,
        "client": client.name,
        "fingerprint": client.fingerprint,
    }
    if conn.negotiated is not None:
        n = conn.negotiated
        details |= {
            "host": n.server_name or "(no SNI)",
            "version": n.version.label,
            "suite": n.cipher_suite.name,
            "group": n.key_exchange,
            "resumed": n.resumed,
        }
    else:
        details["host"] = conn.offered_server_name or "(no SNI)"
    if conn.error is not None:
        details["alert"] = conn.error.alert.name
    elif conn.negotiated is None:
        details["alert"] = "none: the client went away"
    name = "handshake served" if conn.negotiated is not None else "handshake failed"
    traces.record(name, details, duration_ms=round(monotonic_ms() - conn.started_ms, 3))


class TlsServerServicer(server_pb2_grpc.TlsServerServicer):
    def __init__(
        self,
        certificates: HostCertificates,
        judge: ClientCertificateJudge,
        traces: TraceLog,
        *,
        early_data_max: int = 16384,
        anti_replay: bool = True,
        replica: str | None = None,
        ticket_key: bytes | None = None,
        client_names: ClientNames | None = None,
    ) -> None:
        self._certificates = certificates
        #: Names the stack behind each ClientHello (the table `tlssim interop` records).
        self.client_names = client_names or ClientNames(())
        self.traces = traces
        #: This replica's name, told to clients that ask (tlssim_replica).
        self.replica = replica
        #: Decides on client certificates for the hosts that ask for one.
        self.judge = judge
        self._client_auth = client_auth_for(judge.roots)
        #: What the echo protocol's private path asks for after the handshake.
        self.post_handshake_ask = post_handshake_ask(judge.roots)
        # 0-RTT: one register for every connection, so a replay on any of them is caught.
        self._early_data = (
            EarlyDataSettings(
                max_size=early_data_max, used_tickets=UsedTickets() if anti_replay else None
            )
            if early_data_max
            else None
        )
        # Shared by every connection, over gRPC and TCP, so sessions resume across both.
        self._session_cache = SessionCache(max_size=10_000)
        # Replicas given the same key resume each other's TLS 1.3 tickets; a random one
        # limits resumption to this replica (elsewhere a ticket gets a full handshake).
        self._ticket_key = ticket_key or os.urandom(32)
        # Each connection once it ends, for watchers (WatchConnections).
        self.served = ConnectionFeed()
        self.metrics = HandshakeMetrics("server")

    def new_connection(self) -> ObservedServerConnection:
        host = ConnectionHost(self._certificates, self._client_auth)
        return ObservedServerConnection(
            ServerConfig(
                entropy=os.urandom,
                certificate_selector=host.select_certificate,
                session_cache=self._session_cache,
                ticket_key=self._ticket_key,
                client_auth=host.client_auth,
                groups_for_server_name=host.groups,
                host_policy=host.policy,
                early_data=self._early_data,
                replica=self.replica,
            )
        )

    # Streams back through context.write() rather than by yielding, hence the override.

    async def Connect(self, request_iterator: Any, context: Any) -> None:  # type: ignore[override]
        trace_id = rpcutil.bind_trace(context)
        conn = self.new_connection()
        try:
            await serve_connection(
                conn, GrpcServerTransport(context), self.judge, self.post_handshake_ask
            )
        finally:
            self.finished("gRPC", context.peer(), trace_id, conn)

    def tcp_connection(self) -> EngineProtocol:
        """The protocol of one connection to the TLS-over-TCP port. No trace id comes over
        TCP: each connection is a trace of its own."""
        context = contextvars.copy_context()
        context.run(rpcutil.trace_id_var.set, rpcutil.new_trace_id())
        conn = self.new_connection()

        def closed(peer: Any) -> None:
            where = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
            self.finished("TCP", where, "", conn)

        return EngineProtocol(conn, context, closed, self.judge, self.post_handshake_ask)

    def finished(
        self, transport: str, peer: str, trace_id: str, conn: ObservedServerConnection
    ) -> None:
        """A connection ended: its log line, trace event, metrics and feed entry."""
        client = self.client_names.name(conn.client_hello)
        log_connection(transport, conn, client)
        trace_connection(self.traces, transport, conn, client)
        self.metrics.count_connection(conn)
        self.served.publish(
            ServedConnection(
                transport=transport,
                peer=peer,
                trace_id=trace_id,
                conn=conn,
                replica=self.replica,
                client=client.name,
                fingerprint=client.fingerprint,
            )
        )


class LabKeysServicer(server_pb2_grpc.LabKeysServicer):
    """Hands a lab host's private key to an admin, for the forward-secrecy demonstration."""

    def __init__(
        self, certificates: HostCertificates, admin: AdminToken, replica: str = ""
    ) -> None:
        self._certificates = certificates
        self._admin = admin
        self._replica = replica

    async def _require_admin(self, context: Any, action: str) -> None:
        """Ends the call as PERMISSION_DENIED unless it presents the admin token."""
        metadata = dict(context.invocation_metadata() or ())
        if not self._admin.matches(metadata.get(ADMIN_TOKEN_METADATA_KEY)):
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{action} needs the deployment's admin token in {ADMIN_TOKEN_METADATA_KEY}",
            )

    async def ExportHostKey(self, request: Any, context: Any) -> Any:
        await self._require_admin(context, "exporting a key")
        held = self._certificates.held(str(request.host)[:253], str(request.key_type)[:32])
        if held is None:
            return await context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"no lab host {str(request.host)[:253]!r} with key type "
                f"{str(request.key_type)[:32] or 'any'!r}",
            )
        log.warning(
            "exported the private key of %s (%s) to an admin: what it protected by RSA key "
            "transport can now be decrypted",
            held.host,
            held.key_type,
        )
        leaf = x509.load_der_x509_certificate(held.chain[0])
        return server_pb2.ExportHostKeyResponse(
            key_pem=held.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode(),
            certificate_pem=leaf.public_bytes(serialization.Encoding.PEM).decode(),
            key_type=held.key_type,
        )

    async def RenewHostCertificate(self, request: Any, context: Any) -> Any:
        await self._require_admin(context, "renewing a certificate")
        try:
            serials = await self._certificates.renew(str(request.host)[:253])
        except LookupError as exc:
            return await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        return server_pb2.RenewHostCertificateResponse(serial_hex=serials, replica=self._replica)


class ServerWatchServicer(server_pb2_grpc.ServerWatchServicer):
    def __init__(self, served: ConnectionFeed) -> None:
        self._served = served

    async def WatchConnections(self, request: Any, context: Any) -> Any:
        async for number, served in self._served.follow(request.after_sequence):
            yield server_pb2.ServedConnection(sequence=number, summary_json=served.summary_json())

    async def WatchConnectionBatches(self, request: Any, context: Any) -> Any:
        async for batch in self._served.follow_batches(request.after_sequence):
            yield server_pb2.ServedConnections(
                connections=[
                    server_pb2.ServedConnection(sequence=number, summary_json=s.summary_json())
                    for number, s in batch
                ]
            )


async def _enrolled_hosts(
    settings: ServerSettings,
    clock: Clock,
    ca_stub: Any,
    ocsp_stub: Any,
    traces: TraceLog,
) -> HostCertificates:
    """Every virtual host's keys, enrolled with the ca (retried until it answers) and
    stapled."""
    certificates = HostCertificates(
        ca_stub,
        ocsp_stub,
        clock,
        credential=settings.enrollment_token_file,
        traces=traces,
        key_dir=settings.data_dir / KEY_DIR,
    )
    certificates.generate_keys()
    await until_done(
        certificates.enroll_all,
        f"enroll with the ca at {settings.ca}",
        log,
        Backoff(STARTUP_RETRY_S),
    )
    await certificates.refresh_staples()
    return certificates


async def _client_certificate_judge(
    ca_stub: Any, ocsp_stub: Any, clock: Clock
) -> ClientCertificateJudge:
    """What decides on a client's certificate: the ca's trust anchors, and the responder."""
    bundle = await ca_stub.GetTrustBundle(ca_pb2.GetTrustBundleRequest(), timeout=10)

    async def fetch_ocsp(request_der: bytes) -> bytes:
        reply = await ocsp_stub.Check(ocsp_pb2.OcspCheckRequest(request_der=request_der), timeout=5)
        return bytes(reply.response_der)

    roots = tuple(x509.load_pem_x509_certificates(bundle.pem.encode()))
    return ClientCertificateJudge(roots, fetch_ocsp, clock)


def _registrar(
    settings: ServerSettings, servicer: TlsServerServicer, certificates: HostCertificates
) -> Callable[[grpc.aio.Server], None]:
    """What puts the server's gRPC services on its gRPC server."""

    def register(server: grpc.aio.Server) -> None:
        server_pb2_grpc.add_TlsServerServicer_to_server(servicer, server)
        watch = ServerWatchServicer(servicer.served)
        server_pb2_grpc.add_ServerWatchServicer_to_server(watch, server)
        admin = AdminToken(settings.ca_data_dir, settings.admin_token)
        lab_keys = LabKeysServicer(certificates, admin, settings.replica)
        server_pb2_grpc.add_LabKeysServicer_to_server(lab_keys, server)

    return register


async def serve(settings: ServerSettings, clock: Clock) -> None:
    """Enrolls every virtual host with the ca, then serves gRPC and TCP until cancelled."""
    ca_channel = rpcutil.open_channel(settings.ca)
    ocsp_channel = rpcutil.open_channel(settings.ocsp)
    tcp_server: asyncio.Server | None = None
    feed: asyncio.Task[None] | None = None
    traces = TraceLog("server")
    try:
        ca_stub = ca_pb2_grpc.CertificateAuthorityStub(ca_channel)
        ocsp_stub = ocsp_pb2_grpc.OcspResponderStub(ocsp_channel)
        certificates = await _enrolled_hosts(settings, clock, ca_stub, ocsp_stub, traces)
        servicer = TlsServerServicer(
            certificates,
            await _client_certificate_judge(ca_stub, ocsp_stub, clock),
            traces,
            early_data_max=settings.early_data_max,
            anti_replay=settings.anti_replay,
            replica=settings.replica or None,
            ticket_key=settings.ticket_key,
            client_names=ClientNames.for_data_dir(settings.data_dir),
        )
        if not settings.anti_replay:
            log.warning("0-RTT anti-replay is OFF: replayed early data will be accepted")

        register = _registrar(settings, servicer, certificates)
        exposed = metrics.Metrics(servicer.metrics.sources())
        async with (
            runtime.grpc_server(settings.listen, SERVICE_NAME, register, MAX_REQUEST_BYTES, traces),
            metrics.endpoint(settings.metrics_listen, exposed, settings.http_hosts),
        ):
            host, port = split_host_port(settings.tcp_listen)
            loop = asyncio.get_running_loop()
            tcp_server = await loop.create_server(servicer.tcp_connection, host, port)
            log.info("server ready: gRPC %s, TLS over TCP %s", settings.listen, settings.tcp_listen)
            feed = asyncio.create_task(follow_revocations(ca_stub, certificates), name="ca-feed")
            while True:
                await asyncio.sleep(settings.staple_refresh_s)
                await certificates.refresh_staples()
    finally:
        if feed is not None:
            feed.cancel()
        if tcp_server is not None:
            tcp_server.close()
        await ca_channel.close()
        await ocsp_channel.close()
