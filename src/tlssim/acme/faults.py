"""Misbehaviour on purpose (docs/acme.md, "Faults on purpose"): refused nonces, slow or
failing validations, a slow finalization, a longer Retry-After. Set at start (the
TLSSIM_ACME_* settings) and changed at run time through the admin control (`/admin/faults`,
the admin token)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Final

from tlssim.acme.problems import AcmeProblem

# The bounds of each fault, as the settings take them.
MAX_DELAY_S: Final = 3600.0
MAX_RETRY_AFTER_S: Final = 86400


@dataclass(frozen=True, slots=True, kw_only=True)
class Faults:
    #: Share of good nonces refused as badNonce (0..1), spread evenly.
    nonce_reject: float = 0.0
    #: Retry-After seconds on pending or processing resources.
    retry_after_s: int = 1
    #: Share of validations that fail after connecting (incorrectResponse), spread evenly.
    validation_fail: float = 0.0
    #: Seconds a finalized order stays processing before the authority issues (0: at once).
    finalize_delay_s: float = 0.0

    def document(self, validation_delay_s: float) -> dict[str, Any]:
        return {
            "nonce_reject": self.nonce_reject,
            "retry_after_s": self.retry_after_s,
            "validation_delay_s": validation_delay_s,
            "validation_fail": self.validation_fail,
            "finalize_delay_s": self.finalize_delay_s,
        }


def changed(faults: Faults, delay_s: float, update: object) -> tuple[Faults, float]:
    """The faults and validation delay after an admin update (a JSON object naming any of
    the five); malformed when a name or a value is not one the settings would take."""
    if not isinstance(update, dict):
        raise AcmeProblem.malformed("the faults are a JSON object")
    unknown = set(update) - set(faults.document(delay_s))
    if unknown:
        raise AcmeProblem.malformed(f"no fault {sorted(unknown)[0][:40]!r}")
    values: dict[str, Any] = {}
    for name in ("nonce_reject", "validation_fail"):
        if name in update:
            values[name] = _number(update[name], name, 1.0)
    if "finalize_delay_s" in update:
        values["finalize_delay_s"] = _number(
            update["finalize_delay_s"], "finalize_delay_s", MAX_DELAY_S
        )
    if "retry_after_s" in update:
        value = update["retry_after_s"]
        if not isinstance(value, int) or isinstance(value, bool):
            raise AcmeProblem.malformed("retry_after_s must be an integer")
        if not 0 <= value <= MAX_RETRY_AFTER_S:
            raise AcmeProblem.malformed(f"retry_after_s must be from 0 to {MAX_RETRY_AFTER_S}")
        values["retry_after_s"] = value
    if "validation_delay_s" in update:
        delay_s = _number(update["validation_delay_s"], "validation_delay_s", MAX_DELAY_S)
    return dataclasses.replace(faults, **values), delay_s


def _number(value: object, name: str, high: float) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise AcmeProblem.malformed(f"{name} must be a number")
    if not (math.isfinite(value) and 0 <= value <= high):
        raise AcmeProblem.malformed(f"{name} must be from 0 to {high:g}")
    return float(value)


class Spread:
    """Picks a share of events, spread evenly: with a share up to one half, never two in a
    row, so a client that retries once gets through."""

    def __init__(self) -> None:
        self.seen = 0
        self.picked = 0

    def pick(self, share: float) -> bool:
        if not share:
            return False
        self.seen += 1
        picked = int(self.seen * share) != int((self.seen - 1) * share)
        self.picked += picked
        return picked
