"""The ports: every edge the core talks to, declared once, as Protocols.
The live daemon, the replay and the backtest plug different adapters into
the same ports (system or simulated clock, ccxt or CSV bars, exchange or
paper broker); the core imports nothing else from outside itself."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from bot.book_view import BookChanges, BookView
from bot.domain import Bar, Fill, Order
from bot.model.dataset import SymbolSeries
from bot.step_record import StepRecord

if TYPE_CHECKING:  # the predictor module declares its Model through this one
    from bot.model.predictor import Predictor


class Clock(Protocol):
    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch, UTC."""


class SettableClock(Clock, Protocol):
    def advance_to(self, when_ms: int) -> None:
        """Move to `when_ms`; never back."""


class MarketData(Protocol):
    def fetch_closed(self, symbol: str, since_ts: int | None, now_ms: int) -> list[Bar]:
        """Closed bars opened after since_ts, oldest first."""

    def fetch_range(self, symbol: str, start_ms: int, end_ms: int, now_ms: int) -> list[Bar]:
        """Closed bars with start_ms <= open < end_ms."""


class ReplaySource(MarketData, Protocol):
    """Market data that ends: stored bars replayed on a simulated clock."""

    def first_ts(self) -> int | None: ...

    def last_ts(self) -> int | None: ...

    def bar_count(self) -> int: ...


class Model(Protocol):
    """A trained network or tabular model; `bot.model.factory.load_model`
    reads one back from the directory `save` wrote."""

    def score(self, x: np.ndarray) -> np.ndarray:
        """(batch, seq_len, features) scaled float32 -> P(label) or a log return."""

    def save(self, directory: Path) -> None:
        """Write the model's files into `directory` (the registry saves each version)."""


class Broker(Protocol):
    """Where orders go: the paper broker fills them itself, the exchange
    broker sends them after the step committed. The engine calls only this."""

    def view(self, symbols: Iterable[str]) -> BookView:
        """A frozen copy of the working orders, for the risk manager."""

    def submit(self, order: Order) -> None: ...

    def adopt(self, order: Order) -> None:
        """An open order read back from the database on restart."""

    def cancel(self, order_id: str, ts: int) -> Order | None:
        """The order, if it was working (an exchange's closes once the exchange says so)."""

    def resize(self, order_id: str, remaining: float) -> None: ...

    def move_stop(self, order_id: str, stop_price: float) -> None: ...

    def observe(self, bar: Bar, volatility: float | None) -> None:
        """A bar closed, with the market's recent per-bar volatility: a
        simulated venue prices the orders decided now from it."""

    def fill_market_orders(self, bar: Bar, cash: float) -> list[Fill]:
        """Fills of this symbol's due market orders at the bar's open; `cash` bounds a buy."""

    def trigger_protective(self, bar: Bar) -> list[Fill]:
        """The resting stops and take-profits this bar reached."""

    def reasons(self) -> dict[str, str]:
        """Why each order known to the book was made, by id, closed ones included."""

    def drain(self) -> BookChanges:
        """Everything the book went through since the last call."""

    def send_decided(self, now_ms: int) -> bool:
        """After the step committed: send its orders, ask after those sent.
        True when that may have produced fills or changes to book."""

    def collect_fills(self) -> dict[str, list[Fill]]:
        """Fills that arrived outside a bar step, by symbol, not yet booked."""


class StepStore(Protocol):
    def commit_step(self, rec: StepRecord) -> None:
        """Write everything one step changed in one transaction."""


class TrainingData(Protocol):
    """What the retrain job reads of the running engine: its rolling
    feature history, never the engine itself."""

    def bars_seen(self) -> int: ...

    def training_series(self, newest: int | None) -> list[SymbolSeries]:
        """Each symbol's newest rows past warm-up (all of them for None)."""


class ChampionSeat(Protocol):
    """Where the scoring model sits: the retrain job reads the champion to
    judge a challenger against it and seats the winner."""

    predictor: Predictor | None

    def set_predictor(self, predictor: Predictor) -> None: ...
