"""Revocation (RFC 8555 7.6) and renewal information (ARI, RFC 9773)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Final

from aiohttp import web
from cryptography import x509

from tlssim.acme import jws
from tlssim.acme.core import Core
from tlssim.acme.problems import AcmeProblem
from tlssim.acme.resources import Account, Certificate, now, stamp

log = logging.getLogger("tlssim.acme")

# What RFC 5280 reason codes a subscriber may give (those Let's Encrypt takes).
REVOCATION_REASONS: Final = {
    0: "unspecified",
    1: "keyCompromise",
    3: "affiliationChanged",
    4: "superseded",
    5: "cessationOfOperation",
    9: "privilegeWithdrawn",
}


class Revocation:
    def __init__(self, core: Core) -> None:
        self.core = core

    async def revoke_cert(self, request: web.Request) -> web.Response:
        core = self.core
        req = await core.verify(request, jwk_allowed=True)
        payload = req.message.payload()
        der = jws.b64decode(payload.get("certificate"), "certificate")
        try:
            presented = x509.load_der_x509_certificate(der)
        except ValueError:
            raise AcmeProblem.malformed("certificate is not a DER certificate") from None
        serial = format(presented.serial_number, "x")
        cert_id = core.state.by_serial.get(serial)
        cert = core.state.certificates.get(cert_id or "")
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
        await core.issuer.revoke(cert.serial_hex, REVOCATION_REASONS[reason_code])
        cert.revoked = True
        log.info("revoked serial %s (%s)", cert.serial_hex, REVOCATION_REASONS[reason_code])
        core.traces.record("certificate revoked", {"serial": cert.serial_hex})
        response = web.Response(status=200)
        response.headers["Replay-Nonce"] = core.state.new_nonce()
        return response

    def _holds_authorizations(self, account: Account, cert: Certificate) -> bool:
        """Whether `account` holds valid authorizations for every name the certificate has."""
        order_names = {
            (a.kind, a.value)
            for a in self.core.state.authzs.values()
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
        state = self.core.state
        cert_id = state.by_ari.get(request.match_info["id"])
        if cert_id is None:
            raise web.HTTPNotFound(text="no certificate with that identifier was issued here")
        cert = state.certificates[cert_id]
        not_before, not_after = cert.leaf.not_valid_before_utc, cert.leaf.not_valid_after_utc
        if cert.revoked:
            start = now() - dt.timedelta(hours=1)
            end = now() - dt.timedelta(minutes=1)
        else:
            lifetime = not_after - not_before
            start = not_before + lifetime * 2 / 3
            end = start + lifetime / 6
        response = web.json_response(
            {"suggestedWindow": {"start": stamp(start), "end": stamp(end)}}
        )
        response.headers["Retry-After"] = "21600"
        return response
