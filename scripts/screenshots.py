"""Regenerates the README's pictures (docs/images/): a handshake diagram, the console (its
list, a handshake's detail, the lab's events) at 1280 px, and `tlssim handshake --records`.

Starts a stack of its own on free ports (`tlssim up`), makes a few handshakes (one from
openssl s_client), and photographs the pages in headless Chromium (Debian's chromium and
chromium-driver, which scripts/bootstrap.sh installs). Run: .venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

import html
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tlssim.harness.browser import screenshot, webdriver
from tlssim.harness.localstack import running_stack

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"


def main() -> int:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, running_stack(Path(tmp)) as stack:
        page = Path(tmp) / "revoked.html"
        stack.tlssim(
            "handshake", "--tls", "1.2", "--server-name", "revoked.tlssim.test", "--html", str(page)
        )
        screenshot(page.as_uri(), IMAGES / "diagram.png", size="1300,900")
        records = stack.tlssim("handshake", "--records").stdout
        text_page = Path(tmp) / "records.html"
        text_page.write_text(
            "<!doctype html><body style='margin:8px;background:#111827;color:#e5e7eb'>"
            f"<pre style='font-size:13px'>$ tlssim handshake --records\n{html.escape(records)}"
            "</pre></body>"
        )
        screenshot(text_page.as_uri(), IMAGES / "records.png", size="900,1400")
        with webdriver() as browser:
            browser.set_window_size(1280, 900)
            browser.get(stack.console_url)
            bundle = Path(tmp) / "bundle.pem"
            bundle.write_text(stack.tlssim("ca", "bundle").stdout)
            for args in (
                ("--server-name", "valid.tlssim.test"),
                ("--tls", "1.2", "--kx", "rsa", "--server-name", "rsa2048.tlssim.test"),
                ("--server-name", "expired.tlssim.test"),
                ("--resume", "--early-data", "GET / 0-RTT"),
                ("--group", "secp256r1", "--server-name", "ecdsa-p256.tlssim.test"),
                ("--tls", "1.2", "--resume"),
            ):
                stack.tlssim("handshake", *args)
            stack.tlssim("faults", "add", "client_ocsp", "latency", "latency=5")
            stack.tlssim("faults", "reset")
            host, port = stack.server_tcp
            subprocess.run(
                [
                    "openssl",
                    "s_client",
                    "-connect",
                    f"{host}:{port}",
                    "-servername",
                    "ecdsa-p256.tlssim.test",
                    "-CAfile",
                    str(bundle),
                    "-brief",
                ],
                input="hello\n",
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            time.sleep(1.5)
            browser.save_screenshot(str(IMAGES / "console.png"))
            browser.find_element(By.CSS_SELECTOR, "#filters input[value=ocsp]").click()
            browser.find_element(By.ID, "events-section").screenshot(
                str(IMAGES / "console-events.png")
            )
            rows = browser.find_elements(By.CSS_SELECTOR, "tr.handshake")
            next(r for r in rows if "rsa2048" in r.text).click()
            WebDriverWait(browser, 5).until(
                lambda b: b.find_elements(By.CSS_SELECTOR, "#detail svg.sequence")
            )
            time.sleep(0.3)
            browser.save_screenshot(str(IMAGES / "console-detail.png"))
    print(f"wrote diagram, records, console, console-events and console-detail in {IMAGES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
