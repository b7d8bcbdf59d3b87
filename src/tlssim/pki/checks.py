"""Named verification checks: the plain results the handshake report serialises."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Check:
    """One verification step: its name, whether it passed, why, and the alert on failure."""

    name: str
    ok: bool
    detail: str
    alert: str | None = None  # RFC 8446 alert name, set only when ok is False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def passed(name: str, detail: str) -> Check:
    return Check(name, True, detail)


def failed(name: str, detail: str, alert: str) -> Check:
    return Check(name, False, detail, alert)


def first_alert(checks: tuple[Check, ...]) -> str | None:
    """The alert of the first failed check, or None when all passed."""
    return next((c.alert for c in checks if not c.ok), None)
