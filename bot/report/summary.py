"""The run summary behind `bot report` and the end of `bot run`."""

from __future__ import annotations

import pandas as pd

from bot.config import Config
from bot.report.metrics import exposure, max_drawdown, round_trips, sharpe_ratio, win_rate
from bot.store import Store
from bot.store.tables import BarRow, EquityRow, FillRow, PredictionRow
from bot.timeframes import bars_per_year, iso_utc


def build_summary(store: Store, config: Config) -> dict:
    equity = store.frame(EquityRow)
    fills = store.frame(FillRow)
    predictions = store.frame(PredictionRow)
    # Judge the strategy from its first prediction on: the observed-only
    # training slice has flat equity and would flatter the volatility.
    start = int(predictions.ts.min()) if len(predictions) else None
    traded = equity[equity.ts >= start] if start is not None else equity
    curve = traded.equity.to_numpy()
    trips = round_trips(fills)
    initial = config.paper.initial_cash
    final = float(equity.equity.iloc[-1]) if len(equity) else initial
    return {
        "bars": store.count(BarRow),
        "predictions": len(predictions),
        "fills": len(fills),
        "trades": sum(t.exit_ts is not None for t in trips),
        "open_trades": sum(t.exit_ts is None for t in trips),
        "initial_equity": initial,
        "final_equity": round(final, 2),
        "total_return": final / initial - 1,
        "sharpe": sharpe_ratio(curve, bars_per_year(config.timeframe)),
        "max_drawdown": max_drawdown(curve),
        "win_rate": win_rate(trips),
        "fees_paid": float(equity.fees_paid.iloc[-1]) if len(equity) else 0.0,
        "exposure": exposure(traded.position_value) if len(traded) else 0.0,
        "buy_and_hold_return": _buy_and_hold(store, config, start),
        "model_versions": len(store.model_versions()),
        "traded_from": iso_utc(start) if start is not None else None,
        "traded_to": iso_utc(int(equity.ts.iloc[-1])) if len(equity) else None,
    }


def _buy_and_hold(store: Store, config: Config, start: int | None) -> float | None:
    """Equal-weight buy and hold of the symbols over the traded period."""
    if start is None:
        return None
    bars = store.frame(BarRow)
    bars = bars[bars.ts >= start]
    returns = [g.close.iloc[-1] / g.close.iloc[0] - 1 for _, g in bars.groupby("symbol") if len(g) > 1]
    return float(pd.Series(returns).mean()) if returns else None
