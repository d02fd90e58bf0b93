"""Trading metrics from an equity curve and a list of fills.

These are the project's own trading definitions, so each function states its
formula. Conventions: `equity` is account equity at each bar's close, the
returns are per-bar simple returns r_t = e_t / e_{t-1} - 1, the risk-free rate
is 0, and `periods_per_year` is the number of bars in a year (8,760 for 1h).
An undefined metric is None, never NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

_QTY_EPS = 1e-12  # below this a position is flat: float residue of sells
_QTY_REL_EPS = 1e-9  # a sell may exceed the holding by this fraction (spot dust)


def sharpe_ratio(equity: np.ndarray, periods_per_year: float) -> float | None:
    """Annualised Sharpe of per-bar simple returns, risk-free rate 0:
    mean(r) / std(r, ddof=1) * sqrt(periods_per_year); None with fewer than
    3 equity points or no variation."""
    if len(equity) < 3:
        return None
    returns = np.diff(equity) / equity[:-1]
    std = returns.std(ddof=1)
    if std == 0 or not math.isfinite(std):
        return None
    return float(returns.mean() / std * math.sqrt(periods_per_year))


def max_drawdown(equity: np.ndarray) -> float:
    """Largest fall from a running peak, as a positive fraction:
    max_t (1 - e_t / max_{s<=t} e_s); 0.0 for an empty curve."""
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
    # The ids of its fills, in booking order (bot/report/trade_list.py reads
    # prices, fees and reasons from them); not part of a trip's identity.
    fill_ids: tuple = field(default=(), compare=False)
    # A trip opened by a fill that flipped the position through zero: the
    # signed part of that fill that opened it (0: the first fill opened it whole).
    opened_by: float = field(default=0.0, compare=False)


def round_trips(fills: pd.DataFrame) -> list[RoundTrip]:
    """A round trip starts when a position opens from flat and ends when it
    is flat again; its PnL is the realized PnL of its fills.

    Positions are signed, so a short (a sell from flat) is a trip too and
    ends when bought back. A fill that flips the position through zero ends
    the trip and opens the next one at the same ts (the realized PnL of that
    fill, which comes from the closing part, stays with the closed trip). A
    remainder within float dust of zero (1e-12, or 1e-9 of the position,
    the overshoot the spot ledger clips) counts as flat.
    """
    trips = []
    for symbol, group in fills.sort_values(["ts", "id"]).groupby("symbol", sort=True):
        qty, pnl, entry, opened_by = 0.0, 0.0, None, 0.0
        ids: list[int] = []
        columns = group[["side", "qty", "realized_pnl", "ts", "id"]]
        for side, size, realized, ts, fill_id in columns.itertuples(index=False):
            if qty == 0.0:
                entry, pnl, opened_by = ts, 0.0, 0.0
                ids = []
            before = qty
            qty += size if side == "buy" else -size
            pnl += realized
            ids.append(fill_id)
            assert entry is not None  # set at the first fill: every symbol's fills start flat
            if abs(qty) <= _QTY_EPS + _QTY_REL_EPS * abs(before):
                trips.append(RoundTrip(symbol, entry, ts, pnl, tuple(ids), opened_by))
                qty = 0.0
            elif before != 0.0 and (qty > 0) != (before > 0):  # flipped through zero
                trips.append(RoundTrip(symbol, entry, ts, pnl, tuple(ids), opened_by))
                entry, pnl, ids, opened_by = ts, 0.0, [fill_id], qty
        if qty != 0.0:
            assert entry is not None  # a position left open had an entry
            trips.append(RoundTrip(symbol, entry, None, pnl, tuple(ids), opened_by))
    return trips


def win_rate(trips: list[RoundTrip]) -> float | None:
    """Share of closed trips with a positive PnL; None without closed trips."""
    closed = [t for t in trips if t.exit_ts is not None]
    return sum(t.pnl > 0 for t in closed) / len(closed) if closed else None


# -- further metrics of the walk-forward backtest ------------------------------


def _values(series: pd.Series | np.ndarray) -> np.ndarray:
    """A curve as a flat float array without NaN."""
    values = np.asarray(series, dtype=float).ravel()
    return values[~np.isnan(values)]


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def simple_returns(equity: pd.Series | np.ndarray) -> np.ndarray:
    """Per-bar simple returns r_t = e_t / e_{t-1} - 1 (n points give n - 1
    returns). NaN points are dropped first; a return from a zero equity is
    undefined and dropped too."""
    values = _values(equity)
    if len(values) < 2:
        return np.empty(0)
    with np.errstate(all="ignore"):
        returns = values[1:] / values[:-1] - 1.0
    return returns[np.isfinite(returns)]


def sortino_ratio(equity: pd.Series | np.ndarray, periods_per_year: float) -> float | None:
    """Annualised Sortino ratio, target return 0:

        mean(r) / sqrt(mean(min(r, 0)^2)) * sqrt(periods_per_year)

    The downside deviation averages over all n returns, not only the
    negative ones. None without returns or without a negative return."""
    returns = simple_returns(equity)
    if len(returns) == 0:
        return None
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    if downside == 0.0:
        return None
    return _finite(float(returns.mean()) / downside * math.sqrt(periods_per_year))


def cagr(equity: pd.Series | np.ndarray, periods_per_year: float, years: float | None = None) -> float | None:
    """Compound annual growth rate of a curve of n points (n - 1 bars):

        (last / first) ^ (1 / years) - 1,   years = (n - 1) / periods_per_year

    unless `years` gives the curve's calendar span (data with holes: a
    41-day hole in 125 days was annualised as 83 days). None with fewer than
    2 points, a first point <= 0, or a growth too large for a float (a
    short, steep curve annualised). A last point <= 0 is a total loss: -1.0."""
    values = _values(equity)
    if len(values) < 2 or values[0] <= 0:
        return None
    ratio = float(values[-1]) / float(values[0])
    if ratio <= 0:
        return -1.0
    span = years if years is not None and years > 0 else (len(values) - 1) / periods_per_year
    try:
        return _finite(math.exp(math.log(ratio) / span) - 1.0)
    except OverflowError:
        return None


def calmar(cagr: float | None, max_drawdown: float | None) -> float | None:
    """Calmar ratio: cagr / max_drawdown (the drawdown a positive fraction).
    None when either is None or the drawdown is 0."""
    if cagr is None or max_drawdown is None or max_drawdown == 0:
        return None
    return _finite(cagr / max_drawdown)


def profit_factor(trips: list[RoundTrip]) -> float | None:
    """Gross profit over gross loss of the closed round trips:

        sum(pnl of trips with pnl > 0) / |sum(pnl of trips with pnl < 0)|

    0.0 when there are losers but no winner; None without a losing trip
    (the ratio is unbounded, or there is nothing to compare). Open trips and
    zero-PnL trips do not count."""
    closed = [t.pnl for t in trips if t.exit_ts is not None]
    gains = sum(p for p in closed if p > 0)
    losses = -sum(p for p in closed if p < 0)
    if losses == 0:
        return None
    return _finite(gains / losses)


def exposure(position_value: pd.Series | np.ndarray) -> float:
    """Share of bars holding a position: count(position_value != 0) / bars,
    long or short alike (NaN counts as flat); 0.0 without bars."""
    values = np.asarray(position_value, dtype=float).ravel()
    if len(values) == 0:
        return 0.0
    return float(np.mean(np.nan_to_num(values, nan=0.0) != 0.0))


def turnover(fills: pd.DataFrame, equity: pd.Series | np.ndarray) -> float | None:
    """Traded notional relative to the account:

        sum(|qty| * price over all fills) / mean(equity)

    0.0 without fills; None when the mean equity is not positive or there
    is no equity curve."""
    values = _values(equity)
    if len(values) == 0 or values.mean() <= 0:
        return None
    if len(fills) == 0:
        return 0.0
    notional = float((fills["qty"].astype(float).abs() * fills["price"].astype(float)).sum())
    return _finite(notional / float(values.mean()))


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def probabilistic_sharpe_ratio(equity: pd.Series | np.ndarray, benchmark: float = 0.0) -> float | None:
    """Probabilistic Sharpe ratio (Bailey & Lopez de Prado, 2012): the
    probability that the true per-bar Sharpe exceeds `benchmark`, given the
    length, skewness and fat tails of the track record:

        PSR = Phi( (SR - SR*) * sqrt(n - 1) / sqrt(1 - g3 * SR + (g4 - 1) / 4 * SR^2) )

    on the per-bar (not annualised) simple returns r_1..r_n, where
        SR = mean(r) / std(r, ddof=1)                (as in sharpe_ratio)
        g3 = m3 / m2^1.5, g4 = m4 / m2^2             (skewness, kurtosis, non-excess)
        mk = mean((r - mean(r))^k)                   (population moments)
    and Phi is the standard normal CDF. SR* = `benchmark` is per bar too.
    None with fewer than 3 returns, no variation, or a degenerate
    denominator."""
    returns = simple_returns(equity)
    n = len(returns)
    if n < 3:
        return None
    mean = float(returns.mean())
    std = float(returns.std(ddof=1))
    if std == 0.0 or not math.isfinite(std):
        return None
    centred = returns - mean
    m2 = float(np.mean(centred**2))
    if m2 == 0.0:
        return None
    g3 = float(np.mean(centred**3)) / m2**1.5
    g4 = float(np.mean(centred**4)) / m2**2
    sr = mean / std
    variance = 1.0 - g3 * sr + (g4 - 1.0) / 4.0 * sr**2
    if not variance > 0.0:
        return None
    return _finite(_normal_cdf((sr - benchmark) * math.sqrt(n - 1) / math.sqrt(variance)))


YEAR_MS = 365 * 86_400_000  # as bars_per_year counts a year


def traded_span_ms(equity: pd.Series) -> int | None:
    """First to last point with a value of a curve indexed by bar open
    time (ms); None when it has none or another index."""
    points = equity.dropna()
    if len(points) < 1 or not pd.api.types.is_integer_dtype(points.index):
        return None
    return int(points.index[-1] - points.index[0])


def calendar_years(equity: pd.Series) -> float | None:
    """The span of a curve indexed by bar open time (ms) in years; None
    with fewer than two points with a value."""
    span = traded_span_ms(equity)
    return span / YEAR_MS if span else None


def trading_report(
    equity: pd.Series,
    position_value: pd.Series,
    fills: pd.DataFrame,
    periods_per_year: float,
    years: float | None = None,
) -> dict:
    """The trading metrics of one backtest variant, as plain JSON values
    (float, int or None; never NaN or a numpy type):

    total_return   last / first equity - 1
    cagr, sharpe, sortino, max_drawdown, calmar, psr   as defined above
    win_rate, profit_factor, trades   over the closed round trips of `fills`
    exposure       share of bars with a position (from `position_value`)
    turnover       traded notional / mean equity
    (`years`: the curve's calendar span, for the CAGR of data with holes)
    fees_paid      sum of the fills' fees
    final_equity   last equity

    NaN equity points are ignored; without equity the curve metrics are
    None (max_drawdown 0.0).
    """
    curve = _values(equity)
    first = float(curve[0]) if len(curve) else None
    last = float(curve[-1]) if len(curve) else None
    trips = round_trips(fills) if len(fills) else []
    growth = cagr(curve, periods_per_year, years)
    with np.errstate(all="ignore"):  # a curve through 0: None, not a warning
        drawdown = _finite(max_drawdown(curve))
        sharpe = sharpe_ratio(curve, periods_per_year)
    report: dict[str, Any] = {  # float, int (trades) or None
        "total_return": last / first - 1.0 if first is not None and last is not None and first > 0 else None,
        "cagr": growth,
        "sharpe": sharpe,
        "sortino": sortino_ratio(curve, periods_per_year),
        "max_drawdown": drawdown,
        "calmar": calmar(growth, drawdown),
        "win_rate": win_rate(trips),
        "profit_factor": profit_factor(trips),
        "trades": sum(t.exit_ts is not None for t in trips),
        "exposure": exposure(position_value),
        "turnover": turnover(fills, curve),
        "fees_paid": float(fills["fee"].astype(float).sum()) if len(fills) else 0.0,
        "psr": probabilistic_sharpe_ratio(curve),
        "final_equity": last,
    }
    return {key: int(value) if key == "trades" else _finite(value) for key, value in report.items()}
