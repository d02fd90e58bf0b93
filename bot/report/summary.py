"""The run summary behind `bot report` and the end of `bot run`."""

from __future__ import annotations

from bot.config import Config
from bot.report.buy_and_hold import equal_weight_growth
from bot.report.metrics import exposure, max_drawdown, probabilistic_sharpe_ratio, round_trips, sharpe_ratio, win_rate
from bot.report.run_frames import RunFrames
from bot.report.verdict import verdict
from bot.store import Store
from bot.timeframes import bars_per_year, iso_utc


def build_summary(store: Store, config: Config, frames: RunFrames | None = None) -> dict:
    """`frames`: the run's tables when the caller has read them already."""
    frames = frames if frames is not None else RunFrames(store)
    equity, fills, predictions = frames.equity, frames.fills, frames.predictions
    # Judge the strategy from its first prediction on: the observed-only
    # training slice has flat equity and would flatter the volatility.
    start = frames.first_prediction_ts
    traded = equity[equity.ts >= start] if start is not None else equity
    curve = traded.equity.to_numpy()
    trips = round_trips(fills)
    initial = config.paper.initial_cash
    # No equity row while fills or predictions exist: the table was emptied
    # (a hand-edited or damaged database). Its figures are unknown, not
    # those of an untouched account.
    unknown = not len(equity) and bool(len(fills) or len(predictions))
    final = float(equity.equity.iloc[-1]) if len(equity) else (None if unknown else initial)
    summary = {
        "bars": store.bar_count(),
        "predictions": len(predictions),
        "fills": len(fills),
        "trades": sum(t.exit_ts is not None for t in trips),
        "open_trades": sum(t.exit_ts is None for t in trips),
        "initial_equity": initial,
        "final_equity": round(final, 2) if final is not None else None,
        "total_return": final / initial - 1 if final is not None else None,
        "sharpe": sharpe_ratio(curve, bars_per_year(config.timeframe)),
        "max_drawdown": max_drawdown(curve),
        "win_rate": win_rate(trips),
        "fees_paid": float(equity.fees_paid.iloc[-1]) if len(equity) else (None if unknown else 0.0),
        "exposure": exposure(traded.position_value) if len(traded) else (None if unknown else 0.0),
        "psr": probabilistic_sharpe_ratio(curve) if len(curve) else None,
        **_buy_and_hold(frames, config, start),
        "decisions": _decisions(store),
        "model_versions": store.model_version_count(),
        "traded_from": iso_utc(start) if start is not None else None,
        "traded_to": iso_utc(int(equity.ts.iloc[-1])) if len(equity) else None,
    }
    summary["verdict"] = verdict(summary, _halt_reason(store))
    return summary


def _halt_reason(store: Store) -> str | None:
    from bot.risk.state import RiskState

    state = RiskState.from_json(store.get_meta("risk_state"))
    return state.halt_reason if state.halted else None


def _buy_and_hold(frames: RunFrames, config: Config, start: int | None) -> dict:
    """Equal-weight buy and hold of the symbols over the traded period:
    return, Sharpe and max drawdown, before costs."""
    empty = {"buy_and_hold_return": None, "buy_and_hold_sharpe": None, "buy_and_hold_max_drawdown": None}
    if start is None:
        return empty
    curve = equal_weight_growth(frames.bars, start).to_numpy()
    if len(curve) < 2:
        return empty
    return {
        "buy_and_hold_return": float(curve[-1] - 1),
        "buy_and_hold_sharpe": sharpe_ratio(curve, bars_per_year(config.timeframe)),
        "buy_and_hold_max_drawdown": max_drawdown(curve),
    }


def _decisions(store: Store) -> dict[str, int]:
    """How many bars ended in each decision: enter, exit, hold, abstain, blocked."""
    counts: dict[str, int] = {}
    for decision, _reason, n in store.decision_counts():
        counts[decision] = counts.get(decision, 0) + n
    return counts
