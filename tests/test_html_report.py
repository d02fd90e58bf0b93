"""Tests for the self-contained HTML backtest report, on a small synthetic result."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bot.backtest.html_report import drawdown_series, ordered_variants, write_html_report
from bot.backtest.result import BacktestResult, VariantRun
from bot.report.calibration_bins import calibration_bins

HOUR_MS = 3_600_000
START_MS = 1_672_531_200_000  # 2023-01-01T00:00:00Z
BARS = 300
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EVIL_NAME = '<b>thr & "co"</b>'
EVIL_CONFIG = "<script>alert('x')</script>"
EVIL_REASON = "<img src=x onerror=alert(1)>"
IMAGE = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
SCRIPT = re.compile(r"<script[^>]*>.*?</script>", re.S)
FIGURE = re.compile(r'<script type="application/json" class="figure" data-for="(figure-\d+)">')
FIGURE_BODY = re.compile(r'<script type="application/json" class="figure" data-for="figure-\d+">(.*?)</script>', re.S)


# -- a synthetic result ------------------------------------------------------------

def _equity(ts: np.ndarray, drift: float, seed: int) -> pd.Series:
    steps = np.random.default_rng(seed).normal(drift, 0.01, len(ts))
    return pd.Series(10_000 * np.exp(np.cumsum(steps)), index=ts)


def _fills(ts: np.ndarray, close: np.ndarray) -> pd.DataFrame:
    rows = []
    for n, i in enumerate(range(10, BARS - 10, 40)):
        side = "buy" if n % 2 == 0 else "sell"
        rows.append((n + 1, int(ts[i]), "BTC/USDT", side, 0.1, float(close[i]), 0.5, 0.0, n + 1))
    return pd.DataFrame(rows, columns=["id", "ts", "symbol", "side", "qty", "price", "fee",
                                       "realized_pnl", "order_id"])


def _predictions(ts: np.ndarray, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    prob = rng.uniform(0.3, 0.7, len(ts))
    outcome = (rng.uniform(size=len(ts)) < prob).astype(float)
    outcome[-1] = np.nan  # the last bar's outcome is not known yet
    return pd.DataFrame({"ts": ts, "symbol": "BTC/USDT", "prob_up": prob, "outcome": outcome,
                         "predicted_return": np.nan})


def _run(name: str, ts, close, seed: int, metrics: dict, fills=True, predictions=True) -> VariantRun:
    equity = _equity(ts, 0.0005, seed)
    empty_fills = pd.DataFrame(columns=["id", "ts", "symbol", "side", "qty", "price", "fee",
                                        "realized_pnl", "order_id"])
    empty_predictions = pd.DataFrame(columns=["ts", "symbol", "prob_up", "outcome", "predicted_return"])
    return VariantRun(name=name, equity=equity, position_value=equity * 0.5,
                      fills=_fills(ts, close) if fills else empty_fills,
                      predictions=_predictions(ts, seed) if predictions else empty_predictions,
                      metrics=metrics, orders=_orders() if fills else pd.DataFrame(columns=["id", "reason"]))


def _orders() -> pd.DataFrame:
    """The reasons of _fills' orders: buys enter, sells end with a hostile reason."""
    ids = range(1, 20)
    return pd.DataFrame({"id": list(ids), "reason": ["entry" if i % 2 else EVIL_REASON for i in ids]})


STRATEGY_METRICS = {"accuracy": 0.5126, "roc_auc": 0.53, "total_return": 0.1234, "cagr": 0.4,
                    "sharpe": 1.23456, "sortino": None, "max_drawdown": 0.0789, "calmar": 2.0,
                    "win_rate": 0.55, "profit_factor": float("nan"), "trades": 42,
                    "exposure": 0.5, "fees_paid": 1234.5, "psr": 0.9}


def make_result(predictions: bool = True, baselines: tuple[str, ...] = ("gru", "logistic", "buy_and_hold"),
                strategy_name: str = EVIL_NAME) -> BacktestResult:
    ts = START_MS + HOUR_MS * np.arange(BARS, dtype=np.int64)
    close = 20_000 * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.005, BARS)))
    prices = pd.DataFrame({"ts": ts, "symbol": "BTC/USDT", "open": close, "high": close * 1.01,
                           "low": close * 0.99, "close": close, "volume": 1.0})
    runs = {
        "logistic": _run("logistic", ts, close, 3, {"total_return": -0.05, "trades": 7},
                         predictions=predictions),
        "gru": _run("gru", ts, close, 5, {"total_return": 0.01, "trades": 3}, predictions=predictions),
        "buy_and_hold": _run("buy_and_hold", ts, close, 4, {"total_return": 0.0876, "trades": 1},
                             fills=False, predictions=False),
    }
    return BacktestResult(
        strategy=_run(strategy_name, ts, close, 2, STRATEGY_METRICS, predictions=predictions),
        baselines={name: runs[name] for name in baselines},  # deliberately not in report order
        prices=prices,
        config={"strategy": {"name": EVIL_CONFIG}, "seed": 7},
        data={"symbol": "BTC/USDT", "from": START_MS, "to": int(ts[-1]), "bars": BARS},
        wall_seconds=12.5,
    )


class _TableRows(HTMLParser):
    """Text of every <td>/<th> cell, row by row, of tables with class 'metrics'."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._in_table = self._in_cell = False

    def handle_starttag(self, tag, attrs):
        if tag == "table" and ("class", "metrics") in attrs:
            self._in_table = True
        elif self._in_table and tag == "tr":
            self.rows.append([])
        elif self._in_table and tag in ("td", "th"):
            self._in_cell = True
            self.rows[-1].append("")

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_table = False
        elif tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data):
        if self._in_cell:
            self.rows[-1][-1] += data


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("report") / "sub" / "backtest.html"
    write_html_report(make_result(), path)
    return path.read_text(encoding="utf-8")


def metrics_rows(text: str) -> dict[str, dict[str, str]]:
    parser = _TableRows()
    parser.feed(text)
    header, *body = parser.rows
    return {row[0]: dict(zip(header[1:], row[1:])) for row in body}


# -- the report ----------------------------------------------------------------------

def test_report_is_written_as_one_html_document(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "report.html"
    write_html_report(make_result(), path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert text.rstrip().endswith("</html>")


def outside_scripts(report: str) -> str:
    return SCRIPT.sub("", report)


def test_report_is_self_contained(report: str) -> None:
    lowered = report.lower()
    assert "<script src" not in lowered and "<link" not in lowered  # nothing fetched
    markup = outside_scripts(report).lower()
    assert "http://" not in markup and "https://" not in markup
    assert not re.search(r'src="(?!data:)', outside_scripts(report))
    # plotly's JavaScript and the drawing script, inlined once each, then the
    # figures: no "</script" inside any of them ends one early.
    assert lowered.count("<script>") == 2
    assert lowered.count("</script") == 2 + len(FIGURE.findall(report))


def test_report_draws_interactive_figures_from_escaped_json(report: str) -> None:
    """Equity, drawdown, price, exit reasons, monthly returns, rolling Sharpe
    and exposure, calibration: one plotly figure each, beside its <div>."""
    targets = FIGURE.findall(report)
    assert len(targets) == 7
    assert all(f'<div id="{target}"' in report for target in targets)
    for body in FIGURE_BODY.findall(report):
        assert "<" not in body and ">" not in body and "&" not in body  # JSON's own \u escapes
        json.loads(body)


def test_report_lists_the_round_trips_with_escaped_reasons(report: str) -> None:
    assert "<table class=\"trades\">" in report
    assert EVIL_REASON not in report and "&lt;img src=x onerror=alert(1)&gt;" in report
    assert "The newest 4 of 4 round trips" in report  # three closed, one still open


def test_report_inlines_valid_pngs(report: str) -> None:
    for encoded in IMAGE.findall(outside_scripts(report)):
        png = base64.b64decode(encoded, validate=True)
        assert png.startswith(PNG_MAGIC)
        assert png[-8:-4] == b"IEND"


def test_header_names_symbol_period_bars_and_wall_time(report: str) -> None:
    header = report[report.index("<header>"):report.index("</header>")]
    assert "BTC/USDT" in header
    assert "2023-01-01 to 2023-01-13" in header  # 300 hourly bars from midnight Jan 1st
    assert "300" in header
    assert "12.5 s" in header
    assert "walk-forward" in header.lower()


def test_metrics_table_has_variants_in_fixed_order_with_formatted_values(report: str) -> None:
    rows = metrics_rows(report)
    assert list(rows) == [f"strategy ({EVIL_NAME})", "buy_and_hold", "logistic", "gru"]
    strategy = rows[f"strategy ({EVIL_NAME})"]
    assert strategy["total return"] == "12.34%"
    assert strategy["max drawdown"] == "7.89%"
    assert strategy["win rate"] == "55.00%"
    assert strategy["exposure"] == "50.00%"
    assert strategy["accuracy"] == "0.513"
    assert strategy["Sharpe"] == "1.23"
    assert strategy["Sortino"] == "\u2013"  # None
    assert strategy["profit factor"] == "\u2013"  # NaN
    assert strategy["trades"] == "42"
    assert strategy["fees paid"] == "1,234.50"
    assert rows["buy_and_hold"]["total return"] == "8.76%"
    assert rows["logistic"]["total return"] == "-5.00%"
    assert rows["logistic"]["Sharpe"] == "\u2013"  # not in its metrics at all
    assert len(strategy) == 14


def test_strings_from_data_and_config_are_escaped(report: str) -> None:
    assert EVIL_NAME not in report
    assert "<b>thr" not in report
    assert "&lt;b&gt;thr &amp; &quot;co&quot;&lt;/b&gt;" in report
    assert EVIL_CONFIG not in report
    assert "&lt;script&gt;alert(" in report


def test_every_figure_is_closed(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    plt.close("all")
    write_html_report(make_result(), tmp_path / "r.html")
    assert plt.get_fignums() == []


def test_calibration_is_skipped_without_predictions(tmp_path: Path) -> None:
    path = tmp_path / "r.html"
    write_html_report(make_result(predictions=False, baselines=("buy_and_hold",)), path)
    text = path.read_text(encoding="utf-8")
    assert len(FIGURE.findall(text)) == 6
    assert "No variant has predictions" in text


# -- helpers -------------------------------------------------------------------------

def test_calibration_bins_by_hand() -> None:
    prob = ([0.05] * 20                   # bin 0: 20 predictions, 5 of them up
            + [0.35] * 19 + [0.36] * 5     # bin 3: 19 known outcomes -> too sparse
            + [0.72] * 10 + [0.78] * 15    # bin 7: 25 predictions, 18 up
            + [1.0] * 20                   # bin 9 holds 1.0: 20 predictions, all up
            + [np.nan] * 30)               # no probability: ignored
    outcome = ([1] * 5 + [0] * 15
               + [1] * 19 + [np.nan] * 5   # unknown outcomes do not count
               + [1] * 10 + [1] * 8 + [0] * 7
               + [1] * 20
               + [1] * 30)
    got = calibration_bins(np.array(prob), np.array(outcome, dtype=float))
    assert [count for _, _, count in got] == [20, 25, 20]
    expected = [(0.05, 5 / 20), ((10 * 0.72 + 15 * 0.78) / 25, 18 / 25), (1.0, 1.0)]
    for (mean, freq, _), (want_mean, want_freq) in zip(got, expected):
        assert mean == pytest.approx(want_mean, abs=1e-12)
        assert freq == pytest.approx(want_freq, abs=1e-12)


def test_calibration_bin_edges_and_min_count() -> None:
    prob = pd.Series([0.0, 0.1, 0.3, 0.7, 0.95, 1.0])
    outcome = pd.Series([0, 1, 1, 0, 1, 0])
    got = calibration_bins(prob, outcome, bins=10, min_count=1)
    assert got == [(0.0, 0.0, 1), (0.1, 1.0, 1), (0.3, 1.0, 1), (0.7, 0.0, 1),
                   (pytest.approx(0.975), 0.5, 2)]
    assert calibration_bins(prob, outcome, bins=2, min_count=3) == [
        (pytest.approx(0.4 / 3), 2 / 3, 3), (pytest.approx(2.65 / 3), 1 / 3, 3)]
    assert calibration_bins(prob, outcome, bins=10, min_count=2) == [(pytest.approx(0.975), 0.5, 2)]


def test_drawdown_series_is_percent_below_running_peak() -> None:
    equity = pd.Series([100.0, 110.0, 99.0, 120.0, 90.0], index=[1, 2, 3, 4, 5])
    got = drawdown_series(equity)
    assert list(got.index) == [1, 2, 3, 4, 5]
    assert got.to_numpy() == pytest.approx([0.0, 0.0, 10.0, 0.0, 25.0])


def test_unknown_baselines_follow_the_known_ones_by_name() -> None:
    result = make_result(baselines=("gru", "buy_and_hold"))
    for name in ("zeta", "alpha"):
        result.baselines[name] = result.baselines["gru"]
    order = [key for key, _ in ordered_variants(result)]
    assert order == ["strategy", "buy_and_hold", "gru", "alpha", "zeta"]
