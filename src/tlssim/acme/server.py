"""The ACME server (RFC 8555) as an aiohttp application: the directory, nonces and the
routes to each resource's handlers, and the admin control of its faults.

The handlers live with their resources: accounts.py, orders.py, authorizations.py
(challenges and validation), certificates.py (finalize and download), revocation.py
(revocation and ARI); core.py holds what they share (the state, the JWS checks every POST
passes, responses with fresh nonces).

It holds no CA key: an `Issuer` (the ca over gRPC, in services/acme.py) issues and revokes.
Its own state lives in memory, as Pebble's does: a restart forgets accounts and orders, not
the certificates, which the ca keeps.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from typing import Any, Final

from aiohttp import web

from tlssim import web as tweb
from tlssim.acme.accounts import Accounts
from tlssim.acme.authorizations import Authorizations
from tlssim.acme.certificates import Certificates
from tlssim.acme.core import MAX_JWS_BYTES, Core, Issuer, base
from tlssim.acme.faults import Faults, Spread, changed
from tlssim.acme.orders import Orders
from tlssim.acme.policy import AcmePolicy
from tlssim.acme.problems import AcmeProblem
from tlssim.acme.resources import AcmeState, ari_cert_id
from tlssim.acme.revocation import Revocation
from tlssim.acme.validation import Validator
from tlssim.telemetry.traces import TraceLog

__all__ = ["MAX_JWS_BYTES", "AcmeServer", "Faults", "Issuer", "ari_cert_id"]

log = logging.getLogger("tlssim.acme")

TERMS: Final = (
    "tlssim ACME test server. Certificates are for the lab's names and lab use only; "
    "anything issued here may be revoked or forgotten at any time.\n"
)
ADMIN_TOKEN_HEADER: Final = "X-Tlssim-Admin-Token"
# A faults update is a handful of numbers.
MAX_ADMIN_BODY: Final = 4096


class AcmeServer:
    """The handlers' routes; `app()` is the aiohttp application. `admin` says whether a
    presented admin token is the deployment's (None: no admin control)."""

    def __init__(
        self,
        issuer: Issuer,
        policy: AcmePolicy,
        validator: Validator,
        *,
        faults: Faults | None = None,
        traces: TraceLog | None = None,
        website: str = "",
        admin: Callable[[str | None], bool] | None = None,
    ) -> None:
        self.core = Core(issuer, policy, validator, faults or Faults(), traces or TraceLog("acme"))
        self.website = website
        self.admin = admin
        self.accounts = Accounts(self.core)
        self.orders = Orders(self.core)
        self.authorizations = Authorizations(self.core)
        self.certificates = Certificates(self.core, self.orders)
        self.revocation = Revocation(self.core)

    @property
    def state(self) -> AcmeState:
        return self.core.state

    @property
    def policy(self) -> AcmePolicy:
        return self.core.policy

    @property
    def faults(self) -> Faults:
        return self.core.faults

    def app(self) -> web.Application:
        core = self.core
        limits = tweb.HttpLimits(max_body=MAX_JWS_BYTES)
        app = tweb.new_app(limits, core.render_error, [core.problems])
        r = app.router
        r.add_get("/directory", self.directory)
        r.add_route("HEAD", "/acme/new-nonce", self.new_nonce)
        r.add_get("/acme/new-nonce", self.new_nonce, allow_head=False)
        r.add_get("/acme/terms", self.terms)
        r.add_get("/acme/renewal-info/{id}", self.revocation.renewal_info)
        for path, handler in (
            ("/acme/new-account", self.accounts.new_account),
            ("/acme/new-order", self.orders.new_order),
            ("/acme/revoke-cert", self.revocation.revoke_cert),
            ("/acme/key-change", self.accounts.key_change),
            ("/acme/acct/{id}", self.accounts.account),
            ("/acme/acct/{id}/orders", self.accounts.account_orders),
            ("/acme/order/{id}", self.orders.order),
            ("/acme/authz/{id}", self.authorizations.authorization),
            ("/acme/chall/{id}", self.authorizations.challenge),
            ("/acme/finalize/{id}", self.certificates.finalize),
            ("/acme/cert/{id}", self.certificates.certificate),
        ):
            r.add_post(path, handler)
        r.add_get("/admin/faults", self.admin_faults)
        r.add_put("/admin/faults", self.admin_faults)
        app.on_shutdown.append(core.cancel_tasks)
        return app

    # -- directory and nonces --------------------------------------------------------------

    async def directory(self, request: web.Request) -> web.Response:
        here = base(request)
        meta: dict[str, Any] = {
            "termsOfService": f"{here}/acme/terms",
            "website": self.website or here,
            "caaIdentities": ["tlssim.test"],
            "externalAccountRequired": self.core.policy.eab_required,
        }
        value = {
            "newNonce": f"{here}/acme/new-nonce",
            "newAccount": f"{here}/acme/new-account",
            "newOrder": f"{here}/acme/new-order",
            "revokeCert": f"{here}/acme/revoke-cert",
            "keyChange": f"{here}/acme/key-change",
            "renewalInfo": f"{here}/acme/renewal-info",
            "meta": meta,
        }
        return web.json_response(value)

    async def new_nonce(self, request: web.Request) -> web.Response:
        response = web.Response(status=200 if request.method == "HEAD" else 204)
        response.headers["Replay-Nonce"] = self.core.state.new_nonce()
        response.headers["Cache-Control"] = "no-store"
        return response

    async def terms(self, request: web.Request) -> web.Response:
        return web.Response(text=TERMS)

    # -- the admin control of the faults ---------------------------------------------------

    async def admin_faults(self, request: web.Request) -> web.Response:
        """GET: the faults and what they did since last set; PUT a JSON object naming any
        of them: they apply to the next request, and the counts start again."""
        if self.admin is None:
            raise AcmeProblem("unauthorized", "this server has no admin control", status=403)
        if not self.admin(request.headers.get(ADMIN_TOKEN_HEADER)):
            raise AcmeProblem(
                "unauthorized",
                f"the faults need the deployment's admin token in {ADMIN_TOKEN_HEADER}",
                status=403,
            )
        core = self.core
        if request.method == "PUT":
            body = await tweb.read_body(request)
            if len(body) > MAX_ADMIN_BODY:
                raise AcmeProblem.malformed("a faults update is at most 4 KiB")
            try:
                parsed = json.loads(body)
            except ValueError:
                raise AcmeProblem.malformed("the faults are a JSON object") from None
            faults, delay_s = changed(core.faults, core.validator.delay_s, parsed)
            core.faults = faults
            core.validator = dataclasses.replace(core.validator, delay_s=delay_s)
            core.refused_nonces, core.failed_validations = Spread(), Spread()
            log.warning("faults set: %s", faults.document(delay_s))
        document = core.faults.document(core.validator.delay_s) | {
            "refused_nonces": core.refused_nonces.picked,
            "failed_validations": core.failed_validations.picked,
        }
        response = web.json_response(document)
        response.headers["Cache-Control"] = "no-store"
        return response
