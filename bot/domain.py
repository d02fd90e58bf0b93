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
    STOP = "stop"  # rests until a bar trades at or below stop_price


class OrderStatus(str, Enum):
    OPEN = "open"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"


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
    """What the strategy wants: a target exposure in [0, 1] of the risk
    budget, or None to keep whatever is held."""

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
    status: OrderStatus = OrderStatus.OPEN
    closed_ts: int | None = None


@dataclass(frozen=True, slots=True)
class Fill:
    order_id: str
    symbol: str
    side: Side
    qty: float
    price: float
    fee: float
    ts: int


@dataclass(frozen=True, slots=True)
class Prediction:
    symbol: str
    ts: int
    model_version: str
    prob_up: float


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
