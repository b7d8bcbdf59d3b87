"""A server name that is HTML breaks neither the HTML export nor the console: the data a page
embeds is escaped for the script element that holds it, and the console shows the name a
failed TCP handshake sent (as text), saying "(no SNI)" only when there was none."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import LocalStack
from tests.peers import openssl_client
from tlssim.harness.browser import need_chromium, webdriver

pytestmark = pytest.mark.integration

HOSTILE = "<!--<script>"


def _click_the_client_hello(browser: Any, within: str) -> str:
    from selenium.webdriver.common.by import By

    rows = browser.find_elements(By.CSS_SELECTOR, f"{within} g.row")
    next(r for r in rows if "ClientHello" in r.text).click()
    text: str = browser.find_element(By.CSS_SELECTOR, f"{within} .details").text
    return text


def test_the_html_export_keeps_both_scripts_and_works(stack: LocalStack, tmp_path: Path) -> None:
    need_chromium(driver=True)
    page = tmp_path / "x.html"
    done = stack.tlssim("handshake", "--server-name", HOSTILE, "--html", str(page))
    assert page.exists(), done.stderr
    with webdriver() as browser:
        browser.get(page.as_uri())
        assert browser.execute_script("return document.scripts.length") == 2
        details = _click_the_client_hello(browser, "body")
        assert "cipher_suites" in details and HOSTILE in details


def _state(stack: LocalStack) -> dict[str, Any]:
    with urllib.request.urlopen(stack.console_url + "/api/state", timeout=5) as reply:
        state: dict[str, Any] = json.load(reply)
    return state


def _openssl(stack: LocalStack, *args: str) -> None:
    openssl_client(stack.server_tcp, *args)


def test_the_console_shows_a_hostile_name_and_its_diagram(stack: LocalStack) -> None:
    need_chromium(driver=True)
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    stack.tlssim("handshake", "--server-name", HOSTILE)
    _openssl(stack, "-servername", f"tcp{HOSTILE}")
    deadline = time.monotonic() + 10
    while True:
        hosts = {(h["source"].split()[0], h["host"]) for h in _state(stack)["handshakes"]}
        if ("TCP", f"tcp{HOSTILE}") in hosts or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert ("TCP", f"tcp{HOSTILE}") in hosts, hosts  # not "(no SNI)"
    assert ("client", HOSTILE) in hosts, hosts
    with webdriver() as browser:
        browser.get(stack.console_url)
        WebDriverWait(browser, 10).until(lambda b: b.find_element(By.ID, "live").text == "live")
        rows = browser.find_elements(By.CSS_SELECTOR, "tr.handshake")
        assert any(f"tcp{HOSTILE}" in r.text for r in rows)  # shown as text
        next(r for r in rows if HOSTILE in r.text and "client service" in r.text).click()
        WebDriverWait(browser, 5).until(
            lambda b: b.find_elements(By.CSS_SELECTOR, "#detail svg.sequence")
        )
        assert len(browser.find_elements(By.CSS_SELECTOR, "#detail script.arrow-data")) == 1
        details = _click_the_client_hello(browser, "#detail")
        assert HOSTILE in details
