"""Where revocation answers come from besides the staple: the CRL over HTTP, and a short
cache of intermediates' answers so that a stream of handshakes does not ask again and again."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from cryptography import x509

from tlssim import rpcutil
from tlssim.pki.checks import Check
from tlssim.report.revocation import RevocationSource, RevocationStatus

# Sends an OCSP request (DER) to the lab's responder and returns its answer (DER), or raises.
OcspFetcher = Callable[[bytes], Awaitable[bytes]]
# Sends an OCSP request (DER) to the responder URL a certificate names, or raises.
OcspUrlFetcher = Callable[[str, bytes], Awaitable[bytes]]
# Fetches a CRL (DER) from its distribution point URL, or raises.
CrlFetcher = Callable[[str], Awaitable[bytes]]
# Fetches an issuer's certificate (DER or PEM) from an AIA caIssuers URL, or raises.
IssuerFetcher = Callable[[str], Awaitable[bytes]]

CRL_TIMEOUT_S: Final = 2.0
STATUS_CACHE_S: Final = 5.0
MAX_CRL_BYTES: Final = 4 * 1024 * 1024
#: An OCSP response is a few kilobytes, its responder's certificate included.
MAX_OCSP_BYTES: Final = 64 * 1024
OCSP_REQUEST: Final = "application/ocsp-request"
OCSP_RESPONSE: Final = "application/ocsp-response"
#: A CA certificate is a few kilobytes (an ML-DSA-87 one under 8 KiB).
MAX_ISSUER_BYTES: Final = 64 * 1024
MAX_CACHED: Final = 1024
# Addresses in certificates point at the lab's own responder: never through a proxy.
_DIRECT: Final = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _http_get(url: str, timeout: float, limit: int = MAX_CRL_BYTES, what: str = "CRL") -> bytes:
    request = urllib.request.Request(url)
    # The handshake's trace id travels with the fetch, as on the gRPC calls.
    if trace_id := rpcutil.trace_id_var.get():
        request.add_header(rpcutil.TRACE_METADATA_KEY, trace_id)
        request.add_header(rpcutil.TRACEPARENT_KEY, rpcutil.traceparent(trace_id))
    with _DIRECT.open(request, timeout=timeout) as answer:
        body: bytes = answer.read(limit + 1)
    if len(body) > limit:
        raise ValueError(f"the {what} at {url} is larger than {limit} bytes")
    return body


def _http_post_ocsp(url: str, request_der: bytes, timeout: float) -> bytes:
    request = urllib.request.Request(
        url,
        data=request_der,
        method="POST",
        headers={"Content-Type": OCSP_REQUEST, "Accept": OCSP_RESPONSE},
    )
    if trace_id := rpcutil.trace_id_var.get():
        request.add_header(rpcutil.TRACE_METADATA_KEY, trace_id)
        request.add_header(rpcutil.TRACEPARENT_KEY, rpcutil.traceparent(trace_id))
    with _DIRECT.open(request, timeout=timeout) as answer:
        kind = answer.headers.get_content_type()
        body: bytes = answer.read(MAX_OCSP_BYTES + 1)
    if len(body) > MAX_OCSP_BYTES:
        raise ValueError(f"the OCSP answer from {url} is larger than {MAX_OCSP_BYTES} bytes")
    if kind != OCSP_RESPONSE:
        raise ValueError(f"{url} answered {kind}, not {OCSP_RESPONSE}")
    return body


@dataclass(frozen=True, kw_only=True, slots=True)
class HttpOcspFetcher:
    """POSTs an OCSP request to the responder URL a certificate names (RFC 6960 A.1, the
    form every responder accepts), at most MAX_OCSP_BYTES back, giving up after
    `timeout_s`; the blocking exchange runs in a worker thread, off the event loop."""

    timeout_s: float = CRL_TIMEOUT_S

    async def __call__(self, url: str, request_der: bytes) -> bytes:
        if not url.startswith("http://"):
            raise ValueError(f"OCSP responder {url!r} is not an http URL")
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(_http_post_ocsp, url, request_der, self.timeout_s),
                self.timeout_s + 0.5,
            )
        except (TimeoutError, urllib.error.URLError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            if isinstance(reason, TimeoutError):
                raise TimeoutError(f"no answer within {self.timeout_s:g} s") from exc
            raise


@dataclass(frozen=True, kw_only=True, slots=True)
class HttpCrlFetcher:
    """GETs a CRL from its distribution point, giving up after `timeout_s`."""

    timeout_s: float = CRL_TIMEOUT_S

    async def __call__(self, url: str) -> bytes:
        return await asyncio.wait_for(
            asyncio.to_thread(_http_get, url, self.timeout_s), self.timeout_s + 0.5
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class HttpIssuerFetcher:
    """GETs an issuer's certificate from an AIA caIssuers URL (http only), at most
    MAX_ISSUER_BYTES, giving up after `timeout_s`."""

    timeout_s: float = CRL_TIMEOUT_S

    async def __call__(self, url: str) -> bytes:
        if not url.startswith("http://"):
            raise ValueError(f"caIssuers {url!r} is not an http URL")
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(_http_get, url, self.timeout_s, MAX_ISSUER_BYTES, "certificate"),
                self.timeout_s + 0.5,
            )
        except (TimeoutError, urllib.error.URLError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            if isinstance(reason, TimeoutError):
                raise TimeoutError(f"no answer within {self.timeout_s:g} s") from exc
            raise


@dataclass(frozen=True, kw_only=True, slots=True)
class CertificateStatus:
    """What is known about one certificate of the path, and from where."""

    position: int  # 0 = the leaf, 1 = the first intermediate, ...
    cert: x509.Certificate
    status: RevocationStatus
    source: RevocationSource | None
    detail: str
    checks: tuple[Check, ...] = ()  # the checks behind the answer
    alert: str | None = None  # set for a bad staple or a missing must-staple staple
    next_update: dt.datetime | None = None
    #: Who answered: the lab's responder, a URL the certificate names, or the staple.
    location: str = ""

    @property
    def label(self) -> str:
        return "leaf" if self.position == 0 else f"intermediate {self.position}"


class StatusCache:
    """Recent good/revoked answers for intermediates (thread-unsafe; one event loop)."""

    def __init__(self, ttl_s: float = STATUS_CACHE_S) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[x509.Certificate, tuple[float, CertificateStatus]] = {}

    def get(self, cert: x509.Certificate) -> CertificateStatus | None:
        entry = self._entries.get(cert)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            del self._entries[cert]
            return None
        return entry[1]

    def put(self, status: CertificateStatus, valid_for_s: float | None) -> None:
        if self.ttl_s <= 0 or status.status not in (
            RevocationStatus.GOOD,
            RevocationStatus.REVOKED,
        ):
            return
        ttl = self.ttl_s if valid_for_s is None else min(self.ttl_s, valid_for_s)
        if ttl > 0:
            if len(self._entries) > MAX_CACHED:
                self._entries.clear()
            self._entries[status.cert] = (time.monotonic() + ttl, status)
