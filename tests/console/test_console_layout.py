"""The console a person can use, in headless Chromium at 1280 and 800 px: with 200
handshakes and a flood of OCSP answers, the list pages and scrolls in its own box, the lab's
events (revocations and fault changes among them, the OCSP answers folded to a count) are on
the first screen, the columns say resumed, 0-RTT and the key exchange family, the page is
drawn from the state it came with, and a click brings the handshake's detail into view.
Positions are read from the DOM's rectangles and checked on the screenshots' pixels."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.diagrams.reports import load
from tlssim.console.app import console_app
from tlssim.console.state import LabState, group_family
from tlssim.harness.browser import need_chromium, webdriver
from tlssim.report.model import EarlyData

HEIGHT = 900
DETAIL_BORDER = (253, 224, 71)  # .detail's top border (#fde047)


def _lab() -> LabState:
    state = LabState()
    state.lab_event("fault", "link client_ocsp: toxic latency_downstream added")
    state.lab_event("revoked", "revoked serial 0a1b (keyCompromise) at 12:00:00 UTC")
    kinds = [load("tls13"), load("tls12-resumed"), load("tls12-ecdhe"), load("tls12-revoked")]
    for n in range(230):
        report = kinds[n % len(kinds)]
        if n % 4 == 0:
            report = dataclasses.replace(
                report,
                key_exchange="X25519MLKEM768",
                resumed=True,
                early_data=EarlyData(requested=5, sent=5, accepted=True, reason="", resent=False),
            )
        state.client_report(dataclasses.replace(report, trace_id=f"trace-{n:03d}"))
        state.lab_event("ocsp", f"OCSP good for serial {n:04x} (staple, grpc)")
    return state


@pytest.fixture(scope="module")
def console_url() -> Iterator[str]:
    """The console's own app, serving a lab state built above, on a loopback port."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(console_app(_lab()))
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.run_until_complete(runner.cleanup())
        loop.close()


def _rect(browser: Any, selector: str) -> dict[str, float]:
    rect: dict[str, float] = browser.execute_script(
        "const r = document.querySelector(arguments[0]).getBoundingClientRect();"
        "return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, height: r.height};",
        selector,
    )
    return rect


def _rows_with(png: Path, colour: tuple[int, int, int]) -> list[int]:
    """The y of every pixel row of the screenshot holding a run of `colour`."""
    from PIL import Image

    with Image.open(png) as image:
        rgb = image.convert("RGB")
        width, height = rgb.size
        pixels = rgb.load()
        assert pixels is not None
        return [
            y
            for y in range(height)
            if sum(1 for x in range(0, width, 4) if pixels[x, y] == colour) > width // 16
        ]


def test_group_families() -> None:
    assert group_family("X25519MLKEM768") == "hybrid PQ"
    assert group_family("MLKEM768") == "PQ"
    assert group_family("x25519") == "classical"
    assert group_family(None) == "-"


def test_ocsp_answers_never_push_out_a_revocation() -> None:
    snapshot = _lab().snapshot()
    kinds = [e["kind"] for e in snapshot["events"]]
    assert "revoked" in kinds and "fault" in kinds
    assert snapshot["ocsp_answers"] == 230
    assert kinds.count("ocsp") <= 20


def test_the_page_arrives_with_the_state_inside_it(console_url: str) -> None:
    import urllib.request

    with urllib.request.urlopen(console_url + "/", timeout=5) as reply:
        page = reply.read().decode()
    inside = page.split('id="initial-state">', 1)[1].split("</script>", 1)[0]
    assert '"trace-229"' in inside and '"ocsp_answers": 230' in inside


@pytest.mark.parametrize("width", [1280, 800])
def test_the_first_screen_holds_list_and_events_and_a_click_shows_the_detail(
    console_url: str, width: int, tmp_path: Path
) -> None:
    need_chromium(driver=True)
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with webdriver() as browser:
        browser.set_window_size(width, HEIGHT)
        viewport = browser.execute_script("return window.innerHeight")
        browser.get(console_url)
        # Drawn from the state inside the page: rows at once, before the stream said "live".
        first = browser.execute_script(
            "return [document.querySelectorAll('tr.handshake').length,"
            " document.getElementById('live').textContent]"
        )
        assert first[0] == 50, first
        assert "No handshake yet" not in browser.find_element(By.TAG_NAME, "body").text
        assert "200 handshakes" in browser.find_element(By.ID, "counts").text

        headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#handshakes th")]
        assert {"kx family", "resumed", "0-RTT", "client"} <= set(headers), headers
        cells = browser.execute_script(
            "return [...document.querySelectorAll('tr.handshake')].map("
            "r => [...r.cells].map(c => c.textContent))"
        )
        assert any(c[4] == "hybrid PQ" and c[5] == "resumed" and c[6] == "accepted" for c in cells)
        assert any(c[4] == "classical" and c[5] == "-" for c in cells)
        # ... and those columns are on the screen, not past the box's right edge
        last = browser.execute_script(
            "const r = document.querySelectorAll('#handshakes th')[6].getBoundingClientRect();"
            "return r.right"
        )
        assert last <= _rect(browser, "#handshake-box")["right"], last

        # The events: on the first screen, the revocation and the fault change listed, the
        # 230 OCSP answers one line.
        events = _rect(browser, "#events-section")
        assert 0 <= events["top"] < viewport - 100, events
        listed = browser.find_element(By.ID, "events").text
        assert "revoked serial 0a1b" in listed and "client_ocsp" in listed
        assert listed.count("OCSP good") == 1  # the latest, on the folded line
        folded = browser.find_element(By.ID, "ocsp-folded").text
        assert folded.startswith("230 OCSP answers folded") and "serial 00e5" in folded
        # The list is a bounded box: the page is not 200 rows long.
        box = _rect(browser, "#handshake-box")
        assert box["bottom"] < viewport, box
        shot = tmp_path / f"list-{width}.png"
        browser.save_screenshot(str(shot))

        # Paging past the first 50
        browser.find_element(By.ID, "older").click()
        assert browser.find_element(By.ID, "page-label").text.startswith("51-100 of 200")
        browser.find_element(By.ID, "newer").click()

        # Filtering: tick the OCSP answers, and the latest of them are listed.
        browser.find_element(By.CSS_SELECTOR, "#filters input[value=ocsp]").click()
        assert browser.find_element(By.ID, "events").text.count("OCSP good") == 20
        browser.find_element(By.CSS_SELECTOR, "#filters input[value=revoked]").click()
        assert "revoked serial" not in browser.find_element(By.ID, "events").text

        # A click on the 40th row: its detail comes into view.
        browser.find_elements(By.CSS_SELECTOR, "tr.handshake")[39].click()
        WebDriverWait(browser, 10).until(
            lambda b: b.find_elements(By.CSS_SELECTOR, "#detail svg.sequence")
        )
        time.sleep(0.2)
        detail = _rect(browser, "#detail")
        assert 0 <= detail["top"] < viewport / 2, detail
        shot = tmp_path / f"detail-{width}.png"
        browser.save_screenshot(str(shot))
        scale = browser.execute_script("return window.devicePixelRatio") or 1
        border = _rows_with(shot, DETAIL_BORDER)
        assert border, "the detail's border is not in the screenshot"
        assert abs(border[0] / scale - detail["top"]) <= 4, (border[:3], detail)
