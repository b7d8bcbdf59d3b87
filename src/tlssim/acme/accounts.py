"""Accounts (RFC 8555 7.3): registration with an optional external account binding,
contact updates, deactivation, the account's orders and key rollover."""

from __future__ import annotations

import json
import logging
from typing import Any, Final

from aiohttp import web

from tlssim.acme import jws
from tlssim.acme.core import Core, base
from tlssim.acme.problems import AcmeProblem
from tlssim.acme.resources import Account

log = logging.getLogger("tlssim.acme")

MAX_CONTACTS: Final = 10


class Accounts:
    def __init__(self, core: Core) -> None:
        self.core = core

    def _account_json(self, request: web.Request, account: Account) -> dict[str, Any]:
        value: dict[str, Any] = {
            "status": account.status,
            "contact": account.contact,
            "orders": f"{base(request)}/acme/acct/{account.id}/orders",
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
        core = self.core
        req = await core.verify(request, jwk_allowed=True, kid_allowed=False)
        payload = req.message.payload()
        thumb = jws.thumbprint(req.key)
        existing = core.state.by_thumbprint.get(thumb)
        here = base(request)
        if existing is not None:
            account = core.state.accounts[existing]
            if account.status != "valid":
                raise AcmeProblem("unauthorized", f"the account is {account.status}", status=401)
            return core.json(
                self._account_json(request, account), location=f"{here}/acme/acct/{account.id}"
            )
        if payload.get("onlyReturnExisting") is True:
            raise AcmeProblem("accountDoesNotExist", "no account has this key")
        contacts = self._contacts(payload.get("contact"))
        if core.policy.eab_required and "externalAccountBinding" not in payload:
            raise AcmeProblem(
                "externalAccountRequired", "this server needs an external account binding"
            )
        eab_kid = ""
        if "externalAccountBinding" in payload:
            eab_kid = self._check_eab(payload["externalAccountBinding"], req.message, request)
        account = Account(core.state.new_id(), req.key, contacts, eab_kid=eab_kid)
        core.state.accounts[account.id] = account
        core.state.by_thumbprint[thumb] = account.id
        log.info("account %s created (%s)", account.id, ", ".join(contacts) or "no contact")
        return core.json(
            self._account_json(request, account), 201, location=f"{here}/acme/acct/{account.id}"
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
        if "nonce" in protected or protected.get("url") != f"{base(request)}{request.path}":
            raise AcmeProblem.malformed("the binding must name this url and carry no nonce")
        key = self.core.policy.eab_keys.get(str(protected.get("kid")))
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
        req = await self.core.verify(request)
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
                for authz in self.core.state.authzs.values():
                    if authz.account_id == account.id and authz.status in ("pending", "valid"):
                        authz.status = "deactivated"
                log.info("account %s deactivated", account.id)
            elif "status" in payload:
                raise AcmeProblem.malformed("an account's status may only become deactivated")
        return self.core.json(
            self._account_json(request, account),
            location=f"{base(request)}/acme/acct/{account.id}",
        )

    async def account_orders(self, request: web.Request) -> web.Response:
        req = await self.core.verify(request)
        assert req.account is not None
        if req.account.id != request.match_info["id"]:
            raise AcmeProblem("unauthorized", "the kid is not this account")
        here = base(request)
        return self.core.json({"orders": [f"{here}/acme/order/{o}" for o in req.account.orders]})

    async def key_change(self, request: web.Request) -> web.Response:
        core = self.core
        req = await core.verify(request)
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
        if (other := core.state.by_thumbprint.get(new_thumb)) is not None:
            response = core.problem_response(
                AcmeProblem("malformed", "another account has this key", status=409)
            )
            response.headers["Location"] = f"{base(request)}/acme/acct/{other}"
            return response
        del core.state.by_thumbprint[jws.thumbprint(account.key)]
        account.key = new_key
        core.state.by_thumbprint[new_thumb] = account.id
        log.info("account %s rolled over to a new key", account.id)
        return core.json(self._account_json(request, account))
