"""Trading metrics from an equity curve and a list of fills."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd


def sharpe_ratio(equity: np.ndarray, periods_per_year: float) -> float | None:
    """Annualised Sharpe of per-bar simple returns, risk-free rate 0."""
    if len(equity) < 3:
        return None
    returns = np.diff(equity) / equity[:-1]
    std = returns.std(ddof=1)
    if std == 0 or not math.isfinite(std):
        return None
    return float(returns.mean() / std * math.sqrt(periods_per_year))


def max_drawdown(equity: np.ndarray) -> float:
    """Largest fall from a running peak, as a positive fraction."""
    if len(equity) == 0:
        return 0.0
    peaks = np.maximum.accumulate(equity)
    return float(np.max(1.0 - equity / peaks))


@dataclass(frozen=True)
class RoundTrip:
    symbol: str
    entry_ts: int
    exit_ts: int | None  # None while still open
    pnl: float  # realized, fees included


def round_trips(fills: pd.DataFrame) -> list[RoundTrip]:
    """A round trip starts when a position opens from flat and ends when it
    is flat again; its PnL is the realized PnL of its fills."""
    trips = []
    for symbol, group in fills.sort_values(["ts", "id"]).groupby("symbol", sort=True):
        qty, pnl, entry = 0.0, 0.0, None
        for side, size, realized, ts in group[["side", "qty", "realized_pnl", "ts"]].itertuples(index=False):
            if qty == 0.0:
                entry, pnl = ts, 0.0
            qty += size if side == "buy" else -size
            pnl += realized
            if qty <= 1e-12:
                trips.append(RoundTrip(symbol, entry, ts, pnl))
                qty = 0.0
        if qty > 0.0:
            trips.append(RoundTrip(symbol, entry, None, pnl))
    return trips


def win_rate(trips: list[RoundTrip]) -> float | None:
    closed = [t for t in trips if t.exit_ts is not None]
    return sum(t.pnl > 0 for t in closed) / len(closed) if closed else None
