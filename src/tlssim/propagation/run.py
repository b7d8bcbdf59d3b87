"""How long a revocation takes to reach every responder and every staple.

One run: each server replica renews its certificates for a host (so nothing is revoked yet)
and staples them; every responder replica is then asked about every new serial, and every
server replica is handshaken with for its staple, until all say good. Then the ca revokes
the serials, and the same observers are polled until each says revoked: the time from the
revocation to each one's first "revoked" is what the figures are made of. Optionally the
responders are cut off from the ca (the faults proxy's ocsp_ca link) for a while first, to
show the tail. At the end the servers renew again, so the host is served valid once more.

Replicas are found by address: every address a service's name resolves to (as Swarm's
dnsrr and compose's scaled services answer) is one replica, reached directly.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from cryptography import x509
from cryptography.x509 import ocsp

from tlssim import rpcutil
from tlssim.client.run import run_client
from tlssim.net.transport import TcpTransport
from tlssim.pki.admin import ADMIN_TOKEN_METADATA_KEY
from tlssim.pki.revocation import build_ocsp_request
from tlssim.rpc.v1 import ca_pb2, ca_pb2_grpc, ocsp_pb2, ocsp_pb2_grpc, server_pb2, server_pb2_grpc
from tlssim.tls import AlertDescription, ClientConfig, ClientConnection, events
from tlssim.topology.endpoints import replica_addresses, split_host_port

CALL_TIMEOUT_S = 5.0
HANDSHAKE_TIMEOUT_S = 5.0
RESPONDERS_LINK = "ocsp_ca"  # the faults proxy between the responders and the ca

GOOD, REVOKED = "good", "revoked"
# What an observer can say besides good/revoked: no answer, tryLater, no staple.
UNAVAILABLE, NO_STAPLE = "unavailable", "no staple"


@dataclass(frozen=True, kw_only=True)
class Replicas:
    """The replicas to watch: responders by gRPC address, servers by (gRPC, TCP) address."""

    responders: tuple[str, ...]
    servers: tuple[tuple[str, str], ...]


@dataclass(kw_only=True)
class Observer:
    """One thing that says good or revoked: a responder about a serial, or a server replica
    about its own certificate (its staple)."""

    kind: str  # "ocsp" or "staple"
    where: str  # the responder's address, or the server replica's name
    serial: str
    revoked_after_s: float | None = None
    # Answers after the revocation that still said good, and the last such one.
    stale_good: int = 0
    last_good_after_s: float | None = None
    seen: dict[str, int] = field(default_factory=dict)

    def saw(self, status: str, after_s: float | None) -> None:
        self.seen[status] = self.seen.get(status, 0) + 1
        if after_s is None:
            return
        if status == GOOD:
            self.stale_good += 1
            self.last_good_after_s = after_s
        if status == REVOKED and self.revoked_after_s is None:
            self.revoked_after_s = after_s


@dataclass(frozen=True, kw_only=True)
class Outcome:
    host: str
    observers: tuple[Observer, ...]
    partition_s: float
    complete: bool  # every observer said revoked before the deadline


def resolve_replicas(ocsp_address: str, server_address: str, server_tcp: str) -> Replicas:
    """Every address each name resolves to, one replica each."""

    responders = tuple(replica_addresses(ocsp_address))
    tcp_port = split_host_port(server_tcp)[1]
    servers = tuple(
        (a, f"{a.rsplit(':', 1)[0]}:{tcp_port}") for a in replica_addresses(server_address)
    )
    if split_host_port(server_address)[0] != split_host_port(server_tcp)[0]:
        # gRPC and TCP behind different names (e.g. a proxy): pair them one to one.
        servers = tuple(zip((s for s, _ in servers), replica_addresses(server_tcp), strict=False))
    return Replicas(responders=responders, servers=servers)


@dataclass(frozen=True, kw_only=True)
class Served:
    """What one handshake with a server replica showed."""

    replica: str
    leaf: x509.Certificate
    issuer: x509.Certificate
    staple: bytes | None

    @property
    def serial(self) -> str:
        return format(self.leaf.serial_number, "x")


async def served_by(tcp_address: str, host: str) -> Served:
    """One handshake with a server replica, straight to its address, asking for a staple."""
    shown: list[events.CertificateReceived] = []

    async def note(received: events.CertificateReceived) -> AlertDescription | None:
        shown.append(received)
        return None

    config = ClientConfig(server_name=host, entropy=os.urandom, ask_replica=True)
    name, port = split_host_port(tcp_address)
    transport = await asyncio.wait_for(TcpTransport.connect(name, port), HANDSHAKE_TIMEOUT_S)
    try:
        run = await run_client(
            ClientConnection(config), transport, note, b"", HANDSHAKE_TIMEOUT_S, expect_echo=False
        )
    finally:
        await transport.close()
    complete = run.first(events.HandshakeComplete)
    if not shown or len(shown[0].chain) < 2 or complete is None:
        raise ConnectionError(f"no handshake with {tcp_address}: {run.failure}")
    info = complete.event
    assert isinstance(info, events.HandshakeComplete)
    return Served(
        replica=info.server_replica or tcp_address,
        leaf=x509.load_der_x509_certificate(shown[0].chain[0]),
        issuer=x509.load_der_x509_certificate(shown[0].chain[1]),
        staple=shown[0].ocsp_response,
    )


def staple_status(staple: bytes | None) -> str:
    if staple is None:
        return NO_STAPLE
    return _status(ocsp.load_der_ocsp_response(staple))


def _status(response: ocsp.OCSPResponse) -> str:
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return UNAVAILABLE
    return {
        ocsp.OCSPCertStatus.GOOD: GOOD,
        ocsp.OCSPCertStatus.REVOKED: REVOKED,
    }.get(response.certificate_status, UNAVAILABLE)


async def responder_status(stub: Any, request_der: bytes) -> str:
    try:
        reply = await stub.Check(
            ocsp_pb2.OcspCheckRequest(request_der=request_der), timeout=CALL_TIMEOUT_S
        )
        return _status(ocsp.load_der_ocsp_response(reply.response_der))
    except (grpc.aio.AioRpcError, ValueError):
        return UNAVAILABLE


Probe = Callable[[], Awaitable[str]]


async def poll_until(
    probes: list[tuple[Observer, Probe]],
    wanted: str,
    *,
    since: float | None,
    deadline_s: float,
    interval_s: float,
) -> bool:
    """Polls every probe not yet at `wanted` until all are (True) or the deadline passes.
    With `since` (a time.monotonic()), answers count as after the revocation."""
    left = list(probes)
    end = time.monotonic() + deadline_s
    while left and time.monotonic() < end:
        answers = await asyncio.gather(*(_timed(probe) for _, probe in left))
        still = []
        for (observer, probe), (status, at) in zip(left, answers, strict=True):
            observer.saw(status, None if since is None else at - since)
            if status != wanted:
                still.append((observer, probe))
        left = still
        if left:
            await asyncio.sleep(interval_s)
    return not left


async def _timed(probe: Probe) -> tuple[str, float]:
    """The probe's answer and when it came (each observer's own time, not the round's)."""
    status = await probe()
    return status, time.monotonic()


async def renew(servers: tuple[tuple[str, str], ...], host: str, token: str) -> None:
    for grpc_address, _ in servers:
        async with rpcutil.open_channel(grpc_address) as channel:
            await server_pb2_grpc.LabKeysStub(channel).RenewHostCertificate(
                server_pb2.RenewHostCertificateRequest(host=host),
                timeout=30,
                metadata=((ADMIN_TOKEN_METADATA_KEY, token),),
            )


@dataclass(frozen=True, kw_only=True)
class Run:
    """What one measurement needs."""

    ca: str
    replicas: Replicas
    host: str
    admin_token: str
    deadline_s: float = 60.0
    interval_s: float = 0.05
    partition_s: float = 0.0
    # Enables or disables the responders' link to the ca (the faults API).
    set_responders_link: Callable[[bool], Awaitable[None]] | None = None


async def measure(run: Run) -> Outcome:
    await renew(run.replicas.servers, run.host, run.admin_token)
    served = [await served_by(tcp, run.host) for _, tcp in run.replicas.servers]
    probes: list[tuple[Observer, Probe]] = [
        (Observer(kind="staple", where=s.replica, serial=s.serial), _staple(tcp, run.host))
        for s, (_, tcp) in zip(served, run.replicas.servers, strict=True)
    ]
    channels = [rpcutil.open_channel(a) for a in run.replicas.responders]
    try:
        for address, channel in zip(run.replicas.responders, channels, strict=True):
            stub = ocsp_pb2_grpc.OcspResponderStub(channel)
            probes += [
                (
                    Observer(kind="ocsp", where=address, serial=s.serial),
                    _ask(stub, build_ocsp_request(s.leaf, s.issuer)),
                )
                for s in served
            ]
        if not await poll_until(
            probes, GOOD, since=None, deadline_s=run.deadline_s, interval_s=run.interval_s
        ):
            raise RuntimeError("not every responder and staple said good before the revocation")
        for observer, _ in probes:
            observer.seen.clear()
        complete = await _revoke_and_watch(run, probes, sorted({s.serial for s in served}))
    finally:
        for channel in channels:
            await channel.close()
    # The host is served valid again (new certificates), whatever was measured.
    await renew(run.replicas.servers, run.host, run.admin_token)
    return Outcome(
        host=run.host,
        observers=tuple(o for o, _ in probes),
        partition_s=run.partition_s,
        complete=complete,
    )


async def _revoke_and_watch(
    run: Run, probes: list[tuple[Observer, Probe]], serials: list[str]
) -> bool:
    partitioned = bool(run.partition_s) and run.set_responders_link is not None
    if partitioned and run.set_responders_link is not None:
        await run.set_responders_link(False)
    try:
        async with rpcutil.open_channel(run.ca) as ca_channel:
            ca = ca_pb2_grpc.CertificateAuthorityStub(ca_channel)
            revoked_at = time.monotonic()
            for serial in serials:
                await ca.RevokeCertificate(
                    ca_pb2.RevokeCertificateRequest(serial_hex=serial, reason="superseded"),
                    timeout=CALL_TIMEOUT_S,
                    metadata=((ADMIN_TOKEN_METADATA_KEY, run.admin_token),),
                )
        healer = asyncio.create_task(_heal_after(run)) if partitioned else None
        complete = await poll_until(
            probes,
            REVOKED,
            since=revoked_at,
            deadline_s=run.deadline_s + run.partition_s,
            interval_s=run.interval_s,
        )
        if healer is not None:
            await healer
        return complete
    finally:
        if partitioned and run.set_responders_link is not None:
            await run.set_responders_link(True)


async def _heal_after(run: Run) -> None:
    if run.partition_s and run.set_responders_link is not None:
        await asyncio.sleep(run.partition_s)
        await run.set_responders_link(True)


def _staple(tcp: str, host: str) -> Probe:
    async def probe() -> str:
        try:
            served = await served_by(tcp, host)
        except (OSError, ConnectionError, TimeoutError):
            return UNAVAILABLE
        return staple_status(served.staple)

    return probe


def _ask(stub: Any, request_der: bytes) -> Probe:
    async def probe() -> str:
        return await responder_status(stub, request_der)

    return probe
