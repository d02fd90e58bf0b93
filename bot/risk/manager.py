"""Between the strategy and the broker: sizes orders and guards positions.

Rules for now: a position never exceeds `max_position_fraction` of equity
when it is opened, and every entry gets a resting stop `stop_loss_pct`
below its fill price. Orders get deterministic ids (symbol, bar, intent),
so the same replay produces the same ids and a resubmission is detectable.
"""

from __future__ import annotations

from bot.config import RiskConfig
from bot.domain import Bar, Fill, Order, OrderKind, Side, Signal
from bot.ledger import Ledger


class RiskManager:
    def __init__(self, config: RiskConfig) -> None:
        self.config = config

    def order_for(self, signal: Signal, bar: Bar, ledger: Ledger, now_ms: int) -> Order | None:
        """The market order that moves the position toward the signal, if any."""
        if signal.target is None:
            return None
        held = ledger.position(bar.symbol).qty
        if signal.target > 0 and held == 0.0:
            budget = signal.target * self.config.max_position_fraction * ledger.snapshot(now_ms).equity
            qty = budget / bar.close
            return self._market(bar, Side.BUY, qty, now_ms, "entry") if qty > 0 else None
        if signal.target == 0 and held > 0.0:
            return self._market(bar, Side.SELL, held, now_ms, "exit")
        return None

    def stop_for(self, entry: Fill) -> Order:
        """The resting stop that protects a freshly filled entry."""
        return Order(
            id=f"{entry.symbol}:{entry.ts}:stop",
            symbol=entry.symbol,
            side=Side.SELL,
            kind=OrderKind.STOP,
            qty=entry.qty,
            created_ts=entry.ts,
            reason="stop_loss",
            stop_price=entry.price * (1 - self.config.stop_loss_pct),
        )

    @staticmethod
    def _market(bar: Bar, side: Side, qty: float, now_ms: int, intent: str) -> Order:
        return Order(
            id=f"{bar.symbol}:{bar.ts}:{intent}",
            symbol=bar.symbol,
            side=side,
            kind=OrderKind.MARKET,
            qty=qty,
            created_ts=now_ms,
            reason=intent,
        )
