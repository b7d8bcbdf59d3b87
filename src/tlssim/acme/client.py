"""A minimal ACME client (ES256, http-01 with a responder of its own) for the fault
scenarios: one order from new account to certificate, or to the reason it failed."""

from __future__ import annotations

import asyncio
import json
import ssl
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from tlssim.acme import jws

POLL_S: Final = 0.1
POLLS: Final = 300


@dataclass(frozen=True, slots=True)
class Outcome:
    """The certificate's serial (hex), or the problem type that ended the order."""

    serial: str = ""
    problem: str = ""
    trace_id: str = ""

    @property
    def issued(self) -> bool:
        return bool(self.serial)


class _Session:
    def __init__(self, http: aiohttp.ClientSession, directory: dict[str, Any]) -> None:
        self.http = http
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.kid = ""

    async def _nonce(self) -> str:
        async with self.http.head(self.directory["newNonce"]) as reply:
            return str(reply.headers["Replay-Nonce"])

    async def post(self, url: str, payload: object | None) -> tuple[int, Any, Any]:
        """(status, headers, JSON body or bytes); badNonce is retried."""
        for _ in range(5):
            protected: dict[str, Any] = {"alg": "ES256", "nonce": await self._nonce(), "url": url}
            if self.kid:
                protected["kid"] = self.kid
            else:
                protected["jwk"] = jws.jwk_of(self.key.public_key())
            header = jws.b64encode(json.dumps(protected).encode())
            body = jws.b64encode(b"" if payload is None else json.dumps(payload).encode())
            r, s = decode_dss_signature(
                self.key.sign(f"{header}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
            )
            signature = jws.b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
            data = json.dumps({"protected": header, "payload": body, "signature": signature})
            async with self.http.post(
                url, data=data, headers={"Content-Type": "application/jose+json"}
            ) as reply:
                raw = await reply.read()
                value: Any = raw
                if reply.content_type.endswith("json"):
                    value = json.loads(raw)
                if isinstance(value, dict) and str(value.get("type", "")).endswith(":badNonce"):
                    continue
                return reply.status, reply.headers, value
        raise RuntimeError("every nonce was refused")


async def obtain(directory_url: str, bundle_pem: str, name: str, http01_port: int) -> Outcome:
    """Registers, orders `name`, answers http-01 on `http01_port` (loopback), finalizes."""
    answers: dict[str, str] = {}

    async def respond(request: web.Request) -> web.Response:
        return web.Response(text=answers.get(request.match_info["token"], ""))

    app = web.Application()
    app.router.add_get("/.well-known/acme-challenge/{token}", respond)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    # Every interface, as certbot's and lego's standalone modes listen: under compose the
    # validator comes from a container through the host gateway, not from loopback. The
    # port is open only while this order is validated.
    await web.TCPSite(runner, None, http01_port).start()
    context = ssl.create_default_context(cadata=bundle_pem)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as http:
            async with http.get(directory_url) as reply:
                directory = await reply.json()
            session = _Session(http, directory)
            status, headers, _ = await session.post(
                directory["newAccount"], {"termsOfServiceAgreed": True}
            )
            session.kid = str(headers["Location"])
            status, headers, order = await session.post(
                directory["newOrder"], {"identifiers": [{"type": "dns", "value": name}]}
            )
            if status != 201:
                return Outcome(problem=str(order.get("type", status)))
            trace_id = str(headers.get("X-Tlssim-Trace-Id", ""))
            order_url = str(headers["Location"])
            _, _, authz = await session.post(order["authorizations"][0], None)
            challenge = next(c for c in authz["challenges"] if c["type"] == "http-01")
            thumbprint = jws.thumbprint(session.key.public_key())
            answers[challenge["token"]] = f"{challenge['token']}.{thumbprint}"
            await session.post(challenge["url"], {})
            for _ in range(POLLS):
                _, _, state = await session.post(challenge["url"], None)
                if state["status"] in ("valid", "invalid"):
                    break
                await asyncio.sleep(POLL_S)
            if state["status"] != "valid":
                error = state.get("error", {}).get("type", state["status"])
                return Outcome(problem=str(error).rsplit(":", 1)[-1], trace_id=trace_id)
            for _ in range(POLLS):
                _, _, order = await session.post(order_url, None)
                if order["status"] != "pending":
                    break
                await asyncio.sleep(POLL_S)
            key = ec.generate_private_key(ec.SECP256R1())
            csr = (
                x509.CertificateSigningRequestBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
                .sign(key, hashes.SHA256())
            )
            der = csr.public_bytes(serialization.Encoding.DER)
            status, _, order = await session.post(order["finalize"], {"csr": jws.b64encode(der)})
            if status != 200 or order.get("status") != "valid":
                return Outcome(problem=str(order.get("type", status)), trace_id=trace_id)
            _, _, pem = await session.post(order["certificate"], None)
            leaf = x509.load_pem_x509_certificates(pem)[0]
            return Outcome(serial=format(leaf.serial_number, "x"), trace_id=trace_id)
    finally:
        await runner.cleanup()
