"""The tables a run's summary and its page are drawn from, read once.

A live bot writes while its page is built; reading each table once and
handing the frames around means every figure on one page comes from the
same rows (and a page does not read the bars table three times)."""

from __future__ import annotations

from functools import cached_property

import pandas as pd

from bot.store import Store


class RunFrames:
    def __init__(self, store: Store) -> None:
        self._store = store
        self.equity = store.equity_frame()
        self.fills = store.fills_frame()  # in booking order
        self.predictions = store.predictions_frame()

    @cached_property
    def bars(self) -> pd.DataFrame:
        """On first use: a run that never predicted (a replay with no
        model) ends without reading its whole bars table."""
        return self._store.bars_frame()

    @property
    def first_prediction_ts(self) -> int | None:
        """The first bar the strategy was asked about: where trading starts."""
        return int(self.predictions.ts.min()) if len(self.predictions) else None
