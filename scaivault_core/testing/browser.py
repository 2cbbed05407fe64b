"""Headless Chromium for tests of what a server shows in a browser (the console, ``/docs``).

Debian's chromium is driven through Debian's chromedriver (``scripts/services`` installs both,
built from one source so their versions match) by selenium, which only speaks WebDriver to it
and is a test dependency, not the core's: it is imported here at first use.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import pytest

CHROMIUM = Path(os.environ.get("SCAIVAULT_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("SCAIVAULT_TEST_CHROMEDRIVER", "/usr/bin/chromedriver"))


def browser_unavailable(reason: str) -> NoReturn:
    """Skip on a developer machine; in CI (CI=true) a missing browser is a failure: scripts/services installs it."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: scripts/services must install it)", pytrace=False)
    pytest.skip(reason)


@contextmanager
def headless_chromium(profile: Path, *, network_log: bool = False) -> Iterator[Any]:
    """A selenium driver of headless Chromium on the fresh profile directory ``profile``, with no
    background traffic of its own; ``network_log=True`` records every request it sends (``requested_urls``)."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        browser_unavailable(f"{CHROMIUM} and {CHROMEDRIVER} are needed (Debian packages chromium, chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        browser_unavailable("selenium is needed (a test extra: scripts/bootstrap installs it)")

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", **({"performance": "ALL"} if network_log else {})})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


def browser_problems(driver: Any) -> list[str]:
    """What the browser logged as errors since the last call: CSP refusals, failed loads, script errors."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def requested_urls(driver: Any) -> list[str]:
    """Every URL the browser sent a request for since the last call (needs ``network_log=True``)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls
