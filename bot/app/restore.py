"""Rebuilding the in-memory state of a run from its database, so a second
`bot run` (or a restart after a crash) continues exactly where the last
committed bar step left off."""

from __future__ import annotations

from bot.engine import Engine
from bot.ledger import Ledger
from bot.market.screening import BarScreen
from bot.ports import Broker
from bot.store import Store


def restore_ledger(store: Store, initial_cash: float, allow_short: bool) -> Ledger:
    equity = store.latest_equity()
    if equity is None:
        return Ledger(cash=initial_cash, allow_short=allow_short)
    ledger = Ledger(cash=equity.cash, fees_paid=equity.fees_paid, allow_short=allow_short)
    for state in store.latest_positions():
        ledger.positions[state.symbol] = state.position()
    return ledger


def restore_open_orders(store: Store, broker: Broker) -> None:
    for order in store.open_orders():
        broker.adopt(order)


def restore_features(store: Store, engine: Engine, screen: BarScreen, symbols: list[str]) -> int:
    """Feed every stored bar through the feature state (and the screen's
    volatility memory); returns the count. All of them, not a tail:
    EMA-based features depend on where they began, and a restarted run must
    compute the very same numbers."""
    count = 0
    for symbol in symbols:
        for bar in store.iter_bars(symbol):
            engine.warm_up(bar)
            screen.observe(bar)
            count += 1
    return count


def restore_live_score(store: Store, engine: Engine) -> None:
    """Predictions still waiting for their outcome wait again, having seen
    the bars since (so a barrier or the horizon counts from where it was);
    each version's rolling window of scored predictions is reloaded."""
    from bot.model.live_score import EVERY, WINDOW

    live = engine.live_score
    for symbol in engine.features:
        waiting = store.open_predictions(symbol, engine.target.lookahead_bars + 1)
        for row in waiting:
            close = store.bar_close(row.symbol, row.ts)
            if close is not None:
                live.expect(row.symbol, row.ts, row.model_version, row.prob_up, close)
        if waiting:
            for bar in store.bars_after(symbol, waiting[0].ts):
                # These bars were stepped and resolved none of them; replayed
                # here they only advance the bar counts and entry prices.
                live.tracker.settle(symbol, bar.ts, bar.open, bar.high, bar.low, bar.close)
    for version in store.predicted_versions():
        pairs = store.scored_predictions(version, WINDOW)
        for prob, outcome in pairs:
            live.add(version, prob, outcome)
        live.since_update[version] = store.scored_count(version) % EVERY
