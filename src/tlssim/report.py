"""The handshake report (report.schema.json): what the client saw, step by step."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from cryptography import x509

from tlssim.net.drive import ClientRun
from tlssim.pki.checks import Check
from tlssim.tls import events


@dataclass
class Verification:
    """What the client's certificate decision was based on."""

    chain: list[x509.Certificate] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    revocation: dict[str, Any] = field(
        default_factory=lambda: {"status": "unknown", "source": None, "policy": "off"}
    )
    started_ms: float | None = None
    finished_ms: float | None = None
    warnings: list[str] = field(default_factory=list)


def load_schema() -> dict[str, Any]:
    text = resources.files("tlssim").joinpath("report.schema.json").read_text()
    return dict(json.loads(text))


def _name(enum_value: Any) -> Any:
    return getattr(enum_value, "name", enum_value)


def _chain_entry(cert: x509.Certificate) -> dict[str, Any]:
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
    }


def _step(at_ms: float, ev: events.Event) -> dict[str, Any] | None:
    """A report step for an engine event, or None for events that are not steps."""
    base: dict[str, Any] = {"at_ms": round(at_ms, 3)}
    match ev:
        case events.HandshakeMessageSent(name=name, size=size, fields=fields):
            return base | {"name": name, "direction": "sent", "size": size, "fields": fields}
        case events.HandshakeMessageReceived(name=name, size=size, fields=fields):
            return base | {"name": name, "direction": "received", "size": size, "fields": fields}
        case events.SecretDerived(label=label):
            return base | {
                "name": "SecretDerived",
                "direction": "local",
                "size": 0,
                "fields": {"label": label},
            }
        case events.HandshakeComplete():
            return base | {
                "name": "HandshakeComplete",
                "direction": "local",
                "size": 0,
                "fields": {},
            }
        case events.ApplicationDataReceived(data=data):
            return base | {
                "name": "ApplicationData",
                "direction": "received",
                "size": len(data),
                "fields": {},
            }
        case events.AlertSent(level=level, description=description):
            return base | {
                "name": "Alert",
                "direction": "sent",
                "size": 2,
                "fields": {"level": _name(level), "description": _name(description)},
            }
        case events.AlertReceived(level=level, description=description):
            return base | {
                "name": "Alert",
                "direction": "received",
                "size": 2,
                "fields": {"level": _name(level), "description": _name(description)},
            }
    return None


def build_report(
    *,
    run: ClientRun,
    verification: Verification,
    server_name: str | None,
    target: str,
    trace_id: str,
    application_data: bytes,
) -> dict[str, Any]:
    steps = [s for t in run.timeline if (s := _step(t.at_ms, t.event)) is not None]
    if verification.started_ms is not None and verification.finished_ms is not None:
        steps.append(
            {
                "name": "CertificateVerification",
                "direction": "local",
                "at_ms": round(verification.started_ms, 3),
                "size": 0,
                "fields": {"checks": [c.as_dict() for c in verification.checks]},
            }
        )
        steps.sort(key=lambda s: s["at_ms"])

    alert = None
    for timed in run.timeline:
        ev = timed.event
        if isinstance(ev, events.AlertSent | events.AlertReceived) and _name(ev.level) == "fatal":
            sent_by = "client" if isinstance(ev, events.AlertSent) else "server"
            alert = {"level": "fatal", "description": _name(ev.description), "sent_by": sent_by}
            break

    complete = run.first(events.HandshakeComplete)
    info = complete.event if complete else None
    if not isinstance(info, events.HandshakeComplete):
        info = None
    echo_ok = run.echoed == application_data
    ok = info is not None and alert is None and run.failure is None and echo_ok

    timings: dict[str, float] = {"total_ms": round(_last_ms(run), 3)}
    if (first := run.first(events.HandshakeMessageReceived)) is not None:
        timings["first_server_flight_ms"] = round(first.at_ms, 3)
    if complete is not None:
        timings["handshake_ms"] = round(complete.at_ms, 3)
    if verification.started_ms is not None and verification.finished_ms is not None:
        timings["verification_ms"] = round(verification.finished_ms - verification.started_ms, 3)
    if "checked_ms" in verification.revocation:
        timings["revocation_ms"] = verification.revocation["checked_ms"]

    error = run.failure
    if error is None and info is not None and not echo_ok:
        error = "the application data echo did not match"
    return {
        "ok": ok,
        "trace_id": trace_id,
        "target": target,
        "server_name": server_name,
        "version": info.version.label if info else None,
        "cipher_suite": _name(info.cipher_suite) if info else None,
        "key_exchange": info.key_exchange if info else None,
        "resumed": bool(info and info.resumed),
        "signature_scheme": _name(info.signature_scheme) if info else None,
        "chain": [_chain_entry(c) for c in verification.chain],
        "checks": [c.as_dict() for c in verification.checks],
        "revocation": verification.revocation,
        "alert": alert,
        "application_data": {"sent": len(application_data), "echoed": len(run.echoed)},
        "warnings": verification.warnings,
        "error": error,
        "steps": steps,
        "timings": timings,
    }


def _last_ms(run: ClientRun) -> float:
    return run.timeline[-1].at_ms if run.timeline else 0.0
