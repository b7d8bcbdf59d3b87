"""What one handshake of a load run is: a RunHandshake call to the client service (our engine,
the whole distributed path), or a direct TLS handshake with OpenSSL (Python `ssl`) to any
server over TCP. Each turns its failures into a `Failure` kind, never an exception."""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from collections import Counter
from typing import Any

import grpc

from tlssim.load.run import Attempt, Failure
from tlssim.report.model import Report

# OpenSSL names a received alert in its reason, e.g. SSLV3_ALERT_HANDSHAKE_FAILURE or
# TLSV1_UNRECOGNIZED_NAME.
_RECEIVED_ALERT = re.compile(r"^(?:SSLV3|TLSV1|TLSV13)_(?:ALERT_)?([A-Z_]+)$")
# The alert OpenSSL sends for a failed certificate check, by X509_V_ERR code.
_VERIFY_ALERTS = {
    2: "unknown_ca",
    19: "unknown_ca",
    20: "unknown_ca",
    21: "unknown_ca",
    9: "bad_certificate",
    10: "certificate_expired",
    23: "certificate_revoked",
}


def failure_of_report(report: Report) -> Failure | None:
    """Why a client service handshake failed, from its report (None when it was ok)."""
    if report.ok:
        return None
    if report.alert is not None:
        return Failure(
            kind="alert", description=report.alert.description, sent_by=report.alert.sent_by.value
        )
    if report.error:
        return Failure(kind="transport", description=report.error)
    return Failure(kind="failed", description="; ".join(report.warnings) or "not ok")


def grpc_attempt(
    stub: Any, request: Any, timeout_s: float, served: Counter[tuple[str, str]] | None = None
) -> Attempt:
    """RunHandshake on the client service, over the caller's one long-lived channel;
    `served` counts the client and server replicas the reports name."""

    async def attempt() -> Failure | None:
        try:
            result = await stub.RunHandshake(request, timeout=timeout_s)
        except grpc.aio.AioRpcError as exc:
            return Failure(kind="grpc", description=exc.code().name)
        report = Report.from_json(result.report_json)
        if served is not None and report.replicas is not None:
            for role, name in (
                ("client", report.replicas.client),
                ("server", report.replicas.server),
            ):
                if name:
                    served[role, name] += 1
        return failure_of_report(report)

    return attempt


def failure_of_ssl(exc: BaseException) -> Failure:
    """The kind of a direct handshake's failure, as OpenSSL reported it."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        alert = _VERIFY_ALERTS.get(exc.verify_code, "bad_certificate")
        return Failure(kind="alert", description=alert, sent_by="client")
    if isinstance(exc, ssl.SSLError):
        found = _RECEIVED_ALERT.search(exc.reason or str(exc))
        if found:
            return Failure(kind="alert", description=found[1].lower(), sent_by="server")
        return Failure(kind="tls", description=(exc.reason or str(exc)).lower())
    if isinstance(exc, asyncio.IncompleteReadError | EOFError):
        return Failure(kind="transport", description="connection closed")
    return Failure(kind="transport", description=type(exc).__name__)


def client_context(ca_file: str | None, insecure: bool, version: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if version:
        pinned = ssl.TLSVersion.TLSv1_3 if version == "1.3" else ssl.TLSVersion.TLSv1_2
        ctx.minimum_version = ctx.maximum_version = pinned
    # Every handshake is a full one, as with `openssl s_time -new`.
    ctx.options |= ssl.OP_NO_TICKET
    return ctx


def tcp_attempt(host: str, port: int, server_name: str, ctx: ssl.SSLContext) -> Attempt:
    """Connect, full handshake, close: the latency is TCP connect plus the TLS handshake."""

    async def attempt() -> Failure | None:
        try:
            _, writer = await asyncio.open_connection(
                host, port, ssl=ctx, server_hostname=server_name or host
            )
        except (OSError, ssl.SSLError, EOFError) as exc:
            return failure_of_ssl(exc)
        writer.close()
        # The handshake is done; how the server closes is not measured.
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
        return None

    return attempt


async def reachable(host: str, port: int, timeout_s: float) -> bool:
    """True when something accepts TCP connections at host:port."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
