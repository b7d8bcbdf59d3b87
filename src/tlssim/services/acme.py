"""The ACME service: RFC 8555 over HTTPS in front of the ca, which it asks over gRPC.

It holds no CA key. It presents the acme identity's enrollment credential, which the ca
accepts for the acme profile only (names in the lab's zone, loopback addresses) and for
revoking what it issued under that profile. Its own HTTPS certificate is issued the same
way at start, so clients verify it with the lab's trust bundle.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
import tempfile
from pathlib import Path
from typing import Final

import grpc
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tlssim import rpcutil
from tlssim.acme.problems import AcmeProblem
from tlssim.acme.server import AcmeServer
from tlssim.clock import Clock
from tlssim.pki.enrollment import (
    ENROLLMENT_TOKEN_METADATA_KEY,
    AdminToken,
    CredentialMissing,
    read_token,
)
from tlssim.pki.profiles import ACME_PROFILE
from tlssim.rpc.v1 import ca_pb2, ca_pb2_grpc
from tlssim.services import runtime
from tlssim.services.acme_settings import AcmeSettings
from tlssim.telemetry.traces import TraceLog
from tlssim.topology import endpoints as ep

log = logging.getLogger("tlssim.acme")

SERVICE_NAME: Final = "tlssim.acme"
# The names the ACME server's own certificate carries.
SERVER_NAME: Final = "acme.tlssim.test"
CA_CALL_TIMEOUT_S: Final = 20.0
ENROLL_RETRY_S: Final = 1.0


class CaIssuer:
    """Issues and revokes through the ca's gRPC API with the acme credential; the trace id
    of the order travels with each call."""

    def __init__(self, channel: grpc.aio.Channel, token_file: Path) -> None:
        self._stub = ca_pb2_grpc.CertificateAuthorityStub(channel)
        self._token_file = token_file

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        try:
            token = read_token(self._token_file)
        except CredentialMissing as exc:
            raise AcmeProblem("serverInternal", f"no credential to ask the ca: {exc}") from None
        return ((ENROLLMENT_TOKEN_METADATA_KEY, token), *rpcutil.trace_metadata())

    async def issue(self, csr_der: bytes, lifetime_s: int) -> tuple[list[bytes], str]:
        request = ca_pb2.IssueCertificateRequest(
            csr_der=csr_der, profile=ACME_PROFILE, lifetime_seconds=lifetime_s
        )
        try:
            reply = await self._stub.IssueCertificate(
                request, metadata=self._metadata(), timeout=CA_CALL_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as exc:
            raise _problem(exc, "issue") from None
        return [bytes(c) for c in reply.chain_der], str(reply.serial_hex)

    async def revoke(self, serial_hex: str, reason: str) -> None:
        request = ca_pb2.RevokeCertificateRequest(serial_hex=serial_hex, reason=reason)
        try:
            await self._stub.RevokeCertificate(
                request, metadata=self._metadata(), timeout=CA_CALL_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as exc:
            raise _problem(exc, "revoke") from None

    async def trust_bundle(self) -> str:
        reply = await self._stub.GetTrustBundle(
            ca_pb2.GetTrustBundleRequest(), timeout=CA_CALL_TIMEOUT_S
        )
        return str(reply.pem)


def _problem(exc: grpc.aio.AioRpcError, what: str) -> AcmeProblem:
    detail = f"the ca would not {what}: {exc.details() or exc.code().name}"
    if exc.code() == grpc.StatusCode.PERMISSION_DENIED:
        return AcmeProblem("rejectedIdentifier", detail)
    if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
        return AcmeProblem("badCSR", detail)
    return AcmeProblem("serverInternal", detail)


async def own_certificate(issuer: CaIssuer, hosts: tuple[str, ...]) -> ssl.SSLContext:
    """A TLS context with a key made here and a certificate the ca issued for it (naming
    acme.tlssim.test and the loopback addresses it is reached on); retried until the ca
    answers."""
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(SERVER_NAME)]
    for host in hosts:
        names.append(_general_name(host))
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVER_NAME)]))
        .add_extension(x509.SubjectAlternativeName(list(dict.fromkeys(names))), critical=False)
        .sign(key, hashes.SHA256())
    )
    der = csr.public_bytes(serialization.Encoding.DER)
    while True:
        try:
            chain, serial = await issuer.issue(der, 0)
            break
        except AcmeProblem as problem:
            log.warning("cannot get the ACME server's certificate yet: %s", problem.detail)
            await asyncio.sleep(ENROLL_RETRY_S)
    log.info("serving with certificate serial %s for %s", serial, ", ".join(map(str, names)))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as folder:
        chain_path, key_path = Path(folder) / "chain.pem", Path(folder) / "key.pem"
        chain_path.write_bytes(
            b"".join(
                x509.load_der_x509_certificate(c).public_bytes(serialization.Encoding.PEM)
                for c in chain
            )
        )
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context.load_cert_chain(chain_path, key_path)
    return context


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def certificate_hosts(listen: str) -> tuple[str, ...]:
    """The loopback addresses (and the listen host, when it is a lab name or loopback)."""
    host, _ = ep.split_host_port(listen)
    hosts = ["127.0.0.1", "::1"]
    if host and host not in ("0.0.0.0", "::") and (host.endswith(".tlssim.test")):
        hosts.append(host)
    return tuple(hosts)


async def serve(settings: AcmeSettings, clock: Clock) -> None:
    """Runs the ACME service until cancelled. Its gRPC health answers once HTTPS is up."""
    del clock
    channel = rpcutil.open_channel(settings.ca, traced=False)
    issuer = CaIssuer(channel, settings.enrollment_token_file)
    traces = TraceLog("acme")
    admin = AdminToken(settings.ca_data_dir, settings.admin_token)
    server = AcmeServer(
        issuer,
        settings.policy,
        settings.validator,
        faults=settings.faults,
        traces=traces,
        admin=admin.matches,
    )
    runner = web.AppRunner(server.app(), handle_signals=False, access_log=None)
    try:
        context = await own_certificate(issuer, certificate_hosts(settings.listen))
        # Requests start with no trace: an order opens its own (the start-up call had one).
        rpcutil.trace_id_var.set("")
        await runner.setup()
        host, port = ep.split_host_port(settings.listen)
        await web.TCPSite(runner, host, port, ssl_context=context).start()
        async with runtime.grpc_server(
            settings.grpc_listen, SERVICE_NAME, lambda _server: None, traces=traces
        ):
            log.info(
                "acme listening on https://%s/directory (ca %s; http-01 on port %d, "
                "tls-alpn-01 on port %d; zones %s)",
                settings.listen,
                settings.ca,
                settings.validator.http01_port,
                settings.validator.tlsalpn01_port,
                ", ".join(settings.policy.zones),
            )
            await runtime.run_forever()
    finally:
        await runner.cleanup()
        await channel.close()
