"""A real headless Chromium for the page tests (Debian's `chromium` and `chromium-driver`).

Driven with Selenium through the distribution's own chromedriver, so nothing is
downloaded at test time. `.ci/run` installs both; where neither is installed nor
installable the page tests skip, naming what is missing.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.conftest import scaled

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


@contextmanager
def headless_chromium(width: int = 1280, height: int = 1000) -> Iterator[Any]:
    """A headless Chromium WebDriver, quit however the test ends."""
    browser = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    driver_path = shutil.which("chromedriver")
    if browser is None or driver_path is None:
        pytest.skip(
            "no headless browser: install Debian's chromium and chromium-driver "
            "(apt-get install -y chromium chromium-driver; .ci/run does)"
        )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install -e '.[test]')")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={width},{height}")
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(scaled(60))
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver: Any, script: str, timeout_s: float, what: str) -> Any:
    """Run `script` (JavaScript returning a value) until it is truthy; return that value."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, scaled(timeout_s), poll_frequency=0.05).until(
            lambda d: d.execute_script(script)
        )
    except TimeoutException:
        pytest.fail(f"timed out after {scaled(timeout_s):g} s waiting for {what}")
