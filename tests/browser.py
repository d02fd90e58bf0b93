"""A real headless Chromium driven through selenium, for the dashboard tests.

Debian's `chromium` and `chromium-driver` packages (`make test` installs
them when missing); nothing is downloaded."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path(shutil.which("chromedriver") or "/usr/bin/chromedriver")

# Per chart, how many marks plotly drew: line paths with at least two
# points, markers, bars and heat-map images.
DRAWN_MARKS = """
const counts = {};
for (const plot of document.querySelectorAll('.js-plotly-plot')) {
  const lines = [...plot.querySelectorAll('.scatterlayer path.js-line')]
    .filter((p) => (p.getAttribute('d') || '').split(/[LM]/).length > 2).length;
  const points = plot.querySelectorAll('.scatterlayer .point, .barlayer .point').length;
  const images = plot.querySelectorAll('.heatmaplayer image').length;
  counts[plot.id] = lines + points + images;
}
return counts;
"""


def chromium_or_skip() -> None:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("Debian's chromium and chromium-driver are not installed (make test installs them as root)")


def start_browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,3800", "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def load_and_wait_drawn(driver, url: str, times: int = 1, timeout_s: float = 120) -> None:
    """Open `url` and wait until the page has drawn its payload `times` times
    (counted by the page itself in body[data-drawn])."""
    driver.get(url)
    deadline = time.monotonic() + timeout_s
    while int(driver.execute_script("return Number(document.body.dataset.drawn || 0)")) < times:
        if time.monotonic() > deadline:
            raise AssertionError(f"the page at {url} did not draw within {timeout_s:.0f} s")
        time.sleep(0.2)


def console_errors(driver) -> list[dict]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
