"""The dashboard at / and the file `bot report --html` writes, loaded in a
real headless Chromium: every chart has drawn data points, the figures on
the page are the API's and `bot report --json`'s, the console stays free of
errors, the live page redraws itself, and HTML planted in a symbol name or
an event message shows as text and never runs."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import DRAWN_MARKS, chromium_or_skip, console_errors, load_and_wait_drawn, start_browser
from helpers import REPO, write_config
from test_serve import bot_serving, get, report_json

pytestmark = pytest.mark.slow

HOSTILE_MESSAGE = '<img src=x onerror="window.__owned=1"><script>window.__owned=2</script><b>loud</b>'
HOSTILE_SYMBOL = "BTC<svg onload=window.__owned=3>/USDT"
HOSTILE_KIND = "model_<img src=y onerror=window.__owned=4>"
CHARTS = ("equity-chart", "price-chart-0", "prob-chart", "rolling-chart", "calibration-chart", "timeline-chart",
          "risk-chart", "monthly-chart", "exits-chart")


@pytest.fixture(scope="module")
def planted_run(tiny_run: Path, tmp_path_factory) -> Path:
    """A copy of the tiny replay whose events carry HTML an exchange or a
    strategy could have sent."""
    directory = tmp_path_factory.mktemp("planted_run")
    write_config(directory)
    with sqlite3.connect(tiny_run / "bot.sqlite") as source, sqlite3.connect(directory / "bot.sqlite") as copy:
        source.backup(copy)
        copy.execute("INSERT INTO events (ts, level, kind, message, symbol) VALUES (?, 'warning', ?, ?, ?)",
                     (1_675_000_000_000, "exchange_says", HOSTILE_MESSAGE, HOSTILE_SYMBOL))
        copy.execute("INSERT INTO events (ts, level, kind, message, symbol) VALUES (?, 'info', ?, ?, NULL)",
                     (1_675_000_000_000, HOSTILE_KIND, HOSTILE_MESSAGE))
    return directory


@pytest.fixture(scope="module")
def served(planted_run: Path) -> Iterator[str]:
    with bot_serving(planted_run) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator:
    chromium_or_skip()
    driver = start_browser()
    try:
        yield driver
    finally:
        driver.quit()


def shown_figures(driver) -> dict[str, str]:
    return driver.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('[data-field]')]"
        ".map((e) => [e.dataset.field, e.dataset.value]))"
    )


def assert_same_figures(shown: dict[str, str], summary: dict) -> None:
    assert len(shown) >= 10
    for field, value in shown.items():
        expected = summary[field]
        if expected is None:
            assert value == "", field
        else:
            assert float(value) == pytest.approx(expected, rel=1e-12), field


def assert_every_chart_drew(driver) -> None:
    marks = driver.execute_script(DRAWN_MARKS)
    assert set(CHARTS) <= set(marks), marks
    assert all(marks[chart] > 0 for chart in CHARTS), marks


def assert_planted_html_is_text(driver) -> None:
    assert driver.execute_script("return window.__owned") is None
    assert driver.execute_script("return document.querySelectorAll('img[src=x], img[src=y], #events b, "
                                 "#events script, #events svg').length") == 0
    events = driver.find_element("id", "events").text
    assert HOSTILE_MESSAGE in events and HOSTILE_SYMBOL in events


def test_the_dashboard_draws_every_chart_with_the_apis_figures(served: str, browser) -> None:
    load_and_wait_drawn(browser, served + "/")
    assert console_errors(browser) == []
    assert_every_chart_drew(browser)
    status, summary = get(served, "/api/v1/summary")
    assert status == 200
    assert_same_figures(shown_figures(browser), summary)
    _, trades = get(served, "/api/v1/trades?limit=50")
    rows = browser.find_elements("css selector", "#trades tbody tr")
    assert len(rows) == len(trades["items"]) > 0
    first = rows[0].find_elements("tag name", "td")
    newest = trades["items"][0]
    if newest["exit_ts"] is None:  # the tiny run ends holding a winner: shown at the last close, not as its fee
        assert newest["open_pnl"] > 0 > newest["pnl"]
        assert first[-1].text == "open, at the last close" and "(last close)" in first[4].text
        assert "up" in first[6].get_attribute("class").split()
    else:
        assert first[-1].text == newest["exit_reason"]
    _, models = get(served, "/api/v1/models")
    assert len(browser.find_elements("css selector", "#models tbody tr")) == len(models["items"]) > 0


def test_the_live_page_redraws_itself(served: str, browser) -> None:
    load_and_wait_drawn(browser, served + "/?refresh=1", times=3)
    assert console_errors(browser) == []


@pytest.mark.parametrize(("asked", "every"), [("3000000", "86400"), ("Infinity", "86400"), ("0.001", "1")])
def test_a_refresh_period_out_of_range_is_held_to_one_second_to_a_day(served: str, browser, asked: str,
                                                                      every: str) -> None:
    # setInterval takes a delay past 2**31 - 1 ms as none: ?refresh=3000000 reloaded back to back.
    load_and_wait_drawn(browser, served + f"/?refresh={asked}")
    assert browser.find_element("id", "refresh").text == f"refreshes every {every} s"


def test_html_planted_in_a_symbol_or_an_event_shows_as_text_on_the_page(served: str, browser) -> None:
    load_and_wait_drawn(browser, served + "/")
    assert_planted_html_is_text(browser)
    assert console_errors(browser) == []


def test_the_page_uses_no_other_host_and_forbids_inline_scripts(served: str) -> None:
    status, page = get(served, "/")
    assert status == 200 and isinstance(page, str)
    assert "http://" not in page and "https://" not in page and "//" not in page.replace("<!DOCTYPE", "")
    for name in ("dashboard.js", "dashboard.css", "plotly.min.js"):
        assert get(served, "/static/" + name)[0] == 200
    assert get(served, "/static/..%2Fapi.py")[0] == 404


def test_the_html_report_is_one_offline_file_with_the_same_figures(planted_run: Path, browser) -> None:
    out = planted_run / "report.html"
    done = subprocess.run([sys.executable, "-m", "bot", "report", "--html", str(out), "-c",
                           str(planted_run / "config.yaml")], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert "<script src" not in text and "<link rel=\"stylesheet" not in text  # nothing to fetch
    load_and_wait_drawn(browser, out.as_uri())
    assert console_errors(browser) == []
    assert_every_chart_drew(browser)
    assert_same_figures(shown_figures(browser), report_json(planted_run))
    assert_planted_html_is_text(browser)


def test_the_backtest_report_draws_every_figure_in_a_browser(tmp_path: Path, browser) -> None:
    from test_html_report import FIGURE, make_result

    from bot.backtest.html_report import write_html_report

    path = tmp_path / "backtest.html"
    write_html_report(make_result(), path)
    load_and_wait_drawn(browser, path.as_uri())
    assert console_errors(browser) == []
    marks = browser.execute_script(DRAWN_MARKS)
    figures = FIGURE.findall(path.read_text())
    assert sorted(marks) == sorted(figures) and all(marks[f] > 0 for f in figures), marks
    assert browser.execute_script("return document.querySelectorAll('img[src=x]').length") == 0
    assert "<img src=x onerror=alert(1)>" in browser.find_element("css selector", "table.trades").text


def test_a_refresh_that_fails_says_why(tiny_run: Path, tmp_path: Path, browser) -> None:
    """The page said "the API answered 503" and nothing of the reason the
    server gave (here a risk state the run cannot read)."""
    from helpers import wait_until
    from test_serve import served_copy

    run = served_copy(tiny_run, tmp_path)
    with sqlite3.connect(run / "bot.sqlite") as conn:
        conn.execute("UPDATE run_meta SET value = '{oops' WHERE key = 'risk_state'")
    with bot_serving(run) as base:
        browser.get(base + "/")
        shown = wait_until(lambda: (text := browser.find_element("id", "refresh").text).startswith("refresh failed")
                           and text, timeout_s=60, what="the page to report the failed refresh")
    assert shown.startswith("refresh failed (the API answered 503: storage.db_url: the run's risk state "
                            "(run_meta.risk_state) cannot be read"), shown
