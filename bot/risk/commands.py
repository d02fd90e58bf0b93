"""What the risk manager asks of the broker. It decides; the engine
applies every command, in the order given, in one place (`Engine._apply`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.domain import Event, Order


@dataclass(frozen=True)
class Submit:
    order: Order


@dataclass(frozen=True)
class Cancel:
    order_id: str
    ts: int


@dataclass(frozen=True)
class Resize:
    """Make a resting order cover `remaining` more (its position changed)."""

    order_id: str
    remaining: float


@dataclass(frozen=True)
class MoveStop:
    order_id: str
    stop_price: float


Command = Submit | Cancel | Resize | MoveStop


@dataclass
class Decision:
    commands: list[Command] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    blocked: str | None = None  # "rule: why" when a wanted entry was refused
    pending: bool = False  # nothing decided: an earlier market order has not filled yet

    @property
    def orders(self) -> list[Order]:
        """The new orders among the commands."""
        return [c.order for c in self.commands if isinstance(c, Submit)]

    def submit(self, orders: list[Order]) -> None:
        self.commands.extend(Submit(o) for o in orders)
