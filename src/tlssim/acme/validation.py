"""Challenge validation across the network: http-01 (RFC 8555 8.3) and tls-alpn-01 (RFC 8737).

The validator connects to the name being validated, found through the lab's name mapping
(not the system's resolver), or to the IP address of an ip identifier (RFC 8738); a "via"
address, when set, is dialled instead (a faults proxy in front of the challenge port), so
the lab's toxics apply to validation too.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import ssl
from dataclasses import dataclass
from typing import Final

import aiohttp
from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

from tlssim.acme.policy import resolve
from tlssim.acme.problems import AcmeProblem

ACME_IDENTIFIER_OID: Final = ObjectIdentifier("1.3.6.1.5.5.7.1.31")
ACME_TLS_ALPN: Final = "acme-tls/1"
# A challenge response is tiny: more than this is not read.
MAX_HTTP01_BODY: Final = 8 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Validator:
    resolve: tuple[tuple[str, str], ...] = (
        ("tlssim.test", "127.0.0.1"),
        ("*.tlssim.test", "127.0.0.1"),
    )
    http01_port: int = 5002
    tlsalpn01_port: int = 5001
    #: HOST:PORT dialled instead of the resolved address and port (a faults proxy).
    http01_via: str = ""
    tlsalpn01_via: str = ""
    timeout_s: float = 10.0
    #: Waits this long before each validation (a fault: slow validation).
    delay_s: float = 0.0

    def target(self, kind: str, value: str, port: int, via: str) -> tuple[str, int]:
        """Where to connect for identifier (kind, value); connection problem if nowhere."""
        if via:
            host, _, via_port = via.rpartition(":")
            return host.strip("[]"), int(via_port)
        if kind == "ip":
            return value, port
        address = resolve(self.resolve, value)
        if address is None:
            raise AcmeProblem("dns", f"no address for {value} in the lab's name mapping")
        return address, port

    async def validate(
        self, challenge_type: str, kind: str, value: str, token: str, key_authorization: str
    ) -> str:
        """Checks one challenge; returns where it connected. AcmeProblem when it fails."""
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if challenge_type == "http-01":
            return await self.http01(kind, value, token, key_authorization)
        if challenge_type == "tls-alpn-01":
            return await self.tlsalpn01(kind, value, key_authorization)
        raise AcmeProblem.malformed(f"no challenge type {challenge_type}")

    async def http01(self, kind: str, value: str, token: str, key_authorization: str) -> str:
        host, port = self.target(kind, value, self.http01_port, self.http01_via)
        host_header = f"[{value}]" if ":" in value else value
        url_host = f"[{host}]" if ":" in host else host
        url = f"http://{url_host}:{port}/.well-known/acme-challenge/{token}"
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as http,
                http.get(
                    url,
                    headers={"Host": host_header},
                    allow_redirects=False,
                ) as reply,
            ):
                body = await reply.content.read(MAX_HTTP01_BODY)
                status = reply.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise AcmeProblem(
                "connection", f"http-01: cannot fetch from {host}:{port}: {_say(exc)}"
            ) from None
        if status != 200:
            raise AcmeProblem(
                "unauthorized", f"http-01: {host}:{port} answered HTTP {status}, not 200"
            )
        found = body.decode("ascii", "replace").strip()
        if found != key_authorization:
            raise AcmeProblem(
                "incorrectResponse",
                f"http-01: the key authorization served is {found[:100]!r}, "
                f"expected {key_authorization!r}",
            )
        return f"{host}:{port}"

    async def tlsalpn01(self, kind: str, value: str, key_authorization: str) -> str:
        host, port = self.target(kind, value, self.tlsalpn01_port, self.tlsalpn01_via)
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.set_alpn_protocols([ACME_TLS_ALPN])
        server_name = ipaddress.ip_address(value).reverse_pointer if kind == "ip" else value
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=context, server_hostname=server_name),
                self.timeout_s,
            )
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            raise AcmeProblem(
                "tls" if isinstance(exc, ssl.SSLError) else "connection",
                f"tls-alpn-01: no TLS connection to {host}:{port}: {_say(exc)}",
            ) from None
        try:
            ssl_object = writer.get_extra_info("ssl_object")
            protocol = ssl_object.selected_alpn_protocol() if ssl_object else None
            der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
        del reader
        if protocol != ACME_TLS_ALPN:
            raise AcmeProblem(
                "tls", f"tls-alpn-01: {host}:{port} did not choose ALPN {ACME_TLS_ALPN}"
            )
        if not der:
            raise AcmeProblem("tls", f"tls-alpn-01: {host}:{port} sent no certificate")
        check_alpn_certificate(der, kind, value, key_authorization)
        return f"{host}:{port}"


def check_alpn_certificate(der: bytes, kind: str, value: str, key_authorization: str) -> None:
    """RFC 8737 3: one SAN naming the identifier, and a critical acmeIdentifier extension
    holding the SHA-256 of the key authorization."""
    try:
        cert = x509.load_der_x509_certificate(der)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        extension = cert.extensions.get_extension_for_oid(ACME_IDENTIFIER_OID)
    except (ValueError, x509.ExtensionNotFound) as exc:
        raise AcmeProblem(
            "unauthorized", f"tls-alpn-01: the certificate is not a challenge certificate: {exc}"
        ) from None
    sans = list(names)
    if kind == "ip":
        wanted: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(value))
    else:
        wanted = x509.DNSName(value)
    if sans != [wanted]:
        raise AcmeProblem(
            "unauthorized", f"tls-alpn-01: the certificate must name {value} alone in its SAN"
        )
    if not extension.critical:
        raise AcmeProblem(
            "unauthorized", "tls-alpn-01: the acmeIdentifier extension is not critical"
        )
    digest = hashlib.sha256(key_authorization.encode()).digest()
    raw = getattr(extension.value, "value", b"")
    if raw != b"\x04\x20" + digest:
        raise AcmeProblem(
            "incorrectResponse",
            "tls-alpn-01: the acmeIdentifier does not match the key authorization",
        )


def _say(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:160] or type(exc).__name__
