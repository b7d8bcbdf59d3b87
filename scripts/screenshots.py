"""Regenerates the README's pictures (docs/images/): a handshake diagram and the console.

Starts a stack of its own on free ports (`tlssim up`), makes a few handshakes (one from
openssl s_client), and photographs the pages in headless Chromium (Debian's chromium and
chromium-driver, which scripts/bootstrap.sh installs). Run: .venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

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
        with webdriver() as browser:
            browser.set_window_size(1400, 1300)
            browser.get(stack.console_url)
            bundle = Path(tmp) / "bundle.pem"
            bundle.write_text(stack.tlssim("ca", "bundle").stdout)
            for args in (
                ("--server-name", "valid.tlssim.test"),
                ("--tls", "1.2", "--kx", "rsa", "--server-name", "rsa2048.tlssim.test"),
                ("--server-name", "expired.tlssim.test"),
            ):
                stack.tlssim("handshake", *args)
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
            time.sleep(1)
            rows = browser.find_elements(By.CSS_SELECTOR, "tr.handshake")
            next(r for r in rows if "rsa2048" in r.text).click()
            WebDriverWait(browser, 5).until(
                lambda b: b.find_elements(By.CSS_SELECTOR, "#detail svg.sequence")
            )
            browser.save_screenshot(str(IMAGES / "console.png"))
    print(f"wrote {IMAGES / 'diagram.png'} and {IMAGES / 'console.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
