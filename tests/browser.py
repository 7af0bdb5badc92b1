"""A real headless Chromium for the browser tests: Debian's `chromium` driven through Debian's
`chromium-driver` by Selenium.

The driver path is given explicitly so Selenium never tries to download a browser or driver of
its own (nothing outside the package registries can be fetched here). Screenshots go to
`SCREENSHOT_DIR` (default `build/screenshots/`, ignored by git) so a person can look at them
after the run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from .support import ROOT

SCREENSHOT_DIR = Path(os.environ.get("COMMANDPOST_SCREENSHOTS", ROOT / "build" / "screenshots"))


def _binaries() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@pytest.fixture(scope="session")
def browser() -> Iterator[WebDriver]:
    """One headless Chromium for the session; each test opens its own pages in it."""
    found = _binaries()
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium and chromium-driver are not installed; CI must run browser tests")
        pytest.skip("Chromium and chromium-driver are not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for flag in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1000",
        "--no-first-run",
        "--disable-extensions",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=found[1]), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: WebDriver, name: str) -> Path:
    """Save a full-window PNG of the current page as SCREENSHOT_DIR/<name>.png."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    assert driver.save_screenshot(str(path)), f"no screenshot written to {path}"
    return path
