"""The benchmark beside a run: its capital split equally among the
symbols at the start of the traded period, each share buying its symbol
at that symbol's first close from then on and held (before costs). A
symbol whose data begins later holds its share in cash until then; one
whose data ended early is held at its last close.

Started where every symbol had a bar, the benchmark of a run whose second
symbol joined a month late was measured over that last month only (+2.6%
against the +25% its first symbol made over the traded period), and the
verdict compared the run with it."""

from __future__ import annotations

import pandas as pd


def equal_weight_growth(bars: pd.DataFrame, start: int) -> pd.Series:
    """Growth of one unit of capital (1.0 at `start`) by bar open time,
    from `start` on: the mean over the symbols of each one's close over
    its first close at or after `start` (1.0 before it)."""
    closes = bars.pivot(index="ts", columns="symbol", values="close").sort_index().ffill()
    closes = closes[closes.index >= start]
    if closes.empty:
        return pd.Series(dtype=float)
    first = closes.bfill().iloc[0]
    return (closes / first).fillna(1.0).mean(axis=1)
