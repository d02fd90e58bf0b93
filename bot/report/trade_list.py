"""The trade list: each round trip (bot/report/metrics.py) with what a
trader reads off it: long or short, size, volume-weighted entry and exit
prices, fees, PnL and its return on the entry value, bars held, and why it
was entered and why it ended (the reasons of the orders behind its first
and last fills: `entry`, `stop_loss`, `take_profit`, `exit`,
`kill_switch`, `operator_flatten`...)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from bot.report.metrics import round_trips


@dataclass(frozen=True)
class Trade:
    symbol: str
    direction: str  # long | short
    entry_ts: int
    exit_ts: int | None  # None while open
    qty: float  # the size opened
    entry_price: float
    exit_price: float | None
    fees: float
    pnl: float  # realized, fees included
    return_pct: float  # pnl / entry value
    bars_held: int | None
    entry_reason: str
    exit_reason: str | None
    # An open trade marked to its symbol's newest close: `pnl` is only what
    # it has realized (its entry fee), which made a trade up 40% read -0.1%.
    # open_pnl is what closing at the mark would realize, before the exit fee.
    mark_price: float | None = None
    open_pnl: float | None = None
    open_return_pct: float | None = None


def marks_of(positions) -> dict[str, float]:
    """Each symbol's newest close, as the newest stored positions hold it."""
    return {p.symbol: p.mark for p in positions}


def trade_list(
    fills: pd.DataFrame, orders: pd.DataFrame, timeframe_ms: int, marks: Mapping[str, float] | None = None
) -> list[Trade]:
    """The round trips of `fills`; an open one is marked to its symbol's
    price in `marks` (the newest close) where there is one."""
    fills = fills[fills.qty != 0] if len(fills) else fills  # a fill of nothing (a damaged row) trades nothing
    if not len(fills):
        return []
    by_id = fills.set_index("id")
    reason = dict(zip(orders["id"], orders["reason"], strict=True)) if len(orders) else {}
    return [
        _trade(trip, by_id.loc[list(trip.fill_ids)], reason, timeframe_ms, (marks or {}).get(trip.symbol))
        for trip in round_trips(fills)
    ]


def _trade(trip, rows: pd.DataFrame, reason: dict[str, str], timeframe_ms: int, mark: float | None) -> Trade:
    direction = "long" if rows.side.iloc[0] == "buy" else "short"
    opening_side = rows.side.iloc[0]
    position = opened = opened_value = closed = closed_value = fees = 0.0
    for i, (side, qty, price, fee) in enumerate(rows[["side", "qty", "price", "fee"]].itertuples(index=False)):
        if side == opening_side:
            part = abs(trip.opened_by) if i == 0 and trip.opened_by else qty
            opened, opened_value, position = opened + part, opened_value + part * price, position + part
        else:  # a fill that flips through zero closes only what was open
            part = min(qty, position)
            closed, closed_value, position = closed + part, closed_value + part * price, position - part
        fees += fee * part / qty  # a flipping fill's fee is shared by the trips it ends and opens
    entry_price = opened_value / opened
    exit_ts = trip.exit_ts
    sign = 1.0 if direction == "long" else -1.0
    open_pnl = trip.pnl + sign * position * (mark - entry_price) if exit_ts is None and mark is not None else None
    return Trade(
        symbol=trip.symbol,
        direction=direction,
        entry_ts=trip.entry_ts,
        exit_ts=exit_ts,
        qty=opened,
        entry_price=entry_price,
        exit_price=closed_value / closed if closed else None,
        fees=fees,
        pnl=trip.pnl,
        return_pct=trip.pnl / opened_value,
        bars_held=(exit_ts - trip.entry_ts) // timeframe_ms if exit_ts is not None else None,
        entry_reason=reason.get(rows.order_id.iloc[0], ""),
        exit_reason=reason.get(rows.order_id.iloc[-1]) if exit_ts is not None else None,
        mark_price=mark if open_pnl is not None else None,
        open_pnl=open_pnl,
        open_return_pct=open_pnl / opened_value if open_pnl is not None else None,
    )
