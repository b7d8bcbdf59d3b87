"""Named verification checks: the plain results the handshake report serialises."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Check:
    """One verification step (the walkthrough: CA signature, chain, domain, expiry,
    revocation): its name, whether it passed, why, the alert on failure, and where the
    answer came from (staple, ocsp, crl) when that matters."""

    name: str
    ok: bool
    detail: str = ""
    alert: str | None = None  # RFC 8446 alert name, set only when ok is False
    source: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The report's form: `source` and `alert` only when set."""
        d: dict[str, Any] = {"name": self.name, "ok": self.ok, "detail": self.detail}
        if self.source:
            d["source"] = self.source
        if self.alert:
            d["alert"] = self.alert
        return d


def passed(name: str, detail: str) -> Check:
    return Check(name, True, detail)


def failed(name: str, detail: str, alert: str) -> Check:
    return Check(name, False, detail, alert)


def first_alert(checks: tuple[Check, ...]) -> str | None:
    """The alert of the first failed check, or None when all passed."""
    return next((c.alert for c in checks if not c.ok), None)
