"""Reports the real stack produced (tests/vectors/reports), for tests of what renders them."""

from __future__ import annotations

from pathlib import Path

from tlssim.report.model import Report

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "reports"
NAMES = sorted(p.stem for p in VECTORS.glob("*.json"))


def load(name: str) -> Report:
    return Report.from_json((VECTORS / f"{name}.json").read_text())
