"""The scenario catalogue's failures, each run once more on its own before it counts: the
timing scenarios measure round trips, and a busy machine can add one to a single run."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from typing import Any

Tlssim = Callable[..., subprocess.CompletedProcess[str]]


def failures_after_a_second_run(tlssim: Tlssim, results: list[dict[str, Any]]) -> list[Any]:
    """The scenarios that failed in `results` and again when run alone (both results)."""
    still = []
    for first in (r for r in results if not r["passed"]):
        done = tlssim("scenarios", "run", first["name"], "--json", timeout=300)
        again = json.loads(done.stdout)[0] if done.stdout.startswith("[") else {"passed": False}
        if not again["passed"]:
            still.append({"first": first, "again": again})
    return still
