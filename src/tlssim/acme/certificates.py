"""Finalization and certificates (RFC 8555 7.4, 7.4.2): the CSR is checked against the
order, the authority issues, and the chain is downloaded as PEM."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tlssim.acme import jws
from tlssim.acme.core import Core
from tlssim.acme.orders import Orders
from tlssim.acme.policy import check_csr_key
from tlssim.acme.problems import AcmeProblem
from tlssim.acme.resources import Certificate, Order, ari_cert_id
from tlssim.rpcutil import trace_id_var

log = logging.getLogger("tlssim.acme")


class Certificates:
    def __init__(self, core: Core, orders: Orders) -> None:
        self.core = core
        self.orders = orders

    async def finalize(self, request: web.Request) -> web.Response:
        core = self.core
        req = await core.verify(request)
        order: Order = core.owned(core.state.orders, request, req.account)
        self.orders.refresh(order)
        if order.status != "ready":
            raise AcmeProblem("orderNotReady", f"the order is {order.status}, not ready")
        payload = req.message.payload()
        csr_der = jws.b64decode(payload.get("csr"), "csr")
        check_csr(csr_der, order)
        trace_id_var.set(order.trace_id)
        order.status = "processing"
        if delay_s := core.faults.finalize_delay_s:
            # The finalize fault: the order stays processing (with Retry-After) while the
            # issuance waits, as a CA that issues in the background answers (RFC 8555 7.4).
            core.start(self._issue_later(order, csr_der, delay_s))
            return self.orders.response(request, order)
        try:
            await self._issue(order, csr_der)
        except AcmeProblem as problem:
            order.status, order.error = "invalid", problem
            raise
        return self.orders.response(request, order)

    async def _issue_later(self, order: Order, csr_der: bytes, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        try:
            await self._issue(order, csr_der)
        except AcmeProblem as problem:
            order.status, order.error = "invalid", problem
        except Exception:
            log.exception("issuance for order %s crashed", order.id)
            order.status = "invalid"
            order.error = AcmeProblem("serverInternal", "issuance failed unexpectedly")

    async def _issue(self, order: Order, csr_der: bytes) -> None:
        """Has the authority issue for the order's CSR; the order becomes valid."""
        core = self.core
        chain, serial = await core.issuer.issue(csr_der, int(core.policy.lifetime.total_seconds()))
        leaf = x509.load_der_x509_certificate(chain[0])
        ari = ari_cert_id(leaf)
        state = core.state
        cert = Certificate(state.new_id(), order.account_id, chain, serial, ari, leaf)
        state.certificates[cert.id] = cert
        state.by_ari[ari] = cert.id
        state.by_serial[serial] = cert.id
        if order.replaces and (old := state.by_ari.get(order.replaces)):
            state.certificates[old].replaced_by = cert.id
        order.certificate_id = cert.id
        order.status = "valid"
        names = ", ".join(v for _, v in order.identifiers)
        log.info(
            "issued serial %s for %s (order %s) trace=%s", serial, names, order.id, order.trace_id
        )
        core.traces.record(
            "certificate issued",
            {"order": order.id, "serial": serial, "identifiers": names},
            trace_id=order.trace_id,
        )

    async def certificate(self, request: web.Request) -> web.Response:
        req = await self.core.verify(request)
        cert: Certificate = self.core.owned(self.core.state.certificates, request, req.account)
        pem = b"".join(
            x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
            for der in cert.chain_der
        )
        response = web.Response(body=pem, content_type="application/pem-certificate-chain")
        response.headers["Replay-Nonce"] = self.core.state.new_nonce()
        return response


def check_csr(csr_der: bytes, order: Order) -> None:
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
