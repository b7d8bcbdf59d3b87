"""The live console in headless Chromium: handshakes from openssl s_client and from
`tlssim handshake` appear without a reload, and a click shows the sequence diagram."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from tests.integration.conftest import LocalStack
from tests.peers import openssl_client
from tlssim.harness.browser import need_chromium, webdriver

pytestmark = pytest.mark.integration
APPEARS_WITHIN_S = 2.0


def _openssl_handshake(stack: LocalStack, bundle: Path) -> None:
    done = openssl_client(
        stack.server_tcp,
        "-brief",
        server_name="ecdsa-p256.tlssim.test",
        ca_file=bundle,
        verify=True,
        stdin="console\n",
    )
    assert "Verification: OK" in done.stderr, done.stderr


def test_console_lists_handshakes_live_and_shows_a_diagram(
    stack: LocalStack, tmp_path: Path
) -> None:
    need_chromium(driver=True)
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    bundle = tmp_path / "bundle.pem"
    bundle.write_text(stack.tlssim("ca", "bundle").stdout)
    with webdriver() as browser:
        browser.get(stack.console_url)
        WebDriverWait(browser, 10).until(lambda b: b.find_element(By.ID, "live").text == "live")

        def rows() -> list[str]:
            # One round trip to the browser, so that polling costs little of the 2 s.
            texts: list[str] = browser.execute_script(
                "return [...document.querySelectorAll('tr.handshake')].map(r => r.textContent)"
            )
            return texts

        # a mark the page keeps only if it is never reloaded (the list is paged: a count of
        # rows says nothing once the lab has more handshakes than one page shows)
        browser.execute_script("window.tlssimNoReload = true")
        _openssl_handshake(stack, bundle)
        started = time.monotonic()
        WebDriverWait(browser, APPEARS_WITHIN_S, poll_frequency=0.05).until(
            lambda b: any("ecdsa-p256.tlssim.test" in r and "TCP" in r for r in rows())
        )
        assert time.monotonic() - started <= APPEARS_WITHIN_S

        done = stack.tlssim("handshake", "--server-name", "rsa2048.tlssim.test")
        assert done.returncode == 0, done.stderr
        started = time.monotonic()
        WebDriverWait(browser, APPEARS_WITHIN_S, poll_frequency=0.05).until(
            lambda b: any("rsa2048.tlssim.test" in r and "client service" in r for r in rows())
        )
        assert time.monotonic() - started <= APPEARS_WITHIN_S
        # no reload: the rows came by server-sent events
        assert browser.execute_script("return window.tlssimNoReload === true")

        # The responder's live answer to the client's check appears among the lab's events.
        done = stack.tlssim("handshake", "--server-name", "rsa2048.tlssim.test", "--no-staple")
        assert done.returncode == 0, done.stderr
        WebDriverWait(browser, APPEARS_WITHIN_S, poll_frequency=0.05).until(
            lambda b: b.execute_script(
                "return [...document.querySelectorAll('#events li.ocsp')]"
                ".some(e => /OCSP good for serial [0-9a-f]+ \\(live, grpc/.test(e.textContent))"
            )
        )

        row = next(
            r
            for r in browser.find_elements(By.CSS_SELECTOR, "tr.handshake")
            if "rsa2048.tlssim.test" in r.text
        )
        row.click()
        WebDriverWait(browser, 5).until(
            lambda b: b.find_elements(By.CSS_SELECTOR, "#detail svg.sequence")
        )
        diagram = browser.find_element(By.CSS_SELECTOR, "#detail svg.sequence")
        assert "ClientHello" in diagram.text and "CertificateVerify" in diagram.text
        browser.save_screenshot(str(tmp_path / "console.png"))
    assert (tmp_path / "console.png").stat().st_size > 10_000


def test_console_shows_the_ca_feed_and_fault_changes(stack: LocalStack) -> None:
    done = stack.tlssim("faults", "add", "client_ocsp", "latency", "latency=1")
    assert done.returncode == 0, done.stderr
    try:
        deadline = time.monotonic() + 10
        while True:
            with urllib.request.urlopen(stack.console_url + "/api/state", timeout=5) as reply:
                events = [e["text"] for e in json.load(reply)["events"]]
            if any("client_ocsp" in e for e in events) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert any("link client_ocsp: toxic" in e and "added" in e for e in events), events
        assert any(e.startswith("issued serial") for e in events), events
        # The answers to the server's staple refreshes: one for each certificate.
        assert any(e.startswith("OCSP good for serial") and "(staple, grpc" in e for e in events)
    finally:
        stack.tlssim("faults", "remove", "client_ocsp", "latency_downstream")
