"""Everything one bar step changed, handed from the engine to the store,
which writes it in one transaction or not at all."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.domain import Bar, Event, Fill, Order, Prediction
from bot.ledger import EquityPoint, Position


@dataclass
class StepRecord:
    """Everything one bar step changed; written together or not at all."""

    ts: int
    bars: list[Bar] = field(default_factory=list)
    predictions: list[Prediction] = field(default_factory=list)
    new_orders: list[Order] = field(default_factory=list)
    closed_orders: list[Order] = field(default_factory=list)
    changed_orders: list[Order] = field(default_factory=list)  # still open: partly filled or re-priced
    fills: list[tuple[Fill, float]] = field(default_factory=list)
    positions: list[tuple[Position, float | None]] = field(default_factory=list)
    equity: EquityPoint | None = None
    events: list[Event] = field(default_factory=list)
    # (symbol, prediction ts, label, realized return) of predictions resolved this step
    outcomes: list[tuple[str, int, int, float]] = field(default_factory=list)
    live_metrics: list[tuple[str, int, float, float | None]] = field(default_factory=list)  # version, n, acc, auc
    risk_state: str | None = None  # the risk manager's memory, as JSON
    # An amendment to the step at `ts`: fills an exchange reported after the
    # step committed. Its positions and equity replace the step's own.
    amends: bool = False


class StepNotCommitted(Exception):
    """A step's record could not be written. The engine has already moved
    its memory (features, ledger, orders) past that step, so it no longer
    matches the database: the daemon stops, and a restart resumes from the
    last committed step, asking the exchange again for the bars since."""
