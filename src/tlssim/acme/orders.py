"""Orders (RFC 8555 7.4): a new order with one authorization per identifier, the order's
state as a client polls it, renewal by `replaces` (RFC 9773) and the per-account rate limit."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from typing import Any, Final

from aiohttp import web

from tlssim import rpcutil
from tlssim.acme import jws
from tlssim.acme.core import Core, base
from tlssim.acme.problems import AcmeProblem
from tlssim.acme.resources import Account, Authorization, Challenge, Order, now, stamp
from tlssim.rpcutil import trace_id_var

log = logging.getLogger("tlssim.acme")

ORDER_LIFETIME: Final = dt.timedelta(days=7)
CHALLENGE_TYPES: Final = ("http-01", "tls-alpn-01")


class Orders:
    def __init__(self, core: Core) -> None:
        self.core = core

    def _order_json(self, request: web.Request, order: Order) -> dict[str, Any]:
        here = base(request)
        value: dict[str, Any] = {
            "status": order.status,
            "expires": stamp(order.expires),
            "identifiers": [{"type": k, "value": v} for k, v in order.identifiers],
            "authorizations": [f"{here}/acme/authz/{a}" for a in order.authz_ids],
            "finalize": f"{here}/acme/finalize/{order.id}",
        }
        if order.certificate_id:
            value["certificate"] = f"{here}/acme/cert/{order.certificate_id}"
        if order.error is not None:
            value["error"] = order.error.document()
        if order.replaces:
            value["replaces"] = order.replaces
        return value

    def response(self, request: web.Request, order: Order, status: int = 200) -> web.Response:
        """The order as JSON, with its trace id and, while it is pending, Retry-After."""
        self.refresh(order)
        response = self.core.json(
            self._order_json(request, order),
            status,
            location=f"{base(request)}/acme/order/{order.id}",
        )
        response.headers["X-Tlssim-Trace-Id"] = order.trace_id
        if order.status in ("pending", "processing"):
            response.headers["Retry-After"] = str(self.core.faults.retry_after_s)
        return response

    def refresh(self, order: Order) -> None:
        if order.status in ("pending", "ready") and now() > order.expires:
            order.status = "invalid"
            order.error = AcmeProblem("malformed", "the order expired")

    async def new_order(self, request: web.Request) -> web.Response:
        core = self.core
        req = await core.verify(request)
        account = req.account
        assert account is not None
        payload = req.message.payload()
        raw = payload.get("identifiers")
        if not isinstance(raw, list) or not raw:
            raise AcmeProblem.malformed("identifiers must be a non-empty list")
        if len(raw) > core.policy.max_identifiers:
            raise AcmeProblem(
                "rejectedIdentifier",
                f"at most {core.policy.max_identifiers} identifiers in one order",
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
                value = core.policy.check_identifier(item["type"], item["value"])
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
        state = core.state
        order_id = state.new_id()
        expires = now() + ORDER_LIFETIME
        authz_ids = []
        for kind, value in identifiers:
            authz_id = state.new_id()
            challenges = [
                Challenge(state.new_id(), ctype, jws.b64encode(secrets.token_bytes(32)), authz_id)
                for ctype in CHALLENGE_TYPES
            ]
            for challenge in challenges:
                state.challenges[challenge.id] = challenge
            state.authzs[authz_id] = Authorization(
                authz_id, account.id, kind, value, expires, challenges, order_id
            )
            authz_ids.append(authz_id)
        order = Order(
            order_id, account.id, identifiers, authz_ids, expires, trace_id, replaces=replaces
        )
        state.orders[order_id] = order
        account.orders.append(order_id)
        names = ", ".join(v for _, v in identifiers)
        log.info("order %s for %s (account %s) trace=%s", order_id, names, account.id, trace_id)
        core.traces.record(
            "order created", {"order": order_id, "identifiers": names}, trace_id=trace_id
        )
        return self.response(request, order, 201)

    def _check_replaces(self, value: object, account: Account) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise AcmeProblem.malformed("replaces must be a certificate identifier")
        cert_id = self.core.state.by_ari.get(value)
        if cert_id is None:
            raise AcmeProblem.malformed("replaces names no certificate issued here")
        cert = self.core.state.certificates[cert_id]
        if cert.account_id != account.id:
            raise AcmeProblem("unauthorized", "replaces names another account's certificate")
        if cert.replaced_by:
            raise AcmeProblem("malformed", "that certificate was already replaced", status=409)
        return value

    def _count_order(self, account: Account) -> None:
        per_hour = self.core.policy.orders_per_hour
        moment = time.monotonic()
        recent = account.recent_orders
        while recent and moment - recent[0] > 3600:
            recent.popleft()
        if len(recent) >= per_hour:
            problem = AcmeProblem(
                "rateLimited", f"at most {per_hour} new orders an hour per account"
            )
            problem.retry_after = max(1, int(3600 - (moment - recent[0])) + 1)
            raise problem
        recent.append(moment)

    async def order(self, request: web.Request) -> web.Response:
        req = await self.core.verify(request)
        order: Order = self.core.owned(self.core.state.orders, request, req.account)
        return self.response(request, order)
