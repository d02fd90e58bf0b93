"""`bot explain`: bar by bar, what the model said (P(up), the expected
edge), what the strategy made of it and why, and what the risk manager and
the broker did with that: the orders placed at the bar's step, the fills
it booked and the events it raised. So a person can see why the bot did,
or did not, trade.

A step runs at a bar's close plus the bar delay; its orders carry that
clock time, and the fills it books carry either that time or, for a stop
or take-profit hit inside the bar, the bar's own open time. Both map back
to the bar the step decided on."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from bot.config import Config
from bot.price_text import price_text
from bot.store import Store
from bot.timeframes import grid_floor, grid_offset


@dataclass(frozen=True)
class BarExplanation:
    ts: int
    symbol: str
    prob_up: float
    expected_edge: float | None
    decision: str
    reason: str
    orders: list[str] = field(default_factory=list)
    fills: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)


def explain(
    store: Store, cfg: Config, symbol: str | None, start: int | None, end: int | None, limit: int
) -> list[BarExplanation]:
    """The newest `limit` predicted bars in [start, end], oldest first."""
    predictions = _between(store.predictions_frame(), start, end)
    if symbol is not None:
        predictions = predictions[predictions.symbol == symbol]
    predictions = predictions.tail(limit)
    step_bar = _step_bar(cfg)
    orders = _by_bar(store.orders_frame(), "created_ts", step_bar)
    fills = _by_bar(store.fills_frame(), "ts", step_bar)
    events = _by_bar(store.events_frame(), "ts", step_bar)
    return [
        BarExplanation(
            ts=int(p.ts),
            symbol=p.symbol,
            prob_up=float(p.prob_up),
            expected_edge=None if pd.isna(p.expected_edge) else float(p.expected_edge),
            decision=p.decision,
            reason=p.reason,
            orders=[_order(o) for o in orders.get((p.symbol, int(p.ts)), [])],
            fills=[_fill(f) for f in fills.get((p.symbol, int(p.ts)), [])],
            events=[
                f"{e.kind}: {e.message}"
                for key in ((p.symbol, int(p.ts)), (None, int(p.ts)))
                for e in events.get(key, [])
            ],
        )
        for p in predictions.itertuples(index=False)
    ]


def _between(frame: pd.DataFrame, start: int | None, end: int | None) -> pd.DataFrame:
    if start is not None:
        frame = frame[frame.ts >= start]
    if end is not None:
        frame = frame[frame.ts <= end]
    return frame


def _step_bar(cfg: Config):
    tf, delay = cfg.timeframe_ms, round(cfg.schedule.bar_delay_seconds * 1000)

    def bar_of(ts: int) -> int:
        """The bar a step at clock time `ts` decided on; a bar's own open time stays."""
        return ts if grid_offset(ts, tf) == 0 else grid_floor(ts - delay, tf) - tf

    return bar_of


def _by_bar(frame: pd.DataFrame, column: str, bar_of) -> dict[tuple[str | None, int], list]:
    grouped: dict[tuple[str | None, int], list] = {}
    for row in frame.itertuples(index=False):
        grouped.setdefault((row.symbol, bar_of(int(getattr(row, column)))), []).append(row)
    return grouped


def _order(o) -> str:
    price = o.stop_price if o.kind == "stop" else o.limit_price if o.kind == "limit" else None
    at = f" @ {price_text(price)}" if price is not None and not pd.isna(price) else ""
    return f"{o.side} {o.qty:.6f} {o.kind}{at} ({o.reason}), {o.status}"


def _fill(f) -> str:
    verb = "bought" if f.side == "buy" else "sold"
    return f"{verb} {f.qty:.6f} @ {price_text(f.price)}, fee {f.fee:.2f}"
