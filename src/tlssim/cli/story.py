"""Renders a handshake report as the step-by-step story of the walkthrough."""

from __future__ import annotations

from typing import Any

from tlssim.client.decision import RevocationPolicy
from tlssim.pki.checks import Check
from tlssim.report import Direction, Report, Step

# What each step means, in the walkthrough's words.
EXPLANATIONS: dict[str, str] = {
    "ClientHello": "the client offers its TLS versions, cipher suites, a random and its key share",
    "HelloRetryRequest": "the server wants a key share for another group: the client must retry",
    "ServerHello": "the server selects the TLS version and cipher suite and sends its random "
    "and key share",
    "EncryptedExtensions": "from here on the handshake is encrypted with the handshake keys",
    "Certificate": "the server sends its certificate chain (server -> intermediate CA -> root)",
    "CertificateVerification": "the client verifies the certificate: CA signature, chain, "
    "domain, expiry, revocation",
    "CertificateStatus": "the server staples a signed OCSP response: the certificate is not "
    "revoked",
    "ServerKeyExchange": "the server sends its ephemeral key share, signed with the certificate's "
    "key",
    "ServerHelloDone": "the server has sent everything; now it is the client's turn",
    "ClientKeyExchange": "the client sends its key material: an encrypted premaster secret (RSA) "
    "or its ephemeral key share (ECDHE)",
    "ChangeCipherSpec": "from the next record on, this side encrypts with the session keys",
    "NewSessionTicket": "the server hands out a ticket for resuming this session later",
    "CertificateVerify": "the server proves it holds the certificate's private key by signing "
    "the transcript",
    "Finished": "a MAC over the whole handshake: both sides hold the same keys and saw the same "
    "messages",
    "SecretDerived": "session keys derived",
    "HandshakeComplete": "handshake complete: secure encrypted communication begins",
    "ApplicationData": "encrypted application data",
    "Alert": "an alert ends the connection",
}

# NSS key log labels, as the walkthrough would say them.
SECRETS = {
    "CLIENT_RANDOM": "master secret derived: both sides derive the session keys from the "
    "premaster secret",
    "CLIENT_HANDSHAKE_TRAFFIC_SECRET": "handshake keys derived from the (EC)DHE shared secret",
    "SERVER_HANDSHAKE_TRAFFIC_SECRET": "",
    "CLIENT_TRAFFIC_SECRET_0": "session keys derived for application data",
    "SERVER_TRAFFIC_SECRET_0": "",
}

ARROWS = {
    Direction.SENT: "client -> server",
    Direction.RECEIVED: "server -> client",
    Direction.LOCAL: "client",
}


def _value(v: Any, limit: int = 72) -> str:
    if isinstance(v, list | tuple):
        text = ", ".join(_value(x, 40) for x in v)
    elif isinstance(v, dict):
        text = ", ".join(f"{k}={_value(x, 40)}" for k, x in v.items())
    else:
        text = str(v)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def render(report: Report) -> str:
    lines = [
        f"TLS handshake with {report.server_name or '(no SNI)'} via {report.target}"
        f"  trace {report.trace_id}",
        "",
    ]
    for step in report.steps:
        if step.name == "SecretDerived" and not SECRETS.get(str(step.fields.get("label")), "x"):
            continue  # one line per pair of client/server secrets is enough
        lines.extend(_render_step(step, report.checks))
    lines.append("")
    lines.extend(_summary(report))
    return "\n".join(lines)


def _render_step(step: Step, checks: tuple[Check, ...]) -> list[str]:
    name = step.name
    if name == "SecretDerived":
        label = str(step.fields.get("label", ""))
        what = SECRETS.get(label, f"{label} derived")
        return [f"  {step.at_ms:>8.2f} ms  {'client':<17} {what}"]
    head = f"  {step.at_ms:>8.2f} ms  {ARROWS[step.direction]:<17} {name:<20}" + (
        f" {step.size:>5} B" if step.size else ""
    )
    out = [head, f"{'':<16}{EXPLANATIONS.get(name, '')}"]
    if name == "CertificateVerification":
        for check in checks:
            mark = "ok  " if check.ok else "FAIL"
            source = f" ({check.source})" if check.source else ""
            out.append(f"{'':<18}{mark} {check.name}{source}: {check.detail}")
        return out
    for key, value in step.fields.items():
        out.append(f"{'':<18}{key}: {_value(value)}")
    return out


def _summary(report: Report) -> list[str]:
    total = report.timings.total_ms
    out = []
    if report.ok:
        out.append(
            f"result: OK  {report.version}  {report.cipher_suite}  "
            f"{report.key_exchange}  in {total:.1f} ms"
        )
    else:
        alert = report.alert
        why = (
            f"alert {alert.description} sent by the {alert.sent_by}"
            if alert
            else report.error or "handshake did not complete"
        )
        out.append(f"result: FAILED  {why}  after {total:.1f} ms")
    revocation = report.revocation
    if revocation.policy is not RevocationPolicy.OFF:
        out.append(
            f"revocation: {revocation.status} from {revocation.source or '-'} "
            f"(policy {revocation.policy})"
        )
    out.extend(f"warning: {w}" for w in report.warnings)
    return out
