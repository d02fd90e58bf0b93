"""Plain domain values that flow through one bar step. No I/O here.

Times are integer milliseconds since the Unix epoch, UTC; a bar's `ts` is
the time it opened (the exchanges' and the CSVs' convention).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Side(str, Enum):
    BUY = "buy"
    SELL = "sell"


class OrderKind(str, Enum):
    MARKET = "market"
    STOP = "stop"  # rests until a bar trades through stop_price, then fills as a market order
    LIMIT = "limit"  # rests until a bar trades at limit_price or better (take-profit)

    @property
    def protective(self) -> bool:
        """A stop or a take-profit: rests on a position, waiting for its price."""
        return self in (OrderKind.STOP, OrderKind.LIMIT)


class OrderStatus(str, Enum):
    NEW = "new"  # decided, not yet acknowledged by an exchange
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    # Sent, but no reply came and the exchange has not shown it yet: it may
    # fill at any moment, so it is asked after until the exchange answers.
    UNKNOWN = "unknown"

    @property
    def is_open(self) -> bool:
        return self in (OrderStatus.NEW, OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.UNKNOWN)


@dataclass(frozen=True, slots=True)
class Bar:
    symbol: str
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True, slots=True)
class Signal:
    """What the strategy wants: a target exposure in [-1, 1] of the risk
    budget (negative: short, where shorting is on), or None to keep
    whatever is held."""

    target: float | None
    reason: str = ""


@dataclass(slots=True)
class Order:
    id: str  # deterministic client id: the same replay gives the same ids
    symbol: str
    side: Side
    kind: OrderKind
    qty: float
    created_ts: int
    reason: str
    stop_price: float | None = None
    limit_price: float | None = None
    status: OrderStatus = OrderStatus.OPEN
    closed_ts: int | None = None
    filled_qty: float = 0.0
    # The paper venue's figures, set when it takes the order (fill_models.py)
    # and saved with it; an exchange's orders leave them unset.
    not_before_ts: int | None = None  # no fill from a bar that opened earlier (latency)
    slippage_bps: float | None = None  # from the volatility when the order was decided
    group: str | None = None  # protective orders of one position: one filling cancels the rest

    @property
    def remaining(self) -> float:
        return self.qty - self.filled_qty

    @property
    def resting_price(self) -> float | None:
        """The price a protective order waits for (None for a market order)."""
        return self.stop_price if self.kind is OrderKind.STOP else self.limit_price


@dataclass(frozen=True, slots=True)
class Fill:
    order_id: str
    symbol: str
    side: Side
    qty: float
    price: float
    fee: float
    ts: int
    trade_id: str | None = None  # the exchange's, for fills that came from one


@dataclass(frozen=True, slots=True)
class Prediction:
    """What the champion said at a bar, and what the strategy made of it."""

    symbol: str
    ts: int
    model_version: str
    prob_up: float  # P(the target's label is 1): the horizon's return is up, or the take-profit comes first
    predicted_return: float | None = None  # regression heads: the predicted log return
    expected_edge: float | None = None  # the target's expected return before costs
    volatility_forecast: float | None = None  # per-bar volatility expected over the horizon
    regime: float | None = None  # P(turbulent regime)
    decision: str = ""  # enter, exit, hold, abstain, blocked, pending
    reason: str = ""  # why, in words: every abstention has one


@dataclass(frozen=True, slots=True)
class Event:
    """Something a person reviewing the run should see: a rejected bar, a
    retrain, a stop-out. Written to the events table and the log."""

    ts: int
    kind: str
    message: str
    level: str = "info"
    symbol: str | None = None
    data: dict | None = None


# The kind of the bar check's event for a price taken at a new level (beyond
# tenfold the last accepted close, after a day of rejections): the engine
# halts entries on it when a position is open across the change.
PRICE_LEVEL_CHANGED = "price_level_changed"
