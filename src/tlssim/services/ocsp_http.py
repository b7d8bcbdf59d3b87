"""The OCSP responder's HTTP front: OCSP by GET and POST (RFC 6960 appendix A), the
CRLs that certificates name in their distribution points, at /crl/<issuer id>.crl, and
the issuing CAs' certificates that AIA caIssuers names, at /ca/<issuer id>.crt."""

from __future__ import annotations

import base64
import binascii
import logging
import time
import urllib.parse
from typing import Any, Final, Protocol

import grpc
from aiohttp import web
from cryptography import x509

from tlssim import rpcutil
from tlssim.clock import Clock
from tlssim.pki.authority import issuer_id
from tlssim.pki.ocsp_responder import OcspReply
from tlssim.pki.status_table import StatusTable
from tlssim.rpc.v1 import ca_pb2
from tlssim.telemetry.traces import TraceLog
from tlssim.web import HttpLimits, WebServer, new_app, read_body, text_error

log = logging.getLogger("tlssim.ocsp")

MAX_HTTP_BODY: Final = 64 * 1024
# OCSP requests are a few hundred bytes: a client gets 10 s for its request, and for an
# idle keep-alive connection.
HTTP_LIMITS: Final = HttpLimits(max_body=MAX_HTTP_BODY, body_timeout_s=10.0, idle_timeout_s=10.0)
CRL_CACHE_S: Final = 30.0
CRL_FETCH_TIMEOUT_S: Final = 5.0

OCSP_RESPONSE: Final = "application/ocsp-response"
PKIX_CRL: Final = "application/pkix-crl"
PKIX_CERT: Final = "application/pkix-cert"
CA_CERT_CACHE_S: Final = 3600


class ResponderState(Protocol):
    """What the HTTP front reads of the responder (`ocsp.ResponderState`, which imports this
    module: the front names only what it uses)."""

    table: StatusTable
    traces: TraceLog

    async def answer_for(self, request_der: bytes, front: str) -> OcspReply: ...


class OcspHttpFront:
    """Answers from the responder `state`; fetches CRLs from the `ca` stub (cached for
    CRL_CACHE_S, or until the status feed moves on)."""

    def __init__(
        self, state: ResponderState, ca: Any, clock: Clock, *, limits: HttpLimits = HTTP_LIMITS
    ) -> None:
        self.state = state
        self.ca = ca
        self.clock = clock
        self.limits = limits
        # issuer id -> (feed sequence, monotonic time, CRL DER, the trace that fetched it)
        self._crl_cache: dict[str, tuple[int, float, bytes, str]] = {}

    def application(self) -> web.Application:
        # No browser guard: OCSP answers and CRLs are public and signed, and relying parties
        # ask for them by whatever name the certificates carry.
        app = new_app(self.limits, text_error, guard=None)
        app.router.add_get("/{path:.*}", self._get, allow_head=False)
        app.router.add_post("/{path:.*}", self._post)
        return app

    async def listen(self, host: str, port: int) -> WebServer:
        """Serves on HOST:PORT until the returned server's `stop()`."""
        server = WebServer(self.application())
        await server.start(host, port)
        return server

    async def _post(self, request: web.Request) -> web.Response:
        _bind_trace(request)
        return await self._ocsp(await read_body(request))

    async def _get(self, request: web.Request) -> web.Response:
        _bind_trace(request)
        path = request.rel_url.raw_path
        if path.startswith("/crl/") and path.endswith(".crl"):
            return await self._crl(path[len("/crl/") : -len(".crl")])
        if path.startswith("/ca/") and path.endswith(".crt"):
            return self._ca_certificate(path[len("/ca/") : -len(".crt")])
        return await self._ocsp(_request_in_path(path))

    def _issuer_der(self, public_id: str) -> bytes | None:
        """The certificate (DER) of the issuing CA with this id, as the feed named it."""
        return next(
            (der for der, cert in self.state.table.issuers.items() if issuer_id(cert) == public_id),
            None,
        )

    def _ca_certificate(self, public_id: str) -> web.Response:
        """An issuing CA's certificate, DER (RFC 5280 4.2.2.1: what caIssuers points at)."""
        der = self._issuer_der(public_id)
        self.state.traces.record(
            "CA certificate served",
            {"issuer": public_id, "status": 404 if der is None else 200, "front": "http"},
        )
        if der is None:
            return text_error(404, "no such issuer")
        response = web.Response(body=der, content_type=PKIX_CERT)
        response.headers["Cache-Control"] = f"max-age={CA_CERT_CACHE_S}, public"
        return response

    async def _ocsp(self, der: bytes) -> web.Response:
        reply = await self.state.answer_for(der, "http")
        response = web.Response(body=reply.der, content_type=OCSP_RESPONSE)
        if reply.next_update is not None:
            max_age = max(0, int((reply.next_update - self.clock.now()).total_seconds()))
            response.headers["Cache-Control"] = (
                f"max-age={max_age}, public, no-transform, must-revalidate"
            )
        return response

    async def _crl(self, public_id: str) -> web.Response:
        issuer_der = self._issuer_der(public_id)
        if issuer_der is None:
            return text_error(404, "no such issuer")
        sequence = self.state.table.last_sequence
        cached = self._crl_cache.get(public_id)
        if cached is None or cached[0] != sequence or time.monotonic() - cached[1] > CRL_CACHE_S:
            response = await self._fresh_crl(public_id, issuer_der, sequence, cached)
        else:
            response = _crl_response(cached[2], f"max-age={CRL_CACHE_S:.0f}")
        cached = self._crl_cache.get(public_id)
        # The CRL came from the ca under the trace that fetched it, maybe an earlier one.
        self.state.traces.record(
            "CRL served",
            {"issuer": public_id, "status": response.status, "source": "CRL", "front": "http"},
            links=(cached[3],) if cached else (),
        )
        return response

    async def _fresh_crl(
        self,
        public_id: str,
        issuer_der: bytes,
        sequence: int,
        cached: tuple[int, float, bytes, str] | None,
    ) -> web.Response:
        try:
            reply = await self.ca.GetCrl(
                ca_pb2.GetCrlRequest(issuer_der=issuer_der), timeout=CRL_FETCH_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as exc:
            # A CRL is signed and dated: the last one stays usable until its nextUpdate.
            if cached is not None and not self._expired(cached[2]):
                log.info("ca unavailable (%s): serving the cached CRL", exc.code().name)
                return _crl_response(cached[2], "no-cache")
            return text_error(503, f"ca unavailable: {exc.code().name}")
        der = bytes(reply.der)
        self._crl_cache[public_id] = (sequence, time.monotonic(), der, rpcutil.current_trace_id())
        return _crl_response(der, f"max-age={CRL_CACHE_S:.0f}")

    def _expired(self, crl_der: bytes) -> bool:
        next_update = x509.load_der_x509_crl(crl_der).next_update_utc
        return next_update is None or next_update <= self.clock.now()


def _bind_trace(request: web.Request) -> None:
    """The caller's trace id (our header or a W3C traceparent), as over gRPC."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    rpcutil.trace_id_var.set(rpcutil.trace_id_from(headers))


def _request_in_path(path: str) -> bytes:
    """The DER request of a GET: base64 (or its URL-safe form), URL-encoded, after the /.
    Not base64: empty, which the responder answers with malformedRequest."""
    encoded = urllib.parse.unquote(path.lstrip("/"))
    try:
        url_safe = "-" in encoded or "_" in encoded
        return base64.b64decode(encoded, altchars=b"-_" if url_safe else None)
    except (binascii.Error, ValueError):
        return b""


def _crl_response(der: bytes, cache_control: str) -> web.Response:
    response = web.Response(body=der, content_type=PKIX_CRL)
    response.headers["Cache-Control"] = cache_control
    return response
