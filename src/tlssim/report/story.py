"""Renders a handshake report as the step-by-step story of the walkthrough, fitted to the
terminal's width: each step on one line, what it means and its fields wrapped under it."""

from __future__ import annotations

import re
from typing import Any

from tlssim.pki.checks import Check
from tlssim.report.fit import terminal_width, wrap
from tlssim.report.model import Direction, FirstHandshake, Report, Step
from tlssim.report.revocation import RevocationPolicy
from tlssim.report.walkthrough import (
    CHAIN_VALIDATION_NAMES,
    PAIRED_SECRETS,
    Context,
    display_name,
    explain,
    key_schedule,
)
from tlssim.report.wirecost import cost_lines, handshake_cost

ARROWS = {
    Direction.SENT: "client -> server",
    Direction.RECEIVED: "server -> client",
    Direction.LOCAL: "client",
}
# Columns: time, who, then the step; what it means and its fields sit indented under it.
EXPLAIN_INDENT = 14
FIELD_INDENT = 16
# Fields whose values say nothing new to a reader of the story (still in the JSON).
QUIET_FIELDS = frozenset({"label", "checks"})
MAX_VALUE = 160  # characters of one field value (or list item) before it is cut
MAX_ITEMS = 100  # items of a list field shown; past them, how many more
_HEX = re.compile(r"[0-9a-f]+")


def render(report: Report, width: int | None = None) -> str:
    width = width or terminal_width()
    lines = wrap(f"TLS handshake with {report.server_name or '(no SNI)'}", width)
    lines += wrap(f"via {report.target}, trace {report.trace_id}", width, indent=2)
    if (replicas := _replicas(report)) is not None:
        lines += wrap(replicas, width, indent=2)
    if report.first_handshake is not None:
        lines += ["", *_first_handshake(report.first_handshake, width)]
        lines += wrap("second handshake, resuming the first one's session:", width)
    lines.append("")
    ctx = Context.of(report)
    for step in report.steps:
        if step.name == "SecretDerived" and step.fields.get("label") in PAIRED_SECRETS:
            continue  # one line per pair of client/server secrets is enough
        lines.extend(_render_step(step, ctx, report.checks, width))
    lines.append("")
    lines.extend(_summary(report, width))
    return "\n".join(lines)


def _replicas(report: Report) -> str | None:
    """Which replicas served it, when they said (a deployment with several of each)."""
    r = report.replicas
    if r is None:
        return None
    return f"client replica {r.client or '(unnamed)'}, server replica {r.server or '(unnamed)'}"


def _first_handshake(first: FirstHandshake, width: int) -> list[str]:
    outcome = "OK" if first.ok else "FAILED"
    what = ", ".join(x for x in (first.version, first.cipher_suite) if x)
    names = [n for n in first.steps if n != "SecretDerived"]
    return [
        *wrap(
            f"first handshake (full): {outcome} {what} in {first.timings.total_ms:.1f} ms", width
        ),
        *wrap(", ".join(names), width, indent=2),
        "",
    ]


def _head(step: Step, width: int) -> list[str]:
    size = f"  {step.size} B" if step.size else ""
    text = f"{step.at_ms:>8.2f} ms  {ARROWS[step.direction]:<16}  {display_name(step)}{size}"
    return wrap(text, width, indent=2, hanging=12)


def _render_step(step: Step, ctx: Context, checks: tuple[Check, ...], width: int) -> list[str]:
    out = _head(step, width)
    if meaning := explain(step, ctx):
        out += wrap(meaning, width, indent=EXPLAIN_INDENT)
    if step.name in CHAIN_VALIDATION_NAMES:
        for check in checks:
            out += wrap(_check_line(check), width, indent=FIELD_INDENT, hanging=5)
        return out
    for key, value in step.fields.items():
        if key not in QUIET_FIELDS:
            out += wrap(f"{key}: {_value(value)}", width, indent=FIELD_INDENT, hanging=2)
    return out


def _check_line(check: Check) -> str:
    mark = "ok  " if check.ok else "FAIL"
    source = f" ({check.source})" if check.source else ""
    return f"{mark} {check.name}{source}: {check.detail}"


def _value(v: Any) -> str:
    if isinstance(v, list | tuple):
        # Every item of a list is shown (wrapped, never cut): the last extensions of a
        # ClientHello (pre_shared_key, early_data) are what a 0-RTT learner came to see.
        shown = [_cut(str(x)) for x in v[:MAX_ITEMS]]
        more = f" (and {len(v) - MAX_ITEMS} more)" if len(v) > MAX_ITEMS else ""
        return (", ".join(shown) or "(none)") + more
    if isinstance(v, dict):
        text = ", ".join(f"{k}={x}" for k, x in v.items())
    elif v == "":
        text = "(empty)"
    elif isinstance(v, str) and len(v) > 32 and _HEX.fullmatch(v):
        text = f"{v[:16]}...{v[-8:]} ({len(v) // 2} bytes)"  # the JSON has it whole
    else:
        text = str(v)
    return _cut(text)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 3] + "..."


def _summary(report: Report, width: int) -> list[str]:
    total = report.timings.total_ms
    out: list[str] = []
    if report.ok:
        kx = report.key_exchange or "?"
        kx += " (hybrid post-quantum)" if kx in ("X25519MLKEM768", "SecP256r1MLKEM768") else ""
        if report.resumed:
            kx = f"resumed session ({kx})" if report.version == "TLSv1.3" else "resumed session"
        text = f"result: OK  {report.version}  {report.cipher_suite}  {kx}  in {total:.1f} ms"
        out += wrap(text, width, hanging=8)
    else:
        alert = report.alert
        why = (
            f"alert {alert.description} sent by the {alert.sent_by}"
            if alert
            else report.error or "handshake did not complete"
        )
        out += wrap(f"result: FAILED  {why}  after {total:.1f} ms", width, hanging=8)
        # A failed check is the reason only for an alert; a soft-fail check never is.
        failing = [c for c in report.checks if not c.ok] if alert else []
        failed = next((c for c in failing if c.alert == alert.description), None) if alert else None
        failed = failed or next(iter(failing), None)
        if failed is not None:
            out += wrap(f"because: {_check_line(failed)[5:]}", width, hanging=9)
        elif alert is not None and report.error:
            out += wrap(f"because: {report.error}", width, hanging=9)
    data = report.application_data
    if data.sent and report.version is not None:
        match = next((s for s in report.steps if s.name == "EchoCheck"), None)
        if match is None:  # no echo was awaited (--no-echo)
            out += wrap(f"data: {data.sent} bytes sent, no echo awaited", width, hanging=6)
        else:
            same = match.fields.get("matches")
            verdict = "the same bytes came back" if same else f"{data.echoed} bytes came back"
            out += wrap(f"echo: {data.sent} bytes sent, {verdict}", width, hanging=6)
    if (early := report.early_data) is not None:
        if early.accepted:
            text = f"0-RTT: {early.sent} bytes went with the ClientHello and were accepted"
        else:
            again = ", sent again after the handshake" if early.resent else ""
            text = f"0-RTT: {early.requested} bytes not accepted ({early.reason}){again}"
        out += wrap(text, width, hanging=7)
    if report.authenticated_as is not None:
        out += wrap(f"authenticated after the handshake: {report.authenticated_as}", width)
    if schedule := key_schedule(report):
        out += wrap(f"keys: {schedule}", width, hanging=6)
    if (wire := report.wire) is not None:
        text = (
            f"bytes: {wire.sent_bytes} B sent in {wire.sent_records} records, "
            f"{wire.received_bytes} B received in {wire.received_records}, as they went on the "
            "wire (record headers, AEAD tags and padding, data and alerts included)"
        )
        out += wrap(text, width, hanging=7)
    for line in cost_lines(handshake_cost(report.steps)):
        out += wrap(line, width, hanging=7)
    revocation = report.revocation
    if revocation.policy is not RevocationPolicy.OFF:
        found = (
            f" from {revocation.source}{_where(revocation.location)}"
            if revocation.source
            else f": {revocation.detail}"
            if revocation.detail
            else " from -"
        )
        text = f"revocation: {revocation.status}{found} (policy {revocation.policy})"
        out += wrap(text, width, hanging=12)
    for warning in report.warnings:
        out += wrap(f"warning: {warning}", width, hanging=9)
    return out


def _where(location: str) -> str:
    """Who answered: a URL the certificate names, or the lab's responder, or the staple."""
    if not location:
        return ""
    return f" at {location}" if "://" in location else f" ({location})"
