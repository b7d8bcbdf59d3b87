"""The links are declared once (topology/links.py): the local stack (tlssim up) routes them
from that list, and compose's files are generated from it or checked against it."""

from __future__ import annotations

import re
from pathlib import Path

from tlssim.topology.endpoints import Endpoints
from tlssim.topology.links import LINKS, compose_proxies, compose_variable

ROOT = Path(__file__).resolve().parents[1]

# Which Endpoints field a link's target is reached through.
FIELDS = {
    "server": "server",
    "server_tcp": "server_tcp",
    "ocsp": "ocsp",
    "ocsp_http": "ocsp_url",
    "ca": "ca",
}


def _compose_service(name: str) -> str:
    """The lines of one service's block in compose.yaml."""
    text = (ROOT / "compose.yaml").read_text()
    start = re.search(rf"^  {name}:\n", text, re.M)
    assert start is not None, f"compose.yaml has no service {name!r}"
    end = re.compile(r"^  \S", re.M).search(text, start.end())
    return text[start.end() : end.start() if end else len(text)]


def test_faults_json_is_generated_from_the_links() -> None:
    generated = compose_proxies()
    on_disk = (ROOT / "services" / "faults.json").read_text()
    regenerate = "python -m tlssim.topology.links > services/faults.json"
    assert on_disk == generated, f"services/faults.json is out of date: {regenerate}"


def test_compose_points_each_source_at_its_proxy() -> None:
    for link in LINKS:
        assert compose_variable(link) in _compose_service(link.source), (
            f"compose.yaml's {link.source} does not route {link.name}: {compose_variable(link)}"
        )


def test_each_link_variable_is_the_address_the_source_reads() -> None:
    for link in LINKS:
        if link.target not in FIELDS:  # the ACME links: read by the ACME settings
            continue
        address = "http://proxy:1" if link.variable == "TLSSIM_OCSP_URL" else "proxy:1"
        endpoints = Endpoints.from_env({link.variable: address})
        assert getattr(endpoints, FIELDS[link.target]) == address, link.name


def test_link_names_and_compose_ports_are_distinct() -> None:
    assert len({link.name for link in LINKS}) == len(LINKS)
    assert len({link.compose_port for link in LINKS}) == len(LINKS)
