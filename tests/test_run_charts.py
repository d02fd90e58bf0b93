"""The series behind the dashboard and `bot report --html`: outcomes
settled as the live score settles them, buy and hold from the first traded
bar, monthly returns that compound to the total."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from helpers import REPO

from bot.config import load_config
from bot.model.targets import Target
from bot.report import run_charts
from bot.report.summary import _buy_and_hold
from bot.store import Store


def test_the_outcomes_are_the_live_scores_own(tiny_run: Path) -> None:
    """The rolling accuracy and AUC drawn per version end where the daemon's
    live score last stored them: the same outcomes, the same windows."""
    cfg = load_config(tiny_run / "config.yaml")
    store = Store(cfg.db_url)
    try:
        scored = run_charts.prediction_outcomes(store.predictions_frame(), store.bars_frame(), Target.of(cfg))
        versions = {v.version: v for v in store.model_versions()}
    finally:
        store.close()
    rolling = run_charts.model_series(scored)["rolling"]
    checked = 0
    for series in rolling:
        stored = versions[series["version"]]
        if stored.live_accuracy is None:
            continue
        assert series["accuracy"][-1] == pytest.approx(stored.live_accuracy)
        assert series["auc"][-1] == pytest.approx(stored.live_auc)
        checked += 1
    assert checked >= 2
    # Outcomes are known only once the target's horizon has passed.
    assert scored.outcome.isna().sum() >= 1 and set(scored.outcome.dropna()) <= {0.0, 1.0}


def test_buy_and_hold_starts_at_the_equity_of_the_first_traded_bar() -> None:
    ts = np.arange(6) * 3_600_000
    equity = pd.DataFrame({"ts": ts, "equity": [100.0, 100, 100, 104, 103, 110]})
    bars = pd.DataFrame({"ts": ts, "symbol": "X", "close": [50.0, 60, 40, 44, 48, 20]})
    curve = run_charts.buy_and_hold_curve(equity, bars, start=int(ts[2]))
    assert np.isnan(curve[:2]).all()
    assert curve[2:] == pytest.approx([100.0, 110, 120, 50])


def test_a_symbol_whose_data_begins_later_holds_its_share_in_cash_until_then() -> None:
    """The benchmark used to start where every symbol had a bar: a month
    after the run's start when its second symbol joined late, so the
    summary's verdict set the run against another period."""
    ts = np.arange(5) * 3_600_000
    bars = pd.DataFrame({
        "ts": [*ts, *ts[3:]],
        "symbol": ["A"] * 5 + ["B"] * 2,
        "close": [100.0, 110, 120, 130, 140, 50, 100],
    })
    equity = pd.DataFrame({"ts": ts, "equity": [1000.0] * 5})
    growth = [1.0, 1.05, 1.10, (1.3 + 1) / 2, (1.4 + 2) / 2]  # B bought at 50, its first close
    assert run_charts.buy_and_hold_curve(equity, bars, start=0) == pytest.approx([1000 * g for g in growth])
    frames = SimpleNamespace(bars=bars)
    figures = _buy_and_hold(frames, load_config(REPO / "config.yaml"), start=0)  # type: ignore[arg-type]
    assert figures["buy_and_hold_return"] == pytest.approx(growth[-1] - 1)


def test_monthly_returns_compound_to_the_total() -> None:
    ts = pd.date_range("2024-01-15", "2024-04-20", freq="D", tz="UTC")
    values = 100 * np.cumprod(1 + np.random.default_rng(3).normal(0, 0.01, len(ts)))
    equity = pd.DataFrame({"ts": ts.as_unit("ms").asi8, "equity": values})
    months = run_charts.monthly_returns(equity)
    assert [(m["year"], m["month"]) for m in months] == [(2024, 1), (2024, 2), (2024, 3), (2024, 4)]
    total = np.prod([1 + m["return"] for m in months]) - 1
    assert total == pytest.approx(values[-1] / values[0] - 1)


def test_long_series_are_thinned_with_their_last_point() -> None:
    index = run_charts.thinned(100_000)
    assert len(index) <= run_charts.MAX_POINTS and index[0] == 0 and index[-1] == 99_999
    assert (np.diff(index) > 0).all()
    assert list(run_charts.thinned(5)) == [0, 1, 2, 3, 4]
