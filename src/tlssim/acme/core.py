"""What every ACME handler shares: the state, the authority behind it, the faults, and the
checks every POST passes before its handler sees it (RFC 8555 6.2-6.5), with the JSON and
problem responses that each carry a fresh nonce."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Final, Protocol

from aiohttp import web

from tlssim import web as tweb
from tlssim.acme import jws
from tlssim.acme.faults import Faults, Spread
from tlssim.acme.policy import AcmePolicy
from tlssim.acme.problems import PROBLEM_JSON, AcmeProblem
from tlssim.acme.resources import Account, AcmeState
from tlssim.acme.validation import Validator
from tlssim.telemetry.traces import TraceLog

log = logging.getLogger("tlssim.acme")

# A JWS larger than this is refused (malformed, 413) before it is parsed.
MAX_JWS_BYTES: Final = 64 * 1024
JOSE_JSON: Final = "application/jose+json"


class Issuer(Protocol):
    """Whoever holds the CA keys: issues for a CSR, revokes by serial."""

    async def issue(self, csr_der: bytes, lifetime_s: int) -> tuple[list[bytes], str]:
        """(chain DER, leaf first; serial hex). AcmeProblem when the ca refuses."""
        ...

    async def revoke(self, serial_hex: str, reason: str) -> None: ...


@dataclass(slots=True)
class Verified:
    """A POST's verified JWS, its account (when it names one by kid) and its key."""

    message: jws.Jws
    key: jws.PublicKey
    account: Account | None


def base(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


class Core:
    def __init__(
        self,
        issuer: Issuer,
        policy: AcmePolicy,
        validator: Validator,
        faults: Faults,
        traces: TraceLog,
    ) -> None:
        self.issuer = issuer
        self.policy = policy
        self.validator = validator
        self.faults = faults
        self.traces = traces
        self.state = AcmeState()
        self.tasks: set[asyncio.Task[None]] = set()
        self.refused_nonces = Spread()
        self.failed_validations = Spread()

    def render_error(self, status: int, message: str) -> web.Response:
        kind = "malformed" if status < 500 else "serverInternal"
        return self.problem_response(AcmeProblem(kind, message, status=status))

    def problem_response(self, problem: AcmeProblem) -> web.Response:
        response = web.Response(
            status=problem.status, body=problem.body(), content_type=PROBLEM_JSON
        )
        response.headers["Replay-Nonce"] = self.state.new_nonce()
        response.headers["Cache-Control"] = "no-store"
        if problem.retry_after is not None:
            response.headers["Retry-After"] = str(problem.retry_after)
        return response

    @web.middleware
    async def problems(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            response = await handler(request)
        except AcmeProblem as problem:
            log.info(
                "%s %s: %s (%s)", request.method, request.path, problem.kind, problem.detail[:160]
            )
            response = self.problem_response(problem)
        response.headers.setdefault("Link", f'<{base(request)}/directory>;rel="index"')
        return response

    def json(
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

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        """Runs `work` past the request (a validation); cancelled when the app shuts down."""
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def cancel_tasks(self, app: web.Application) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def verify(
        self, request: web.Request, *, jwk_allowed: bool = False, kid_allowed: bool = True
    ) -> Verified:
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
        if self.refused_nonces.pick(self.faults.nonce_reject):
            raise AcmeProblem("badNonce", "this nonce is refused on purpose (nonce fault)")
        url = f"{base(request)}{request.path}"
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
        return Verified(parsed, key, account)

    def _account_by_kid(self, request: web.Request, kid: object) -> Account:
        prefix = f"{base(request)}/acme/acct/"
        if not isinstance(kid, str) or not kid.startswith(prefix):
            raise AcmeProblem("accountDoesNotExist", f"no account {str(kid)[:120]!r}")
        account = self.state.accounts.get(kid.removeprefix(prefix))
        if account is None:
            raise AcmeProblem("accountDoesNotExist", f"no account {kid[:120]!r}")
        if account.status != "valid":  # RFC 8555 7.3.6: 401
            raise AcmeProblem("unauthorized", f"the account is {account.status}", status=401)
        return account

    def owned(self, table: dict[str, Any], request: web.Request, account: Account | None) -> Any:
        item = table.get(request.match_info["id"])
        if item is None or account is None or item.account_id != account.id:
            raise web.HTTPNotFound(text="no such resource for this account")
        return item
