"""A handshake report as a sequence of arrows between four lanes: the client, the server,
the OCSP responder and the ca.

Besides the TLS messages: what the server had fetched from the responder to staple, the
client's own OCSP and CRL queries, and where the certificates and trust anchors came from.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tlssim.report.model import Direction, Report, Step
from tlssim.report.walkthrough import (
    CHAIN_VALIDATION_NAMES,
    PAIRED_SECRETS,
    Context,
    common_name,
    display_name,
    explain,
)

LANES = ("client", "server", "ocsp", "ca")
_KEYS = {
    "CLIENT_RANDOM": "keys: master secret -> session keys",
    "CLIENT_HANDSHAKE_TRAFFIC_SECRET": "keys: handshake keys (HKDF)",
    "CLIENT_TRAFFIC_SECRET_0": "keys: application keys (HKDF)",
}


class Kind(enum.StrEnum):
    MESSAGE = "message"  # a TLS message or record
    ALERT = "alert"  # a fatal alert: the handshake ends
    LOCAL = "local"  # something one party did on its own (keys, checks)
    QUERY = "query"  # a request to another service
    ANSWER = "answer"  # its answer
    SETUP = "setup"  # before this handshake (enrollment, trust anchors, staple fetch)


@dataclass(frozen=True, kw_only=True, slots=True)
class Arrow:
    source: str  # a lane
    target: str
    label: str
    kind: Kind
    at_ms: float | None = None  # None: not timed by the client (e.g. before the handshake)
    explanation: str = ""
    fields: Mapping[str, Any] = field(default_factory=dict)
    failed: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class Sequence:
    title: str
    ok: bool
    outcome: str  # one line: OK ... or FAILED ...
    arrows: tuple[Arrow, ...]
    lanes: tuple[str, ...] = LANES


def outcome_line(report: Report) -> str:
    return _outcome(report) + _early_data_and_authentication(report)


def _outcome(report: Report) -> str:
    if report.ok:
        return f"OK  {report.version}  {report.cipher_suite}  {report.key_exchange}"
    if report.alert is not None:
        return f"FAILED  alert {report.alert.description} sent by the {report.alert.sent_by}"
    return f"FAILED  {report.error or 'the handshake did not complete'}"


def _early_data_and_authentication(report: Report) -> str:
    """What went in 0-RTT and whether it was taken; whom the server authenticated later."""
    extra = ""
    if (early := report.early_data) is not None:
        verdict = "accepted" if early.accepted else f"rejected ({early.reason})"
        size = early.sent or early.requested  # the server cannot size what it skipped
        extra += f"  0-RTT {f'{size} B ' if size else ''}{verdict}"
    if report.authenticated_as is not None:
        extra += f"  authenticated: {report.authenticated_as}"
    return extra


def sequence_of(report: Report) -> Sequence:
    ctx = Context.of(report)
    arrows = [*_setup(report)]
    for step in report.steps:
        if step.name == "SecretDerived" and step.fields.get("label") in PAIRED_SECRETS:
            continue
        if step.name in CHAIN_VALIDATION_NAMES:
            arrows.extend(_revocation_queries(report, step.at_ms))
        arrows.append(_arrow(step, ctx, report))
    return Sequence(
        title=f"TLS handshake with {report.server_name or '(no SNI)'}",
        ok=report.ok,
        outcome=outcome_line(report),
        arrows=tuple(arrows),
    )


def _arrow(step: Step, ctx: Context, report: Report) -> Arrow:
    source, target = {
        Direction.SENT: ("client", "server"),
        Direction.RECEIVED: ("server", "client"),
        Direction.LOCAL: ("client", "client"),
    }[step.direction]
    fields: Mapping[str, Any] = step.fields
    label = display_name(step)
    failed = False
    kind = Kind.LOCAL if step.direction is Direction.LOCAL else Kind.MESSAGE
    if step.name == "Alert":
        label = f"Alert {fields.get('level', '')} {fields.get('description', '')}"
        if fields.get("level") != "warning":
            kind, failed = Kind.ALERT, True
    elif step.name in CHAIN_VALIDATION_NAMES:
        bad = [c for c in report.checks if not c.ok]
        label += f": FAIL {bad[0].name}" if bad else ": ok"
        failed = bool(bad)
        fields = {
            c.name + (f" ({c.source})" if c.source else ""): _check(c.ok, c.detail)
            for c in report.checks
        }
    elif step.name == "SecretDerived":
        label = _KEYS.get(str(fields.get("label")), f"keys: {fields.get('label')}")
    elif step.name == "EchoCheck":
        failed = not fields.get("matches")
        label += ": matches" if not failed else ": MISMATCH"
    if step.size and kind is not Kind.LOCAL:
        label += f" ({step.size} B)"
    return Arrow(
        source=source,
        target=target,
        label=label,
        kind=kind,
        at_ms=step.at_ms,
        explanation=explain(step, ctx),
        fields=fields,
        failed=failed,
    )


def _check(ok: bool, detail: str) -> str:
    return f"{'ok' if ok else 'FAIL'}: {detail}"


def _setup(report: Report) -> list[Arrow]:
    """What happened before this handshake and shaped it."""
    out = []
    leaf = report.chain[0] if report.chain else None
    # The server service enrolls with the ca; a server reached over TCP may be anyone.
    if leaf is not None and report.target.startswith("grpc://") and leaf.subject != leaf.issuer:
        out.append(
            Arrow(
                source="ca",
                target="server",
                label=f"certificate for {common_name(leaf.subject)} (at enrollment)",
                kind=Kind.SETUP,
                explanation="the server enrolled with the ca by CSR when it started; the "
                f"chain names {common_name(leaf.issuer)} as the leaf's issuer",
                fields={"subject": leaf.subject, "issuer": leaf.issuer, "serial": leaf.serial},
            )
        )
    staple = _stapled(report)
    if staple is not None:
        out.append(
            Arrow(
                source="server",
                target="ocsp",
                label="OCSP request for its leaf (staple refresh)",
                kind=Kind.SETUP,
                explanation="the server asks the responder about its own certificate "
                "periodically, to staple the answer into handshakes",
            )
        )
        out.append(
            Arrow(
                source="ocsp",
                target="server",
                label=f"OCSP response: {staple}",
                kind=Kind.SETUP,
                explanation="the signed answer the server staples (as the client decoded it)",
                failed=staple.startswith("revoked"),
            )
        )
    return out


def _stapled(report: Report) -> str | None:
    """What the stapled response said, as far as the report knows."""
    sent = any(
        s.name == "CertificateStatus" or (s.name == "Certificate" and s.fields.get("ocsp_staple"))
        for s in report.steps
    )
    if not sent:
        return None
    for cert in report.revocation.certificates or ():
        if cert.position == 0 and cert.source == "staple":
            return str(cert.status)
    return "stapled"


def _revocation_queries(report: Report, at_ms: float) -> list[Arrow]:
    """The client's live OCSP and CRL queries while it checked the chain."""
    out = []
    for cert in report.revocation.certificates or ():
        if cert.source not in ("ocsp", "crl"):
            continue
        name = common_name(cert.subject)
        cached = "(cached)" in cert.detail
        what = "OCSP request" if cert.source == "ocsp" else "CRL download (HTTP)"
        fields = {"subject": cert.subject, "serial": cert.serial, "detail": cert.detail}
        if cached:
            out.append(
                Arrow(
                    source="client",
                    target="client",
                    label=f"{cert.source} status of {name}: {cert.status} (cached)",
                    kind=Kind.LOCAL,
                    at_ms=at_ms,
                    explanation="an answer from an earlier query, still fresh: no request",
                    fields=fields,
                )
            )
            continue
        out.append(
            Arrow(
                source="client",
                target="ocsp",
                label=f"{what} for {name}",
                kind=Kind.QUERY,
                at_ms=at_ms,
                explanation=f"the client asks the responder about {name} itself",
                fields=fields,
            )
        )
        out.append(
            Arrow(
                source="ocsp",
                target="client",
                label=f"{cert.status}",
                kind=Kind.ANSWER,
                at_ms=at_ms,
                explanation=cert.detail,
                fields=fields,
                failed=cert.status == "revoked",
            )
        )
    return out
