"""The local stack (tlssim up) and compose route the same links through the same proxies."""

from __future__ import annotations

import json
from pathlib import Path

from tlssim.topology.links import LINKS

ROOT = Path(__file__).resolve().parents[1]


def test_compose_proxies_match_the_links() -> None:
    proxies = json.loads((ROOT / "services" / "faults.json").read_text())
    compose = {p["name"]: p.get("protocol", "tcp") for p in proxies}
    assert compose == {link.name: link.protocol for link in LINKS}


def test_compose_points_each_source_at_its_proxy() -> None:
    text = (ROOT / "compose.yaml").read_text()
    for link in LINKS:
        assert f"# {link.name}" in text, f"compose.yaml does not route {link.name}"
