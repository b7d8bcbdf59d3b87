"""Headless Chromium for tests and scripts that look at a page: a screenshot, and a WebDriver
session. scripts/bootstrap.sh installs Debian's chromium and chromium-driver where it can;
without them the tests that need them skip, unless CI=true, where they fail."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars")


def need_chromium(driver: bool = False) -> str:
    missing = CHROMIUM is None or (driver and CHROMEDRIVER is None)
    if missing:
        import pytest  # a test's skip (or, under CI, failure); the package needs no pytest

        why = "needs chromium and chromium-driver (scripts/bootstrap.sh installs them)"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    assert CHROMIUM is not None
    return CHROMIUM


def screenshot(url: str, out: Path, size: str = "1400,1000") -> Path:
    """A PNG of `url` as headless Chromium draws it."""
    chromium = need_chromium()
    subprocess.run(
        [chromium, *FLAGS, f"--window-size={size}", f"--screenshot={out}", url],
        capture_output=True,
        timeout=60,
        check=True,
    )
    return out


def colours(png: Path) -> int:
    """How many distinct colours a PNG holds (a blank page has one or two)."""
    from PIL import Image

    with Image.open(png) as image:
        found = image.convert("RGB").getcolors(maxcolors=1 << 20)
    return len(found) if found is not None else 1 << 20


@contextmanager
def webdriver() -> Iterator[Any]:
    """A Selenium session in headless Chromium."""
    need_chromium(driver=True)
    from selenium import webdriver as wd
    from selenium.webdriver.chrome.service import Service

    options = wd.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, "--window-size=1400,1100"):
        options.add_argument(flag)
    driver = wd.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
