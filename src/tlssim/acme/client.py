"""A minimal ACME client (ES256, http-01 with a responder of its own) for the fault
scenarios: one order from new account to certificate, or to the reason it failed, with what
it went through on the way (refused nonces, polls, the waits it was asked for)."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from tlssim.acme import jws

# Between polls when the server names no Retry-After.
POLL_S: Final = 0.1
# A Retry-After longer than this is cut to it: the scenarios must end.
MAX_WAIT_S: Final = 10.0
POLLS: Final = 300
# badNonce retries of one request before giving up (RFC 8555 6.5: retry with the new nonce).
NONCE_RETRIES: Final = 5


@dataclass(frozen=True, slots=True)
class Wait:
    """A Retry-After the client was given on `resource`, and how long it waited after."""

    resource: str
    asked_s: int
    waited_s: float


@dataclass(slots=True)
class Outcome:
    """The certificate's serial (hex), or the problem type that ended the order, and how the
    order went."""

    serial: str = ""
    problem: str = ""
    trace_id: str = ""
    name: str = ""
    #: The statuses the authorization and the order ended in, and the order's problem type.
    authorization: str = ""
    order: str = ""
    order_problem: str = ""
    #: Requests answered (after any retries), badNonce answers retried, and the most
    #: retries one request needed.
    requests: int = 0
    nonce_retries: int = 0
    most_retries_in_a_row: int = 0
    #: Polls answered pending or processing.
    polls: int = 0
    waits: list[Wait] = field(default_factory=list)
    #: From answering the challenge to seeing its final status.
    validation_s: float = 0.0

    @property
    def issued(self) -> bool:
        return bool(self.serial)


def _problem_type(value: object) -> str:
    if isinstance(value, dict):
        return str(value.get("type", "")).rsplit(":", 1)[-1]
    return ""


class _Session:
    def __init__(
        self, http: aiohttp.ClientSession, directory: dict[str, Any], outcome: Outcome
    ) -> None:
        self.http = http
        self.directory = directory
        self.outcome = outcome
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.kid = ""
        self._nonce = ""

    async def _fresh_nonce(self) -> str:
        if nonce := self._nonce:
            self._nonce = ""
            return nonce
        async with self.http.head(self.directory["newNonce"]) as reply:
            return str(reply.headers["Replay-Nonce"])

    async def post(self, url: str, payload: object | None) -> tuple[int, Any, Any]:
        """(status, headers, JSON body or bytes). A badNonce answer is retried with the nonce
        it carries, and every answer's nonce is used for the next request."""
        for retries in range(NONCE_RETRIES + 1):
            protected: dict[str, Any] = {
                "alg": "ES256",
                "nonce": await self._fresh_nonce(),
                "url": url,
            }
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
                self._nonce = reply.headers.get("Replay-Nonce", "")
                value: Any = raw
                if reply.content_type.endswith("json"):
                    value = json.loads(raw)
                if _problem_type(value) == "badNonce" and retries < NONCE_RETRIES:
                    self.outcome.nonce_retries += 1
                    self.outcome.most_retries_in_a_row = max(
                        self.outcome.most_retries_in_a_row, retries + 1
                    )
                    continue
                self.outcome.requests += 1
                return reply.status, reply.headers, value
        raise AssertionError("unreachable")

    async def poll(
        self, url: str, what: str, headers: Any, done: tuple[str, ...], asked_by: str = ""
    ) -> Any:
        """Posts-as-get `url` until its status is one of `done`, waiting as each answer's
        Retry-After asks (`headers`: those of the answer that started the polling, from
        `asked_by` if not the `what` polled)."""
        source = asked_by or what
        for _ in range(POLLS):
            asked = headers.get("Retry-After", "")
            delay = min(float(asked), MAX_WAIT_S) if asked.isdigit() else POLL_S
            started = time.monotonic()
            await asyncio.sleep(delay)
            _, headers, state = await self.post(url, None)
            if asked.isdigit():
                self.outcome.waits.append(Wait(source, int(asked), time.monotonic() - started))
            source = what
            if state.get("status") in done:
                return state
            self.outcome.polls += 1
        raise TimeoutError(f"the {what} stayed {state.get('status')} for {POLLS} polls")


async def obtain(directory_url: str, bundle_pem: str, name: str, http01_port: int) -> Outcome:
    """Registers, orders `name`, answers http-01 on `http01_port`, polls the authorization
    as Retry-After asks, finalizes and downloads."""
    answers: dict[str, str] = {}
    outcome = Outcome(name=name)

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
            session = _Session(http, directory, outcome)
            status, headers, _ = await session.post(
                directory["newAccount"], {"termsOfServiceAgreed": True}
            )
            session.kid = str(headers["Location"])
            status, headers, order = await session.post(
                directory["newOrder"], {"identifiers": [{"type": "dns", "value": name}]}
            )
            if status != 201:
                outcome.problem = _problem_type(order) or str(status)
                return outcome
            outcome.trace_id = str(headers.get("X-Tlssim-Trace-Id", ""))
            order_url = str(headers["Location"])
            authz_url = order["authorizations"][0]
            _, _, authz = await session.post(authz_url, None)
            challenge = next(c for c in authz["challenges"] if c["type"] == "http-01")
            thumbprint = jws.thumbprint(session.key.public_key())
            answers[challenge["token"]] = f"{challenge['token']}.{thumbprint}"
            started = time.monotonic()
            _, headers, _ = await session.post(challenge["url"], {})
            authz = await session.poll(
                authz_url, "authorization", headers, ("valid", "invalid"), asked_by="challenge"
            )
            outcome.validation_s = time.monotonic() - started
            outcome.authorization = authz["status"]
            if authz["status"] != "valid":
                failed = next(c for c in authz["challenges"] if c["type"] == "http-01")
                outcome.problem = _problem_type(failed.get("error")) or failed["status"]
                _, _, order = await session.post(order_url, None)
                outcome.order = order["status"]
                outcome.order_problem = _problem_type(order.get("error"))
                return outcome
            _, headers, order = await session.post(order_url, None)
            if order["status"] == "pending":
                order = await session.poll(order_url, "order", headers, ("ready", "invalid"))
            key = ec.generate_private_key(ec.SECP256R1())
            csr = (
                x509.CertificateSigningRequestBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
                .sign(key, hashes.SHA256())
            )
            der = csr.public_bytes(serialization.Encoding.DER)
            status, headers, order = await session.post(
                order["finalize"], {"csr": jws.b64encode(der)}
            )
            if status == 200 and order.get("status") == "processing":
                order = await session.poll(
                    order_url, "order", headers, ("valid", "invalid"), asked_by="finalize"
                )
            outcome.order = str(order.get("status", ""))
            if order.get("status") != "valid":
                outcome.problem = _problem_type(order) or _problem_type(order.get("error"))
                return outcome
            _, _, pem = await session.post(order["certificate"], None)
            leaf = x509.load_pem_x509_certificates(pem)[0]
            outcome.serial = format(leaf.serial_number, "x")
            return outcome
    finally:
        await runner.cleanup()


class AdminRefused(RuntimeError):
    """The ACME service's admin control refused (its problem's detail) or is missing."""


async def admin_faults(
    directory_url: str, bundle_pem: str, token: str, update: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The ACME service's faults (GET /admin/faults), after `update` when given (PUT)."""
    url = directory_url.removesuffix("/directory") + "/admin/faults"
    context = ssl.create_default_context(cadata=bundle_pem)
    headers = {"X-Tlssim-Admin-Token": token}
    async with (
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=context),
            timeout=aiohttp.ClientTimeout(total=10),
        ) as http,
        http.request(
            "GET" if update is None else "PUT",
            url,
            headers=headers,
            data=None if update is None else json.dumps(update),
        ) as reply,
    ):
        body = await reply.read()
        if reply.status != 200:
            try:
                detail = str(json.loads(body).get("detail", ""))
            except (ValueError, AttributeError):
                detail = body[:200].decode(errors="replace")
            raise AdminRefused(f"the ACME admin control answered {reply.status}: {detail}")
        value: dict[str, Any] = json.loads(body)
        return value
