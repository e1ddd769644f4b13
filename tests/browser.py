"""A real headless Chromium (Debian's `chromium` and `chromium-driver`) driven through
WebDriver by selenium; never a downloaded browser. `make browser` installs the two
packages when they are missing and the user is root.

    python tests/browser.py PAGE.html OUT.png   # a screenshot of a page (docs/report.png)
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

#: Without the background-networking flags Chromium keeps dialing out (component
#: updates, sync, QUIC probes); on a closed network those connections are refused and
#: the browser stalls, and a test could not tell its own page's requests from them.
FLAGS = (
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
)


def missing() -> str | None:
    """Why the browser cannot run here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} is missing (make browser installs chromium and chromium-driver)"
    return None


@contextmanager
def chromium() -> Iterator[Any]:
    """A WebDriver session with console and network logging on, in a fresh profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    # selenium's driver manager must not look anything up: the driver path is given
    os.environ["SE_OFFLINE"] = "true"
    profile = tempfile.mkdtemp(prefix="netpol-doctor-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(page: Path, out: Path) -> None:
    with chromium() as driver:
        driver.get(page.resolve().as_uri())
        rows = driver.find_elements("css selector", "#heatmap th.r")
        for th in rows:
            if th.text == "shop":
                th.click()
                break
        driver.execute_script("window.scrollTo(0, 0)")
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(1280, min(int(height) + 100, 1350))
        driver.save_screenshot(str(out))


if __name__ == "__main__":
    screenshot(Path(sys.argv[1]), Path(sys.argv[2]))
