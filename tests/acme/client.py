"""A small ACME client of the tests' own (JWS signed here with `cryptography`), and the
ACME server in this process in front of a real Authority, with a real http-01 responder."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from tlssim.acme import jws
from tlssim.acme.policy import AcmePolicy
from tlssim.acme.problems import AcmeProblem
from tlssim.acme.server import AcmeServer, Faults
from tlssim.acme.validation import Validator
from tlssim.clock import SystemClock
from tlssim.pki import Authority
from tlssim.pki.errors import InvalidRequest, PolicyRefused
from tlssim.pki.policy import build_policies
from tlssim.pki.profiles import ACME_PROFILE

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def new_key(alg: str) -> PrivateKey:
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "ES384":
        return ec.generate_private_key(ec.SECP384R1())
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ed25519.Ed25519PrivateKey.generate()


def alg_of(key: PrivateKey) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "ES256" if key.curve.name == "secp256r1" else "ES384"
    return "RS256" if isinstance(key, rsa.RSAPrivateKey) else "EdDSA"


def sign(key: PrivateKey, signing_input: bytes) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        size = (key.curve.key_size + 7) // 8
        digest = hashes.SHA256() if size == 32 else hashes.SHA384()
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(digest)))
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(signing_input)


def jws_body(
    key: PrivateKey, protected: dict[str, Any], payload: bytes, *, signature: bytes | None = None
) -> bytes:
    protected_text = b64(json.dumps(protected).encode())
    payload_text = b64(payload)
    signed = f"{protected_text}.{payload_text}".encode()
    sig = sign(key, signed) if signature is None else signature
    return json.dumps(
        {"protected": protected_text, "payload": payload_text, "signature": b64(sig)}
    ).encode()


def csr_for(names: list[str], key: PrivateKey | None = None, cn: str | None = None) -> bytes:
    import ipaddress

    key = key or ec.generate_private_key(ec.SECP256R1())
    general: list[x509.GeneralName] = []
    for name in names:
        try:
            general.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            general.append(x509.DNSName(name))
    subject = [x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else []
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(subject))
        .add_extension(x509.SubjectAlternativeName(general), critical=False)
        .sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.DER)


@dataclass
class Reply:
    status: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def problem(self) -> str:
        value = self.json()
        assert self.headers["Content-Type"].startswith("application/problem+json"), value
        return str(value["type"]).removeprefix("urn:ietf:params:acme:error:")


@dataclass
class Client:
    http: aiohttp.ClientSession
    base: str
    key: PrivateKey = field(default_factory=lambda: new_key("ES256"))
    kid: str = ""

    async def nonce(self) -> str:
        async with self.http.head(f"{self.base}/acme/new-nonce") as reply:
            return str(reply.headers["Replay-Nonce"])

    async def raw(
        self, url: str, body: bytes, content_type: str = "application/jose+json"
    ) -> Reply:
        async with self.http.post(url, data=body, headers={"Content-Type": content_type}) as r:
            return Reply(r.status, r.headers, await r.read())

    async def post(
        self,
        target: str,
        payload: object | None,
        /,
        *,
        key: PrivateKey | None = None,
        use_jwk: bool = False,
        overrides: dict[str, Any] | None = None,
        **header: Any,
    ) -> Reply:
        """POST a JWS (payload None: POST-as-GET); `header` overrides protected members."""
        key = key or self.key
        protected: dict[str, Any] = {
            "alg": alg_of(key),
            "nonce": await self.nonce(),
            "url": target,
        }
        if use_jwk or not self.kid:
            protected["jwk"] = jws.jwk_of(key.public_key())
        else:
            protected["kid"] = self.kid
        protected |= header | (overrides or {})
        protected = {k: v for k, v in protected.items() if v is not None}
        body = b"" if payload is None else json.dumps(payload).encode()
        return await self.raw(target, jws_body(key, protected, body))

    async def register(self, **payload: Any) -> Reply:
        reply = await self.post(
            f"{self.base}/acme/new-account", {"termsOfServiceAgreed": True, **payload}, use_jwk=True
        )
        if reply.status in (200, 201):
            self.kid = str(reply.headers["Location"])
        return reply

    async def order(self, *identifiers: tuple[str, str]) -> Reply:
        return await self.post(
            f"{self.base}/acme/new-order",
            {"identifiers": [{"type": t, "value": v} for t, v in identifiers]},
        )

    def key_authorization(self, token: str) -> str:
        return f"{token}.{jws.thumbprint(self.key.public_key())}"

    async def wait(self, url: str, until: tuple[str, ...], tries: int = 200) -> dict[str, Any]:
        for _ in range(tries):
            value = (await self.post(url, None)).json()
            if value["status"] in until:
                return dict(value)
            await asyncio.sleep(0.05)
        raise AssertionError(f"{url} stayed {value['status']}")


class AuthorityIssuer:
    """The real Authority in this process, with the ca's acme policy."""

    def __init__(self, authority: Authority) -> None:
        self.authority = authority
        self.policy = build_policies()["acme"]

    async def issue(self, csr_der: bytes, lifetime_s: int) -> tuple[list[bytes], str]:
        try:
            issued = await asyncio.to_thread(
                lambda: self.authority.issue(
                    csr_der,
                    ACME_PROFILE,
                    policy=self.policy,
                    lifetime=dt.timedelta(seconds=lifetime_s) if lifetime_s else None,
                )
            )
        except (PolicyRefused, InvalidRequest) as exc:
            raise AcmeProblem("badCSR", str(exc)) from None
        return [c.public_bytes(serialization.Encoding.DER) for c in issued.chain], issued.serial_hex

    async def revoke(self, serial_hex: str, reason: str) -> None:
        await asyncio.to_thread(self.authority.revoke, serial_hex, reason)

    def issued_count(self) -> int:
        return len(self.authority.store.listing("", False, 1000))


class ChallengeResponder:
    """An http-01 responder: serves the key authorizations put in `answers`."""

    def __init__(self) -> None:
        self.answers: dict[str, str] = {}

    async def handle(self, request: web.Request) -> web.Response:
        answer = self.answers.get(request.match_info["token"])
        if answer is None:
            raise web.HTTPNotFound()
        return web.Response(text=answer)


@dataclass
class Lab:
    server: AcmeServer
    issuer: AuthorityIssuer
    responder: ChallengeResponder
    base: str
    http: aiohttp.ClientSession

    def client(self, alg: str = "ES256") -> Client:
        return Client(self.http, self.base, new_key(alg))


@contextlib.asynccontextmanager
async def running_lab(
    data_dir: Path,
    policy: AcmePolicy | None = None,
    faults: Faults | None = None,
    admin_token: str = "",
) -> AsyncIterator[Lab]:
    """The ACME server over plain HTTP on a free loopback port, an http-01 responder on
    another, and a real Authority behind it."""
    authority = Authority.open(data_dir, SystemClock(), ocsp_url="http://127.0.0.1:8080")
    responder = ChallengeResponder()
    challenge_app = web.Application()
    challenge_app.router.add_get("/.well-known/acme-challenge/{token}", responder.handle)
    challenge_runner = web.AppRunner(challenge_app)
    await challenge_runner.setup()
    challenge_site = web.TCPSite(challenge_runner, "127.0.0.1", 0)
    await challenge_site.start()
    http01_port = challenge_runner.addresses[0][1]
    issuer = AuthorityIssuer(authority)
    server = AcmeServer(
        issuer,
        policy or AcmePolicy(),
        Validator(http01_port=http01_port, timeout_s=5),
        faults=faults or Faults(retry_after_s=0),
        admin=(lambda presented: presented == admin_token) if admin_token else None,
    )
    runner = web.AppRunner(server.app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as http:
            yield Lab(server, issuer, responder, f"http://127.0.0.1:{port}", http)
    finally:
        await runner.cleanup()
        await challenge_runner.cleanup()
        authority.close()


async def issue(
    lab: Lab, client: Client, *identifiers: tuple[str, str]
) -> tuple[dict[str, Any], str]:
    """A whole order through http-01: (the valid order, the PEM chain)."""
    order_reply = await client.order(*identifiers)
    assert order_reply.status == 201, order_reply.body
    order_url = str(order_reply.headers["Location"])
    for authz_url in order_reply.json()["authorizations"]:
        authz = (await client.post(authz_url, None)).json()
        challenge = next(c for c in authz["challenges"] if c["type"] == "http-01")
        lab.responder.answers[challenge["token"]] = client.key_authorization(challenge["token"])
        assert (await client.post(challenge["url"], {})).status == 200
    await client.wait(order_url, ("ready", "invalid"))
    names = [v for _, v in identifiers]
    finalized = await client.post(
        order_reply.json()["finalize"], {"csr": b64(csr_for(names, cn=names[0]))}
    )
    assert finalized.status == 200, finalized.body
    order = finalized.json()
    assert order["status"] == "valid"
    chain = await client.post(order["certificate"], None)
    return order, chain.body.decode()
