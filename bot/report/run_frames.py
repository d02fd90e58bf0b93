"""The tables a run's summary and its page are drawn from, read once.

A live bot writes while its page is built; reading each table once and
handing the frames around means every figure on one page comes from the
same rows (and a page does not read the bars table three times)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from bot.store import Store


@dataclass(frozen=True)
class RunFrames:
    equity: pd.DataFrame
    fills: pd.DataFrame  # in booking order
    predictions: pd.DataFrame
    bars: pd.DataFrame

    @classmethod
    def read(cls, store: Store) -> RunFrames:
        return cls(store.equity_frame(), store.fills_frame(), store.predictions_frame(), store.bars_frame())

    @property
    def first_prediction_ts(self) -> int | None:
        """The first bar the strategy was asked about: where trading starts."""
        return int(self.predictions.ts.min()) if len(self.predictions) else None
