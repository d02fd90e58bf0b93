"""The series behind the charts of a run (the dashboard of `bot serve` and
`bot report --html`): equity against buy and hold, drawdown, exposure,
rolling Sharpe, monthly returns, prices with entries, exits and stops, and
the model's P(up) against the outcomes it was scored on.

Plain lists of numbers, ready for JSON. Long runs are thinned to at most
`MAX_POINTS` points a series for the page; every figure a reader compares
(return, drawdown, trades) comes from the full data in the run summary."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from bot.report.buy_and_hold import equal_weight_growth
from bot.report.calibration_bins import calibration_bins
from bot.report.metrics import max_drawdown

MAX_POINTS = 2_000
ROLLING_SCORE_WINDOW = 500  # the live score's window (bot/model/live_score.py)
ROLLING_SCORE_EVERY = 24


def thinned(n: int, limit: int = MAX_POINTS) -> np.ndarray:
    """Indices of at most `limit` evenly spaced rows of `n`, the last one kept."""
    if n <= limit:
        return np.arange(n)
    index = np.linspace(0, n - 1, limit).round().astype(int)
    return np.unique(index)


def finite(values) -> list[float | None]:
    """Floats for JSON: NaN and infinity become null."""
    return [float(v) if v is not None and math.isfinite(v) else None for v in values]


def equity_series(equity: pd.DataFrame, bars: pd.DataFrame, start: int | None, periods_per_year: float) -> dict:
    """Equity, drawdown, exposure and rolling Sharpe at each bar close, with
    an equal-weight buy and hold of the symbols scaled to the equity at the
    first traded bar (`start`)."""
    if not len(equity):
        return {"ts": [], "equity": [], "drawdown": [], "buy_and_hold": [], "exposure": [], "rolling_sharpe": []}
    values = equity.equity.to_numpy(dtype=float)
    drawdown = 1 - values / np.maximum.accumulate(values)
    exposure = np.abs(equity.position_value.to_numpy(dtype=float)) / values
    index = thinned(len(equity))
    return {
        "ts": equity.ts.to_numpy()[index].tolist(),
        "equity": finite(values[index]),
        "drawdown": finite(drawdown[index]),
        "buy_and_hold": finite(buy_and_hold_curve(equity, bars, start)[index]),
        "exposure": finite(exposure[index]),
        "rolling_sharpe": finite(_rolling_sharpe(values, periods_per_year)[index]),
        "max_drawdown": max_drawdown(values),
    }


def buy_and_hold_curve(equity: pd.DataFrame, bars: pd.DataFrame, start: int | None) -> np.ndarray:
    """NaN before `start`; after it, the equity at `start` held in equal
    weights of the symbols' closes."""
    out = np.full(len(equity), np.nan)
    if start is None or not len(bars):
        return out
    curve = equal_weight_growth(bars, start)
    if not len(curve):
        return out
    at_start = equity.equity[equity.ts >= start]
    base = float(at_start.iloc[0]) if len(at_start) else float(equity.equity.iloc[0])
    aligned = curve.reindex(equity.ts.to_numpy()).to_numpy(dtype=float)
    return np.where(equity.ts.to_numpy() >= start, aligned * base, np.nan)


def _rolling_sharpe(values: np.ndarray, periods_per_year: float) -> np.ndarray:
    """Annualised Sharpe of the per-bar returns over the last 30 days of bars."""
    window = max(3, int(round(periods_per_year * 30 / 365)))
    returns = pd.Series(values).pct_change()
    rolling = returns.rolling(window, min_periods=window)
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe = rolling.mean() / rolling.std(ddof=1) * math.sqrt(periods_per_year)
    return sharpe.to_numpy(dtype=float)


def monthly_returns(equity: pd.DataFrame) -> list[dict]:
    """The return of each calendar month (UTC): its last equity over the
    last equity of the month before (the first month: over its first)."""
    if len(equity) < 2:
        return []
    series = pd.Series(equity.equity.to_numpy(dtype=float), index=pd.to_datetime(equity.ts, unit="ms", utc=True))
    month_end = series.resample("ME").last().dropna()
    previous = month_end.shift(1)
    previous.iloc[0] = series.iloc[0]
    returns = month_end / previous - 1
    return [{"year": t.year, "month": t.month, "return": float(r)} for t, r in returns.items()]


def price_series(bars: pd.DataFrame, orders: pd.DataFrame, trades: list, symbol: str) -> dict:
    """A symbol's closes, its trades' entries and exits, and the levels at
    which its stops and take-profits rested (a segment each, broken by null)."""
    mine = bars[bars.symbol == symbol]
    index = thinned(len(mine))
    last_ts = int(mine.ts.iloc[-1]) if len(mine) else 0
    entries = [t for t in trades if t.symbol == symbol]
    exits = [t for t in entries if t.exit_ts is not None]
    return {
        "symbol": symbol,
        "ts": mine.ts.to_numpy()[index].tolist(),
        "close": finite(mine.close.to_numpy(dtype=float)[index]),
        "entries": {"ts": [t.entry_ts for t in entries], "price": [t.entry_price for t in entries]},
        "exits": {
            "ts": [t.exit_ts for t in exits],
            "price": [t.exit_price for t in exits],
            "reason": [t.exit_reason or "" for t in exits],
        },
        "stops": _resting_levels(orders, symbol, "stop", "stop_price", last_ts),
        "take_profits": _resting_levels(orders, symbol, "limit", "limit_price", last_ts),
    }


def _resting_levels(orders: pd.DataFrame, symbol: str, kind: str, price: str, last_ts: int) -> dict:
    ts: list[int | None] = []
    level: list[float | None] = []
    if len(orders):
        rows = orders[(orders.symbol == symbol) & (orders.kind == kind) & orders[price].notna()]
        for created, closed, value in zip(rows.created_ts, rows.closed_ts, rows[price], strict=True):
            end = int(closed) if pd.notna(closed) else last_ts
            ts += [int(created), end, None]
            level += [float(value), float(value), None]
    return {"ts": ts, "price": level}


def prediction_outcomes(predictions: pd.DataFrame, bars: pd.DataFrame, target) -> pd.DataFrame:
    """Each prediction with the outcome of its target (1, 0, or NaN while
    unresolved), settled bar by bar as the live score settles them."""
    from bot.model.targets import OutcomeTracker

    tracker = OutcomeTracker(target)
    by_bar: dict[tuple[str, int], list] = {}
    for row in predictions.itertuples(index=False):
        by_bar.setdefault((row.symbol, int(row.ts)), []).append(row)
    label: dict[tuple[str, int, str], int] = {}
    for bar in bars.itertuples(index=False):
        for r in tracker.settle(bar.symbol, int(bar.ts), bar.open, bar.high, bar.low, bar.close):
            label[(r.symbol, r.ts, r.version)] = r.label
        for row in by_bar.get((bar.symbol, int(bar.ts)), []):
            tracker.expect(row.symbol, int(row.ts), row.model_version, float(row.prob_up), float(bar.close))
    out = predictions[["symbol", "ts", "model_version", "prob_up"]].copy()
    keys = zip(out.symbol, out.ts.astype(int), out.model_version, strict=True)
    out["outcome"] = [label.get(k, np.nan) for k in keys]
    return out


def model_series(scored: pd.DataFrame) -> dict:
    """P(up) over time against outcomes, calibration bins, and the rolling
    accuracy and AUC of each version over its newest scored predictions."""
    from bot.model.metrics import auc_or_none

    index = thinned(len(scored))
    sample = scored.iloc[index]
    rolling = []
    for version, rows in scored.dropna(subset=["outcome"]).groupby("model_version", sort=False):
        prob, outcome, ts = rows.prob_up.to_numpy(float), rows.outcome.to_numpy(float), rows.ts.to_numpy()
        points = range(min(ROLLING_SCORE_EVERY, len(rows)) - 1, len(rows), ROLLING_SCORE_EVERY)
        series = {"version": version, "ts": [], "accuracy": [], "auc": []}
        for end in points:
            window = slice(max(0, end + 1 - ROLLING_SCORE_WINDOW), end + 1)
            series["ts"].append(int(ts[end]))
            series["accuracy"].append(float(np.mean((prob[window] > 0.5) == (outcome[window] > 0.5))))
            series["auc"].append(auc_or_none(prob[window], outcome[window]))
        rolling.append(series)
    return {
        "ts": sample.ts.astype(int).tolist(),
        "prob_up": finite(sample.prob_up.to_numpy(float)),
        "outcome": finite(sample.outcome.to_numpy(float)),
        "calibration": [
            {"predicted": p, "observed": o, "count": n}
            for p, o, n in calibration_bins(scored.prob_up.to_numpy(float), scored.outcome.to_numpy(float))
        ],
        "rolling": rolling,
    }


def exit_reasons(trades: list) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in trades:
        if t.exit_ts is not None:
            counts[t.exit_reason or "unknown"] = counts.get(t.exit_reason or "unknown", 0) + 1
    return counts
