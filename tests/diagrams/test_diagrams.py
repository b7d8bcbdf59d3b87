"""The Mermaid sequence diagram's structure, and the HTML page as Chromium draws it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.diagrams.reports import NAMES, load
from tlssim.diagrams.mermaid import mermaid
from tlssim.diagrams.page import html_page
from tlssim.harness.browser import colours, screenshot, webdriver

LANES = ("client", "server", "ocsp", "ca")
LANE = "|".join(LANES)
ARROW = re.compile(rf"^({LANE})(->>|-->>|-x|--x|->|-->)({LANE}): (.+)$")
NOTE = re.compile(rf"^Note (over|left of|right of) ({LANE})(,({LANE}))?: (.+)$")


def parse_sequence(text: str) -> tuple[list[str], list[tuple[str, str, str, str]]]:
    """Participants and arrows of a Mermaid sequenceDiagram; fails on any other line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert lines[0] == "sequenceDiagram"
    participants: list[str] = []
    arrows: list[tuple[str, str, str, str]] = []
    for line in lines[1:]:
        if line == "autonumber" or NOTE.match(line):
            continue
        if line.startswith("participant "):
            participants.append(line.split(" ", 1)[1])
            continue
        match = ARROW.match(line)
        assert match, f"not a sequence diagram line: {line!r}"
        source, kind, target, label = match.groups()
        assert source in participants and target in participants, line
        arrows.append((source, kind, target, label))
    return participants, arrows


@pytest.mark.parametrize("name", NAMES)
def test_mermaid_is_a_sequence_diagram_with_four_lanes(name: str) -> None:
    participants, arrows = parse_sequence(mermaid(load(name)))
    assert participants == list(LANES)
    labels = [label for _, _, _, label in arrows]
    assert any("ClientHello" in label for label in labels)
    assert all(re.match(r"\[\d+\.\d\d ms\] ", label) for s, k, t, label in arrows if k == "->>")


def test_mermaid_shows_the_staple_the_server_fetched_and_the_live_ocsp_query() -> None:
    _, stapled = parse_sequence(mermaid(load("tls12-revoked")))
    assert ("server", "-->>", "ocsp") in [(s, k, t) for s, k, t, _ in stapled]
    assert any(s == "ocsp" and t == "server" and "revoked" in label for s, _, t, label in stapled)
    assert any(s == "ca" and t == "server" for s, _, t, _ in stapled)
    _, live = parse_sequence(mermaid(load("tls13-live-ocsp")))
    assert any(s == "client" and t == "ocsp" and "OCSP request" in label for s, _, t, label in live)


def test_mermaid_marks_the_alert_and_who_sent_it() -> None:
    text = mermaid(load("tls12-revoked"))
    _, arrows = parse_sequence(text)
    alert = [a for a in arrows if a[1] == "-x"]
    assert alert and alert[0][0] == "client" and "certificate_revoked" in alert[0][3]
    assert "sent by the client" in text
    _, from_server = parse_sequence(mermaid(load("server-alert")))
    assert [a[0] for a in from_server if a[1] == "-x"] == ["server"]


@pytest.mark.parametrize("name", ["tls13", "tls12-revoked"])
def test_the_html_page_renders_in_chromium(name: str, tmp_path: Path) -> None:
    page = tmp_path / f"{name}.html"
    page.write_text(html_page(load(name)))
    assert "http://" not in page.read_text().split("<body>")[0]  # nothing fetched
    png = screenshot(page.as_uri(), tmp_path / f"{name}.png")
    assert colours(png) > 200, "the page looks blank"


def test_a_click_on_a_message_shows_its_fields(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    page = tmp_path / "tls12-revoked.html"
    page.write_text(html_page(load("tls12-revoked")))
    with webdriver() as browser:
        browser.get(page.as_uri())
        details = browser.find_element(By.CSS_SELECTOR, ".details")
        assert "certificate_revoked" in details.text  # a failure opens on its alert
        rows = browser.find_elements(By.CSS_SELECTOR, "g.row")
        hello = next(r for r in rows if "ClientHello" in r.text)
        hello.click()
        assert "cipher_suites" in details.text
        assert "revoked.tlssim.test" in details.text
        browser.save_screenshot(str(tmp_path / "clicked.png"))
