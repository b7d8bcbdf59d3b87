"""Authorizations and challenges (RFC 8555 7.5): a client answers a challenge, the
validation runs past the request, and its outcome settles the authorization and the order."""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web

from tlssim.acme import jws
from tlssim.acme.core import Core, base
from tlssim.acme.problems import AcmeProblem
from tlssim.acme.resources import Authorization, Challenge, Order, now, stamp
from tlssim.rpcutil import trace_id_var

log = logging.getLogger("tlssim.acme")


class Authorizations:
    def __init__(self, core: Core) -> None:
        self.core = core

    def _challenge_json(self, request: web.Request, challenge: Challenge) -> dict[str, Any]:
        value: dict[str, Any] = {
            "type": challenge.type,
            "url": f"{base(request)}/acme/chall/{challenge.id}",
            "status": challenge.status,
            "token": challenge.token,
        }
        if challenge.validated is not None:
            value["validated"] = stamp(challenge.validated)
        if challenge.error is not None:
            value["error"] = challenge.error.document()
        return value

    async def authorization(self, request: web.Request) -> web.Response:
        core = self.core
        req = await core.verify(request)
        authz: Authorization = core.owned(core.state.authzs, request, req.account)
        if not req.message.is_post_as_get:
            payload = req.message.payload()
            if payload.get("status") != "deactivated":
                raise AcmeProblem.malformed("an authorization's status may only become deactivated")
            if authz.status in ("pending", "valid"):
                authz.status = "deactivated"
        if authz.status == "pending" and now() > authz.expires:
            authz.status = "expired"
        value = {
            "identifier": {"type": authz.kind, "value": authz.value},
            "status": authz.status,
            "expires": stamp(authz.expires),
            "challenges": [self._challenge_json(request, c) for c in authz.challenges],
        }
        response = core.json(value)
        if authz.status == "pending":
            response.headers["Retry-After"] = str(core.faults.retry_after_s)
        return response

    async def challenge(self, request: web.Request) -> web.Response:
        core = self.core
        req = await core.verify(request)
        account = req.account
        assert account is not None
        challenge = core.state.challenges.get(request.match_info["id"])
        authz = core.state.authzs.get(challenge.authz_id) if challenge else None
        if challenge is None or authz is None or authz.account_id != account.id:
            raise web.HTTPNotFound(text="no such challenge for this account")
        if (
            not req.message.is_post_as_get
            and challenge.status == "pending"
            and authz.status == "pending"
        ):
            challenge.status = "processing"
            key_authorization = f"{challenge.token}.{jws.thumbprint(account.key)}"
            order = core.state.orders[authz.order_id]
            core.start(self._validate(challenge, authz, order, key_authorization))
        response = core.json(
            self._challenge_json(request, challenge),
            links=(f'<{base(request)}/acme/authz/{authz.id}>;rel="up"',),
        )
        if challenge.status == "processing":
            response.headers["Retry-After"] = str(core.faults.retry_after_s)
        return response

    async def _validate(
        self, challenge: Challenge, authz: Authorization, order: Order, key_authorization: str
    ) -> None:
        core = self.core
        trace_id_var.set(order.trace_id)
        started = time.monotonic()
        try:
            where = await core.validator.validate(
                challenge.type, authz.kind, authz.value, challenge.token, key_authorization
            )
            if core.failed_validations.pick(core.faults.validation_fail):
                raise AcmeProblem(
                    "incorrectResponse",
                    f"{challenge.type}: the answer from {where} is refused on purpose "
                    "(validation fault)",
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
            core.traces.record(
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
        challenge.status, challenge.validated = "valid", now()
        authz.status = "valid"
        core.traces.record(
            "validation connection",
            {"challenge": challenge.type, "identifier": authz.value, "to": where},
            trace_id=order.trace_id,
            duration_ms=(time.monotonic() - started) * 1000,
        )
        log.info(
            "%s for %s valid (%s) trace=%s", challenge.type, authz.value, where, order.trace_id
        )
        if order.status == "pending" and all(
            core.state.authzs[a].status == "valid" for a in order.authz_ids
        ):
            order.status = "ready"
