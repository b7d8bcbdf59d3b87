"""Data a page embeds in a script element holds nothing the HTML parser acts on, and parses
back to the same value."""

from __future__ import annotations

import json

import pytest

from tests.diagrams.reports import load
from tlssim.diagrams.page import html_page, script_json

HOSTILE = ["<!--<script>", "</script><script>alert(1)</script>", "a&b>c", "\u2028\u2029", "]]>"]


@pytest.mark.parametrize("text", HOSTILE)
def test_script_json_round_trips_with_nothing_the_parser_sees(text: str) -> None:
    embedded = script_json({"server_name": text, "fields": [text]})
    assert not any(c in embedded for c in "<>&\u2028\u2029")
    assert json.loads(embedded) == {"server_name": text, "fields": [text]}


def test_the_page_embeds_a_hostile_name_inside_its_one_data_script() -> None:
    report = load("tls12-revoked")
    hostile = report.__class__.from_dict(report.to_dict() | {"server_name": HOSTILE[0]})
    page = html_page(hostile)
    assert page.count("<script") == 2
    assert "<!--<script>" not in page.split("<script", 1)[1]
