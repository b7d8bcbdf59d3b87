"""The ACME server (RFC 8555): accounts, orders, authorizations, challenges, finalization,
certificates, revocation and renewal information (RFC 9773), as an aiohttp application.

It holds no CA key: an `Issuer` (the ca over gRPC, in services/acme.py) issues and revokes.
Its own state lives in memory, as Pebble's does: a restart forgets accounts and orders, not
the certificates, which the ca keeps.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import logging
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tlssim import rpcutil
from tlssim import web as tweb
from tlssim.acme import jws
from tlssim.acme.policy import AcmePolicy, check_csr_key
from tlssim.acme.problems import PROBLEM_JSON, AcmeProblem
from tlssim.acme.validation import Validator
from tlssim.rpcutil import trace_id_var
from tlssim.telemetry.traces import TraceLog

log = logging.getLogger("tlssim.acme")

# A JWS larger than this is refused (malformed, 413) before it is parsed.
MAX_JWS_BYTES: Final = 64 * 1024
MAX_NONCES: Final = 10_000
MAX_CONTACTS: Final = 10
ORDER_LIFETIME: Final = dt.timedelta(days=7)
TERMS: Final = (
    "tlssim ACME test server. Certificates are for the lab's names and lab use only; "
    "anything issued here may be revoked or forgotten at any time.\n"
)
# What RFC 5280 reason codes a subscriber may give (those Let's Encrypt takes).
REVOCATION_REASONS: Final = {
    0: "unspecified",
    1: "keyCompromise",
    3: "affiliationChanged",
    4: "superseded",
    5: "cessationOfOperation",
    9: "privilegeWithdrawn",
}
JOSE_JSON: Final = "application/jose+json"
CHALLENGE_TYPES: Final = ("http-01", "tls-alpn-01")


class Issuer(Protocol):
    """Whoever holds the CA keys: issues for a CSR, revokes by serial."""

    async def issue(self, csr_der: bytes, lifetime_s: int) -> tuple[list[bytes], str]:
        """(chain DER, leaf first; serial hex). AcmeProblem when the ca refuses."""
        ...

    async def revoke(self, serial_hex: str, reason: str) -> None: ...


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _stamp(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class Account:
    id: str
    key: jws.PublicKey
    contact: list[str]
    status: str = "valid"
    orders: list[str] = field(default_factory=list)
    recent_orders: deque[float] = field(default_factory=deque)
    eab_kid: str = ""


@dataclass(slots=True)
class Challenge:
    id: str
    type: str
    token: str
    authz_id: str
    status: str = "pending"
    validated: dt.datetime | None = None
    error: AcmeProblem | None = None


@dataclass(slots=True)
class Authorization:
    id: str
    account_id: str
    kind: str
    value: str
    expires: dt.datetime
    challenges: list[Challenge]
    order_id: str
    status: str = "pending"


@dataclass(slots=True)
class Certificate:
    id: str
    account_id: str
    chain_der: list[bytes]
    serial_hex: str
    ari_id: str
    leaf: x509.Certificate
    revoked: bool = False
    replaced_by: str = ""


@dataclass(slots=True)
class Order:
    id: str
    account_id: str
    identifiers: list[tuple[str, str]]
    authz_ids: list[str]
    expires: dt.datetime
    trace_id: str
    status: str = "pending"
    certificate_id: str = ""
    error: AcmeProblem | None = None
    replaces: str = ""


def ari_cert_id(cert: x509.Certificate) -> str:
    """RFC 9773 4.1: base64url(AKI keyIdentifier) "." base64url(serial, DER INTEGER bytes)."""
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        key_id = aki.key_identifier or b""
    except x509.ExtensionNotFound:
        key_id = b""
    serial = cert.serial_number
    serial_bytes = serial.to_bytes(serial.bit_length() // 8 + 1, "big")
    return f"{jws.b64encode(key_id)}.{jws.b64encode(serial_bytes)}"


class AcmeState:
    """Every account, order, authorization, challenge and certificate, and the nonces."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.nonces: OrderedDict[str, None] = OrderedDict()
        self.accounts: dict[str, Account] = {}
        self.by_thumbprint: dict[str, str] = {}
        self.orders: dict[str, Order] = {}
        self.authzs: dict[str, Authorization] = {}
        self.challenges: dict[str, Challenge] = {}
        self.certificates: dict[str, Certificate] = {}
        self.by_ari: dict[str, str] = {}
        self.by_serial: dict[str, str] = {}

    def new_id(self) -> str:
        return f"{next(self._ids)}{secrets.token_hex(4)}"

    def new_nonce(self) -> str:
        nonce = jws.b64encode(secrets.token_bytes(16))
        self.nonces[nonce] = None
        while len(self.nonces) > MAX_NONCES:
            self.nonces.popitem(last=False)
        return nonce

    def take_nonce(self, nonce: object) -> bool:
        if not isinstance(nonce, str) or nonce not in self.nonces:
            return False
        del self.nonces[nonce]
        return True


@dataclass(frozen=True, slots=True, kw_only=True)
class Faults:
    """Misbehaviour on purpose (docs/acme.md, "Faults")."""

    #: Share of good nonces refused as badNonce (0..1), spread evenly.
    nonce_reject: float = 0.0
    #: Retry-After seconds on pending or processing resources.
    retry_after_s: int = 1


@dataclass(slots=True)
class _Request:
    """A POST's verified JWS, its account (when it names one by kid) and its key."""

    message: jws.Jws
    key: jws.PublicKey
    account: Account | None


class AcmeServer:
    """The handlers; `app()` is the aiohttp application."""

    def __init__(
        self,
        issuer: Issuer,
        policy: AcmePolicy,
        validator: Validator,
        *,
        faults: Faults = Faults(),
        traces: TraceLog | None = None,
        website: str = "",
    ) -> None:
        self.issuer = issuer
        self.policy = policy
        self.validator = validator
        self.faults = faults
        self.traces = traces or TraceLog("acme")
        self.website = website
        self.state = AcmeState()
        self._tasks: set[asyncio.Task[None]] = set()
        self._nonces_taken = 0

    # -- plumbing --------------------------------------------------------------------------

    def app(self) -> web.Application:
        limits = tweb.HttpLimits(max_body=MAX_JWS_BYTES)
        app = tweb.new_app(limits, self._render_error, [self._problems])
        r = app.router
        r.add_get("/directory", self.directory)
        r.add_route("HEAD", "/acme/new-nonce", self.new_nonce)
        r.add_get("/acme/new-nonce", self.new_nonce, allow_head=False)
        r.add_get("/acme/terms", self.terms)
        r.add_get("/acme/renewal-info/{id}", self.renewal_info)
        for path, handler in (
            ("/acme/new-account", self.new_account),
            ("/acme/new-order", self.new_order),
            ("/acme/revoke-cert", self.revoke_cert),
            ("/acme/key-change", self.key_change),
            ("/acme/acct/{id}", self.account),
            ("/acme/acct/{id}/orders", self.account_orders),
            ("/acme/order/{id}", self.order),
            ("/acme/authz/{id}", self.authorization),
            ("/acme/chall/{id}", self.challenge),
            ("/acme/finalize/{id}", self.finalize),
            ("/acme/cert/{id}", self.certificate),
        ):
            r.add_post(path, handler)
        app.on_shutdown.append(self._cancel_tasks)
        return app

    async def _cancel_tasks(self, app: web.Application) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _render_error(self, status: int, message: str) -> web.Response:
        kind = "malformed" if status < 500 else "serverInternal"
        return self._problem_response(AcmeProblem(kind, message, status=status))

    def _problem_response(self, problem: AcmeProblem) -> web.Response:
        response = web.Response(
            status=problem.status, body=problem.body(), content_type=PROBLEM_JSON
        )
        response.headers["Replay-Nonce"] = self.state.new_nonce()
        response.headers["Cache-Control"] = "no-store"
        if problem.retry_after is not None:
            response.headers["Retry-After"] = str(problem.retry_after)
        return response

    @web.middleware
    async def _problems(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            response = await handler(request)
        except AcmeProblem as problem:
            log.info(
                "%s %s: %s (%s)", request.method, request.path, problem.kind, problem.detail[:160]
            )
            response = self._problem_response(problem)
        response.headers.setdefault("Link", f'<{_base(request)}/directory>;rel="index"')
        return response

    def _json(
        self, value: object, status: int = 200, *, location: str = "", links: tuple[str, ...] = ()
    ) -> web.Response:
        response = web.Response(
            status=status, body=json.dumps(value).encode(), content_type="application/json"
        )
        response.headers["Replay-Nonce"] = self.state.new_nonce()
        response.headers["Cache-Control"] = "no-store"
        if location:
            response.headers["Location"] = location
        for link in links:
            response.headers.add("Link", link)
        return response

    async def _verify(
        self, request: web.Request, *, jwk_allowed: bool = False, kid_allowed: bool = True
    ) -> _Request:
        """The checks every POST passes (RFC 8555 6.2-6.5), in this order: size, content
        type, JWS form and alg, nonce, url, key (jwk or kid), signature."""
        if request.content_length is not None and request.content_length > MAX_JWS_BYTES:
            raise AcmeProblem(
                "malformed", f"a JWS may be at most {MAX_JWS_BYTES} bytes", status=413
            )
        if request.content_type != JOSE_JSON:
            raise AcmeProblem("malformed", f"the Content-Type must be {JOSE_JSON}", status=415)
        body = await tweb.read_body(request)
        if len(body) > MAX_JWS_BYTES:
            raise AcmeProblem(
                "malformed", f"a JWS may be at most {MAX_JWS_BYTES} bytes", status=413
            )
        parsed = jws.parse(body)
        header = parsed.protected
        if not self.state.take_nonce(header.get("nonce")):
            raise AcmeProblem("badNonce", "the nonce is unknown, used or missing")
        if self._refuse_this_nonce():
            raise AcmeProblem("badNonce", "this nonce is refused on purpose (nonce fault)")
        url = f"{_base(request)}{request.path}"
        if header.get("url") != url:
            raise AcmeProblem(
                "unauthorized", f"the protected url {str(header.get('url'))[:120]!r} is not {url}"
            )
        if ("jwk" in header) == ("kid" in header):
            raise AcmeProblem.malformed("the protected header needs exactly one of jwk and kid")
        account = None
        if "jwk" in header:
            if not jwk_allowed:
                raise AcmeProblem.malformed("this request must name its account by kid")
            key = jws.key_from_jwk(header["jwk"])
        else:
            if not kid_allowed:
                raise AcmeProblem.malformed("this request must carry its key as jwk")
            account = self._account_by_kid(request, header["kid"])
            key = account.key
        parsed.verify(key)
        return _Request(parsed, key, account)

    def _refuse_this_nonce(self) -> bool:
        """The nonce fault: refuses its share of good nonces, spread evenly (a share up to
        one half never refuses two in a row, so a client that retries once gets through)."""
        share = self.faults.nonce_reject
        if not share:
            return False
        self._nonces_taken += 1
        taken = self._nonces_taken
        return int(taken * share) != int((taken - 1) * share)

    def _account_by_kid(self, request: web.Request, kid: object) -> Account:
        prefix = f"{_base(request)}/acme/acct/"
        if not isinstance(kid, str) or not kid.startswith(prefix):
            raise AcmeProblem("accountDoesNotExist", f"no account {str(kid)[:120]!r}")
        account = self.state.accounts.get(kid.removeprefix(prefix))
        if account is None:
            raise AcmeProblem("accountDoesNotExist", f"no account {kid[:120]!r}")
        if account.status != "valid":  # RFC 8555 7.3.6: 401
            raise AcmeProblem("unauthorized", f"the account is {account.status}", status=401)
        return account

    def _owned(self, table: dict[str, Any], request: web.Request, account: Account | None) -> Any:
        item = table.get(request.match_info["id"])
        if item is None or account is None or item.account_id != account.id:
            raise web.HTTPNotFound(text="no such resource for this account")
        return item

    # -- directory and nonces --------------------------------------------------------------

    async def directory(self, request: web.Request) -> web.Response:
        base = _base(request)
        meta: dict[str, Any] = {
            "termsOfService": f"{base}/acme/terms",
            "website": self.website or base,
            "caaIdentities": ["tlssim.test"],
            "externalAccountRequired": self.policy.eab_required,
        }
        value = {
            "newNonce": f"{base}/acme/new-nonce",
            "newAccount": f"{base}/acme/new-account",
            "newOrder": f"{base}/acme/new-order",
            "revokeCert": f"{base}/acme/revoke-cert",
            "keyChange": f"{base}/acme/key-change",
            "renewalInfo": f"{base}/acme/renewal-info",
            "meta": meta,
        }
        return web.json_response(value)

    async def new_nonce(self, request: web.Request) -> web.Response:
        response = web.Response(status=200 if request.method == "HEAD" else 204)
        response.headers["Replay-Nonce"] = self.state.new_nonce()
        response.headers["Cache-Control"] = "no-store"
        return response

    async def terms(self, request: web.Request) -> web.Response:
        return web.Response(text=TERMS)

    # -- accounts --------------------------------------------------------------------------

    def _account_json(self, request: web.Request, account: Account) -> dict[str, Any]:
        base = _base(request)
        value: dict[str, Any] = {
            "status": account.status,
            "contact": account.contact,
            "orders": f"{base}/acme/acct/{account.id}/orders",
        }
        if account.eab_kid:
            value["externalAccountBinding"] = {"kid": account.eab_kid}
        return value

    def _contacts(self, value: object) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list) or len(value) > MAX_CONTACTS:
            raise AcmeProblem.malformed(f"contact must be a list of at most {MAX_CONTACTS} URLs")
        contacts = []
        for item in value:
            if not isinstance(item, str):
                raise AcmeProblem.malformed("each contact must be a URL string")
            if not item.startswith("mailto:"):
                raise AcmeProblem("unsupportedContact", f"only mailto: contacts, not {item[:60]!r}")
            address = item.removeprefix("mailto:")
            if address.count("@") != 1 or "," in address or len(address) > 254:
                raise AcmeProblem("invalidContact", f"{item[:80]!r} is not one e-mail address")
            contacts.append(item)
        return contacts

    async def new_account(self, request: web.Request) -> web.Response:
        req = await self._verify(request, jwk_allowed=True, kid_allowed=False)
        payload = req.message.payload()
        thumb = jws.thumbprint(req.key)
        existing = self.state.by_thumbprint.get(thumb)
        base = _base(request)
        if existing is not None:
            account = self.state.accounts[existing]
            if account.status != "valid":
                raise AcmeProblem("unauthorized", f"the account is {account.status}", status=401)
            return self._json(
                self._account_json(request, account), location=f"{base}/acme/acct/{account.id}"
            )
        if payload.get("onlyReturnExisting") is True:
            raise AcmeProblem("accountDoesNotExist", "no account has this key")
        contacts = self._contacts(payload.get("contact"))
        if self.policy.eab_required and "externalAccountBinding" not in payload:
            raise AcmeProblem(
                "externalAccountRequired", "this server needs an external account binding"
            )
        eab_kid = ""
        if "externalAccountBinding" in payload:
            eab_kid = self._check_eab(payload["externalAccountBinding"], req.message, request)
        account = Account(self.state.new_id(), req.key, contacts, eab_kid=eab_kid)
        self.state.accounts[account.id] = account
        self.state.by_thumbprint[thumb] = account.id
        log.info("account %s created (%s)", account.id, ", ".join(contacts) or "no contact")
        return self._json(
            self._account_json(request, account), 201, location=f"{base}/acme/acct/{account.id}"
        )

    def _check_eab(self, binding: object, outer: jws.Jws, request: web.Request) -> str:
        """RFC 8555 7.3.4: an HS256 JWS over the account's JWK, by a key id we know."""
        if not isinstance(binding, dict) or set(binding) != {"protected", "payload", "signature"}:
            raise AcmeProblem.malformed("externalAccountBinding must be a flattened JWS")
        protected_text, payload_text = binding["protected"], binding["payload"]
        try:
            protected = json.loads(jws.b64decode(protected_text, "the binding's header"))
            bound = json.loads(jws.b64decode(payload_text, "the binding's payload"))
        except ValueError:
            raise AcmeProblem.malformed("the external account binding is not JSON") from None
        if not isinstance(protected, dict) or protected.get("alg") != "HS256":
            raise AcmeProblem(
                "badSignatureAlgorithm",
                "an external account binding is HS256",
                algorithms=["HS256"],
            )
        if "nonce" in protected or protected.get("url") != f"{_base(request)}{request.path}":
            raise AcmeProblem.malformed("the binding must name this url and carry no nonce")
        key = self.policy.eab_keys.get(str(protected.get("kid")))
        if key is None:
            raise AcmeProblem("unauthorized", "unknown external account key id")
        if not isinstance(bound, dict) or jws.thumbprint(jws.key_from_jwk(bound)) != jws.thumbprint(
            jws.key_from_jwk(outer.protected["jwk"])
        ):
            raise AcmeProblem("unauthorized", "the binding is for another account key")
        signature = jws.b64decode(binding["signature"], "the binding's signature")
        if not jws.verify_hs256(str(protected_text), str(payload_text), signature, key):
            raise AcmeProblem("unauthorized", "the external account binding does not verify")
        return str(protected["kid"])

    async def account(self, request: web.Request) -> web.Response:
        req = await self._verify(request)
        assert req.account is not None
        if req.account.id != request.match_info["id"]:
            raise AcmeProblem("unauthorized", "the kid is not this account")
        account = req.account
        if not req.message.is_post_as_get:
            payload = req.message.payload()
            if "contact" in payload:
                account.contact = self._contacts(payload["contact"])
            if payload.get("status") == "deactivated":
                account.status = "deactivated"
                for authz in self.state.authzs.values():
                    if authz.account_id == account.id and authz.status in ("pending", "valid"):
                        authz.status = "deactivated"
                log.info("account %s deactivated", account.id)
            elif "status" in payload:
                raise AcmeProblem.malformed("an account's status may only become deactivated")
        return self._json(
            self._account_json(request, account),
            location=f"{_base(request)}/acme/acct/{account.id}",
        )

    async def account_orders(self, request: web.Request) -> web.Response:
        req = await self._verify(request)
        assert req.account is not None
        if req.account.id != request.match_info["id"]:
            raise AcmeProblem("unauthorized", "the kid is not this account")
        base = _base(request)
        return self._json({"orders": [f"{base}/acme/order/{o}" for o in req.account.orders]})

    async def key_change(self, request: web.Request) -> web.Response:
        req = await self._verify(request)
        account = req.account
        assert account is not None
        inner_body = req.message.payload_bytes
        inner = jws.parse(inner_body)
        if "nonce" in inner.protected or "kid" in inner.protected:
            raise AcmeProblem.malformed("the inner JWS carries its new key as jwk and no nonce")
        if inner.protected.get("url") != req.message.protected.get("url"):
            raise AcmeProblem.malformed("the inner JWS must name the same url")
        new_key = jws.key_from_jwk(inner.protected.get("jwk"))
        inner.verify(new_key)
        payload = inner.payload()
        if payload.get("account") != req.message.protected.get("kid"):
            raise AcmeProblem.malformed("the inner payload names another account")
        if jws.thumbprint(jws.key_from_jwk(payload.get("oldKey"))) != jws.thumbprint(account.key):
            raise AcmeProblem.malformed("oldKey is not the account's key")
        new_thumb = jws.thumbprint(new_key)
        if (other := self.state.by_thumbprint.get(new_thumb)) is not None:
            response = self._problem_response(
                AcmeProblem("malformed", "another account has this key", status=409)
            )
            response.headers["Location"] = f"{_base(request)}/acme/acct/{other}"
            return response
        del self.state.by_thumbprint[jws.thumbprint(account.key)]
        account.key = new_key
        self.state.by_thumbprint[new_thumb] = account.id
        log.info("account %s rolled over to a new key", account.id)
        return self._json(self._account_json(request, account))

    # -- orders ----------------------------------------------------------------------------

    def _order_json(self, request: web.Request, order: Order) -> dict[str, Any]:
        base = _base(request)
        value: dict[str, Any] = {
            "status": order.status,
            "expires": _stamp(order.expires),
            "identifiers": [{"type": k, "value": v} for k, v in order.identifiers],
            "authorizations": [f"{base}/acme/authz/{a}" for a in order.authz_ids],
            "finalize": f"{base}/acme/finalize/{order.id}",
        }
        if order.certificate_id:
            value["certificate"] = f"{base}/acme/cert/{order.certificate_id}"
        if order.error is not None:
            value["error"] = order.error.document()
        if order.replaces:
            value["replaces"] = order.replaces
        return value

    def _order_response(
        self, request: web.Request, order: Order, status: int = 200
    ) -> web.Response:
        self._refresh_order(order)
        response = self._json(
            self._order_json(request, order),
            status,
            location=f"{_base(request)}/acme/order/{order.id}",
        )
        response.headers["X-Tlssim-Trace-Id"] = order.trace_id
        if order.status in ("pending", "processing"):
            response.headers["Retry-After"] = str(self.faults.retry_after_s)
        return response

    def _refresh_order(self, order: Order) -> None:
        if order.status in ("pending", "ready") and _now() > order.expires:
            order.status = "invalid"
            order.error = AcmeProblem("malformed", "the order expired")

    async def new_order(self, request: web.Request) -> web.Response:
        req = await self._verify(request)
        account = req.account
        assert account is not None
        payload = req.message.payload()
        raw = payload.get("identifiers")
        if not isinstance(raw, list) or not raw:
            raise AcmeProblem.malformed("identifiers must be a non-empty list")
        if len(raw) > self.policy.max_identifiers:
            raise AcmeProblem(
                "rejectedIdentifier",
                f"at most {self.policy.max_identifiers} identifiers in one order",
            )
        if "notBefore" in payload or "notAfter" in payload:
            raise AcmeProblem.malformed("notBefore and notAfter are not supported")
        identifiers: list[tuple[str, str]] = []
        subproblems = []
        for item in raw:
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("type"), str)
                or not isinstance(item.get("value"), str)
            ):
                raise AcmeProblem.malformed("each identifier is {type, value}")
            try:
                value = self.policy.check_identifier(item["type"], item["value"])
            except AcmeProblem as problem:
                subproblems.append(
                    problem.document()
                    | {"identifier": {"type": item["type"], "value": item["value"][:253]}}
                )
                continue
            if (item["type"], value) not in identifiers:
                identifiers.append((item["type"], value))
        if subproblems:
            first = subproblems[0]
            kind = str(first["type"]).rsplit(":", 1)[-1]
            raise AcmeProblem(kind, str(first["detail"]), subproblems=subproblems)
        replaces = self._check_replaces(payload.get("replaces"), account)
        self._count_order(account)
        trace_id = rpcutil.new_trace_id()
        trace_id_var.set(trace_id)
        order_id = self.state.new_id()
        expires = _now() + ORDER_LIFETIME
        authz_ids = []
        for kind, value in identifiers:
            authz_id = self.state.new_id()
            challenges = [
                Challenge(
                    self.state.new_id(), ctype, jws.b64encode(secrets.token_bytes(32)), authz_id
                )
                for ctype in CHALLENGE_TYPES
            ]
            for challenge in challenges:
                self.state.challenges[challenge.id] = challenge
            self.state.authzs[authz_id] = Authorization(
                authz_id, account.id, kind, value, expires, challenges, order_id
            )
            authz_ids.append(authz_id)
        order = Order(
            order_id, account.id, identifiers, authz_ids, expires, trace_id, replaces=replaces
        )
        self.state.orders[order_id] = order
        account.orders.append(order_id)
        names = ", ".join(v for _, v in identifiers)
        log.info("order %s for %s (account %s) trace=%s", order_id, names, account.id, trace_id)
        self.traces.record(
            "order created", {"order": order_id, "identifiers": names}, trace_id=trace_id
        )
        return self._order_response(request, order, 201)

    def _check_replaces(self, value: object, account: Account) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise AcmeProblem.malformed("replaces must be a certificate identifier")
        cert_id = self.state.by_ari.get(value)
        if cert_id is None:
            raise AcmeProblem.malformed("replaces names no certificate issued here")
        cert = self.state.certificates[cert_id]
        if cert.account_id != account.id:
            raise AcmeProblem("unauthorized", "replaces names another account's certificate")
        if cert.replaced_by:
            raise AcmeProblem("malformed", "that certificate was already replaced", status=409)
        return value

    def _count_order(self, account: Account) -> None:
        now = time.monotonic()
        recent = account.recent_orders
        while recent and now - recent[0] > 3600:
            recent.popleft()
        if len(recent) >= self.policy.orders_per_hour:
            problem = AcmeProblem(
                "rateLimited",
                f"at most {self.policy.orders_per_hour} new orders an hour per account",
            )
            problem.retry_after = max(1, int(3600 - (now - recent[0])) + 1)
            raise problem
        recent.append(now)

    async def order(self, request: web.Request) -> web.Response:
        req = await self._verify(request)
        order: Order = self._owned(self.state.orders, request, req.account)
        return self._order_response(request, order)

    # -- authorizations and challenges -----------------------------------------------------

    def _challenge_json(self, request: web.Request, challenge: Challenge) -> dict[str, Any]:
        value: dict[str, Any] = {
            "type": challenge.type,
            "url": f"{_base(request)}/acme/chall/{challenge.id}",
            "status": challenge.status,
            "token": challenge.token,
        }
        if challenge.validated is not None:
            value["validated"] = _stamp(challenge.validated)
        if challenge.error is not None:
            value["error"] = challenge.error.document()
        return value

    async def authorization(self, request: web.Request) -> web.Response:
        req = await self._verify(request)
        authz: Authorization = self._owned(self.state.authzs, request, req.account)
        if not req.message.is_post_as_get:
            payload = req.message.payload()
            if payload.get("status") != "deactivated":
                raise AcmeProblem.malformed("an authorization's status may only become deactivated")
            if authz.status in ("pending", "valid"):
                authz.status = "deactivated"
        if authz.status == "pending" and _now() > authz.expires:
            authz.status = "expired"
        value = {
            "identifier": {"type": authz.kind, "value": authz.value},
            "status": authz.status,
            "expires": _stamp(authz.expires),
            "challenges": [self._challenge_json(request, c) for c in authz.challenges],
        }
        response = self._json(value)
        if authz.status == "pending":
            response.headers["Retry-After"] = str(self.faults.retry_after_s)
        return response

    async def challenge(self, request: web.Request) -> web.Response:
        req = await self._verify(request)
        account = req.account
        assert account is not None
        challenge = self.state.challenges.get(request.match_info["id"])
        authz = self.state.authzs.get(challenge.authz_id) if challenge else None
        if challenge is None or authz is None or authz.account_id != account.id:
            raise web.HTTPNotFound(text="no such challenge for this account")
        if (
            not req.message.is_post_as_get
            and challenge.status == "pending"
            and authz.status == "pending"
        ):
            challenge.status = "processing"
            key_authorization = f"{challenge.token}.{jws.thumbprint(account.key)}"
            order = self.state.orders[authz.order_id]
            task = asyncio.create_task(self._validate(challenge, authz, order, key_authorization))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        response = self._json(
            self._challenge_json(request, challenge),
            links=(f'<{_base(request)}/acme/authz/{authz.id}>;rel="up"',),
        )
        if challenge.status == "processing":
            response.headers["Retry-After"] = str(self.faults.retry_after_s)
        return response

    async def _validate(
        self, challenge: Challenge, authz: Authorization, order: Order, key_authorization: str
    ) -> None:
        trace_id_var.set(order.trace_id)
        started = time.monotonic()
        try:
            where = await self.validator.validate(
                challenge.type, authz.kind, authz.value, challenge.token, key_authorization
            )
        except AcmeProblem as problem:
            challenge.status, challenge.error = "invalid", problem
            authz.status = "invalid"
            order.status = "invalid"
            order.error = AcmeProblem(
                "unauthorized", f"the {challenge.type} challenge for {authz.value} failed"
            )
            log.info(
                "%s for %s failed: %s trace=%s",
                challenge.type,
                authz.value,
                problem.detail,
                order.trace_id,
            )
            self.traces.record(
                "validation failed",
                {"challenge": challenge.type, "identifier": authz.value, "error": problem.kind},
                trace_id=order.trace_id,
                duration_ms=(time.monotonic() - started) * 1000,
            )
            return
        except Exception:
            log.exception("validation of %s crashed", authz.value)
            challenge.status = "invalid"
            challenge.error = AcmeProblem("serverInternal", "validation failed unexpectedly")
            authz.status = order.status = "invalid"
            return
        challenge.status, challenge.validated = "valid", _now()
        authz.status = "valid"
        self.traces.record(
            "validation connection",
            {"challenge": challenge.type, "identifier": authz.value, "to": where},
            trace_id=order.trace_id,
            duration_ms=(time.monotonic() - started) * 1000,
        )
        log.info(
            "%s for %s valid (%s) trace=%s", challenge.type, authz.value, where, order.trace_id
        )
        if order.status == "pending" and all(
            self.state.authzs[a].status == "valid" for a in order.authz_ids
        ):
            order.status = "ready"

    # -- finalize and certificates ---------------------------------------------------------

    async def finalize(self, request: web.Request) -> web.Response:
        req = await self._verify(request)
        order: Order = self._owned(self.state.orders, request, req.account)
        self._refresh_order(order)
        if order.status != "ready":
            raise AcmeProblem("orderNotReady", f"the order is {order.status}, not ready")
        payload = req.message.payload()
        csr_der = jws.b64decode(payload.get("csr"), "csr")
        self._check_csr(csr_der, order)
        trace_id_var.set(order.trace_id)
        order.status = "processing"
        try:
            chain, serial = await self.issuer.issue(
                csr_der, int(self.policy.lifetime.total_seconds())
            )
        except AcmeProblem as problem:
            order.status, order.error = "invalid", problem
            raise
        leaf = x509.load_der_x509_certificate(chain[0])
        ari = ari_cert_id(leaf)
        cert = Certificate(self.state.new_id(), order.account_id, chain, serial, ari, leaf)
        self.state.certificates[cert.id] = cert
        self.state.by_ari[ari] = cert.id
        self.state.by_serial[serial] = cert.id
        if order.replaces and (old := self.state.by_ari.get(order.replaces)):
            self.state.certificates[old].replaced_by = cert.id
        order.certificate_id = cert.id
        order.status = "valid"
        names = ", ".join(v for _, v in order.identifiers)
        log.info(
            "issued serial %s for %s (order %s) trace=%s", serial, names, order.id, order.trace_id
        )
        self.traces.record(
            "certificate issued",
            {"order": order.id, "serial": serial, "identifiers": names},
            trace_id=order.trace_id,
        )
        return self._order_response(request, order)

    def _check_csr(self, csr_der: bytes, order: Order) -> None:
        """badCSR unless the CSR parses, verifies, has a key the policy takes and names
        exactly the order's identifiers (a CN, if any, among them)."""
        try:
            csr = x509.load_der_x509_csr(csr_der)
            _ = (csr.subject, csr.extensions)
            signature_ok = csr.is_signature_valid
        except Exception as exc:
            raise AcmeProblem("badCSR", f"the CSR does not parse: {str(exc)[:120]}") from None
        if not signature_ok:
            raise AcmeProblem("badCSR", "the CSR's signature does not verify")
        check_csr_key(csr)
        try:
            sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            sans = x509.SubjectAlternativeName([])
        named: set[tuple[str, str]] = set()
        for name in sans:
            if isinstance(name, x509.DNSName):
                named.add(("dns", name.value.lower().rstrip(".")))
            elif isinstance(name, x509.IPAddress):
                named.add(("ip", str(name.value)))
            else:
                raise AcmeProblem("badCSR", f"the CSR names a {type(name).__name__}")
        wanted = set(order.identifiers)
        for attribute in csr.subject:
            if attribute.oid != x509.oid.NameOID.COMMON_NAME:
                raise AcmeProblem("badCSR", "the CSR's subject may hold only a CN")
            cn = str(attribute.value).lower()
            if ("dns", cn) not in wanted and ("ip", cn) not in wanted:
                raise AcmeProblem("badCSR", f"the CSR's CN {cn[:80]!r} is not in the order")
        if named != wanted:
            extra = sorted(v for _, v in named - wanted)
            missing = sorted(v for _, v in wanted - named)
            raise AcmeProblem(
                "badCSR",
                "the CSR's names are not the order's"
                + (f"; not ordered: {', '.join(extra)[:160]}" if extra else "")
                + (f"; missing: {', '.join(missing)[:160]}" if missing else ""),
            )

    async def certificate(self, request: web.Request) -> web.Response:
        req = await self._verify(request)
        cert: Certificate = self._owned(self.state.certificates, request, req.account)
        pem = b"".join(
            x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
            for der in cert.chain_der
        )
        response = web.Response(body=pem, content_type="application/pem-certificate-chain")
        response.headers["Replay-Nonce"] = self.state.new_nonce()
        return response

    async def revoke_cert(self, request: web.Request) -> web.Response:
        req = await self._verify(request, jwk_allowed=True)
        payload = req.message.payload()
        der = jws.b64decode(payload.get("certificate"), "certificate")
        try:
            presented = x509.load_der_x509_certificate(der)
        except ValueError:
            raise AcmeProblem.malformed("certificate is not a DER certificate") from None
        serial = format(presented.serial_number, "x")
        cert_id = self.state.by_serial.get(serial)
        cert = self.state.certificates.get(cert_id or "")
        if cert is None or cert.chain_der[0] != der:
            raise AcmeProblem("unauthorized", "this server did not issue that certificate")
        if req.account is not None:
            if req.account.id != cert.account_id and not self._holds_authorizations(
                req.account, cert
            ):
                raise AcmeProblem("unauthorized", "the account may not revoke this certificate")
        elif not jws.same_key(req.key, presented.public_key()):  # type: ignore[arg-type]
            raise AcmeProblem(
                "unauthorized", "the JWS is signed by neither an account nor the certificate's key"
            )
        reason_code = payload.get("reason", 0)
        if (
            not isinstance(reason_code, int)
            or isinstance(reason_code, bool)
            or reason_code not in REVOCATION_REASONS
        ):
            raise AcmeProblem(
                "badRevocationReason",
                f"reason {str(reason_code)[:10]} is not one a subscriber gives",
            )
        if cert.revoked:
            raise AcmeProblem("alreadyRevoked", "the certificate is already revoked")
        await self.issuer.revoke(cert.serial_hex, REVOCATION_REASONS[reason_code])
        cert.revoked = True
        log.info("revoked serial %s (%s)", cert.serial_hex, REVOCATION_REASONS[reason_code])
        self.traces.record("certificate revoked", {"serial": cert.serial_hex})
        response = web.Response(status=200)
        response.headers["Replay-Nonce"] = self.state.new_nonce()
        return response

    def _holds_authorizations(self, account: Account, cert: Certificate) -> bool:
        """Whether `account` holds valid authorizations for every name the certificate has."""
        order_names = {
            (a.kind, a.value)
            for a in self.state.authzs.values()
            if a.account_id == account.id and a.status == "valid"
        }
        try:
            sans = cert.leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return False
        names = {("dns", n) for n in sans.get_values_for_type(x509.DNSName)} | {
            ("ip", str(ip)) for ip in sans.get_values_for_type(x509.IPAddress)
        }
        return bool(names) and names <= order_names

    async def renewal_info(self, request: web.Request) -> web.Response:
        cert_id = self.state.by_ari.get(request.match_info["id"])
        if cert_id is None:
            raise web.HTTPNotFound(text="no certificate with that identifier was issued here")
        cert = self.state.certificates[cert_id]
        not_before, not_after = cert.leaf.not_valid_before_utc, cert.leaf.not_valid_after_utc
        if cert.revoked:
            start = _now() - dt.timedelta(hours=1)
            end = _now() - dt.timedelta(minutes=1)
        else:
            lifetime = not_after - not_before
            start = not_before + lifetime * 2 / 3
            end = start + lifetime / 6
        response = web.json_response(
            {"suggestedWindow": {"start": _stamp(start), "end": _stamp(end)}}
        )
        response.headers["Retry-After"] = "21600"
        return response


def _base(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"
