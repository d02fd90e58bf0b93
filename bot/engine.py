"""The decision core: what happens to one closed bar. The live daemon, the
replay daemon and the backtest all drive this same object; only the edges
(clock, market data, broker) differ.

One step, for the bars of all symbols that closed at the same time:
  1. the broker fills orders resting from the previous step: market orders
     at this bar's open, then stops and take-profits this bar reached; the
     risk manager protects fresh positions and unprotects flat ones;
  2. features advance by one bar; the ledger marks positions at the close;
  3. the risk manager checks the account (daily loss, drawdown kill switch);
     the champion model scores the newest window of each symbol past warm-up:
     P(label), the expected edge, a volatility forecast and the regime;
  4. the strategy weighs the edge against the round-trip cost and returns a
     signal, the risk manager sizes it into an order, which rests with the
     broker until the next bar; the prediction is recorded with what came of
     it (enter, exit, hold, abstain, blocked) and why;
  5. everything the step changed is committed in one transaction and logged;
  6. an exchange-backed broker then sends the step's orders (written ahead,
     so a crash cannot lose or repeat one) and the fills it reports are
     booked in a second transaction amending the step.
Nothing here reads the wall clock or a future bar.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import structlog

from bot.book_view import BookView
from bot.domain import PRICE_LEVEL_CHANGED, Bar, Event, Fill, Order, OrderKind, Prediction, Signal
from bot.error_text import first_line
from bot.features import FEATURE_NAMES, FeatureState
from bot.features.history import FeatureHistory
from bot.ledger import Ledger
from bot.logging_setup import log_event
from bot.model.dataset import SymbolSeries
from bot.model.live_score import LiveScore
from bot.model.predictor import Predictor
from bot.model.targets import Target
from bot.ports import Broker, Clock, StepStore
from bot.risk import RiskManager
from bot.risk.commands import Cancel, Command, Decision, MoveStop, Resize, Submit
from bot.risk.state import SavedState
from bot.step_record import StepNotCommitted, StepRecord
from bot.strategy import Strategy, StrategyContext
from bot.strategy.guard import StrategyGuard
from bot.timeframes import iso_utc

log = structlog.get_logger("bot.engine")

BAR_COLUMNS = ["ts", "open", "high", "low", "close", "volume"]
VOLATILITY_COLUMN = FEATURE_NAMES.index("volatility_24")


class Engine:
    def __init__(
        self,
        *,
        symbols: Sequence[str],
        store: StepStore,
        broker: Broker,
        risk: RiskManager,
        strategy: Strategy,
        ledger: Ledger,
        clock: Clock,
        seq_len: int,
        warmup_bars: int,
        history_bars: int,
        timeframe_ms: int,
        target: Target = Target(),
        bar_lines: bool = True,
    ) -> None:
        """`bar_lines`: a log line per bar (live); a replay writes its bars
        to the database anyway, and only events go to its log."""
        self.store = store
        self.bar_lines = bar_lines
        self.broker = broker
        self.risk = risk
        self.strategy = strategy
        self.guard = StrategyGuard(strategy)  # its bugs cost one bar, never the daemon
        self.ledger = ledger
        self.clock = clock
        self.seq_len = seq_len
        self.warmup_bars = warmup_bars
        self.timeframe_ms = timeframe_ms  # a bar's position, for the regime filter
        self.symbols = list(symbols)
        self.features = {s: FeatureState() for s in symbols}
        self.history = {s: FeatureHistory(history_bars + warmup_bars) for s in symbols}
        self.last_ts: dict[str, int] = {}
        self.last_step_ts: int | None = None  # the newest committed step (restart: set by restore)
        self.predictor: Predictor | None = None
        # An operator's flatten (request number, origin), carried out in the
        # next step so that it commits with that step, or not at all.
        self.flatten_request: tuple[int, str] | None = None
        # Where committed events go besides the database: the notifier's
        # queue (bot/app/notify.py), which never blocks.
        self.event_sink: Callable[[Event], None] = lambda event: None
        # ...and the fills a commit booked, where someone wants them.
        self.fill_sink: Callable[[Fill], None] | None = None
        self.target = target
        self.live_score = LiveScore(target)
        self.saved_risk_state = SavedState()
        # The newest bars per symbol, for a strategy's own indicators.
        lookback = strategy.indicator_lookback
        self.recent_bars: dict[str, deque[tuple[int, float, float, float, float, float]]] = (
            {s: deque(maxlen=lookback) for s in symbols} if lookback else {}
        )
        # Retraining (a worker thread in live mode) copies the history while
        # the bar job appends to it.
        self.history_lock = threading.Lock()

    # -- state shared with the retrain job --------------------------------

    def set_predictor(self, predictor: Predictor) -> None:
        """Swap the champion; a single reference assignment, so atomic."""
        self.predictor = predictor

    def bars_seen(self) -> int:
        return max(state.bars_seen for state in self.features.values())

    def training_series(self, newest: int | None) -> list[SymbolSeries]:
        """Each symbol's newest rows past warm-up (all of them for None).
        A symbol whose data began later may have none yet: it is left out,
        and scored through the pooled scaler until a model trains on it."""
        with self.history_lock:
            return [
                SymbolSeries(*h.arrays(newest if newest is not None else h.total, self.warmup_bars), symbol=symbol)
                for symbol, h in self.history.items()
                if h.total > self.warmup_bars
            ]

    def warm_up(self, bar: Bar) -> None:
        """Advance features with a stored bar on restart, without trading."""
        self._advance_features(bar)

    # -- one bar step -----------------------------------------------------

    def step(self, bars: Sequence[Bar], events: Sequence[Event] = ()) -> StepRecord:
        """Process the validated bars of one bar time, one per symbol;
        `events` about these bars are committed with them.

        A fault before the commit is StepNotCommitted, as the commit's own
        is: memory (features, ledger, orders) may have moved part of the way,
        and a firing that tried the same bar again on it failed at every
        later firing with nothing but a log line (a price of 1e308 did)."""
        try:
            rec = self._step_in_memory(bars, events)
        except StepNotCommitted:
            raise
        except Exception as exc:
            raise StepNotCommitted(
                f"the bar step of {iso_utc(bars[0].ts)} failed before it was committed: {first_line(exc)}"
            ) from exc
        self._commit_step(rec)
        return rec

    def _step_in_memory(self, bars: Sequence[Bar], events: Sequence[Event]) -> StepRecord:
        now = self.clock.now_ms()
        rec = StepRecord(ts=bars[0].ts, bars=list(bars), events=list(events))
        self._halt_on_a_level_change(events, rec)
        self.risk.new_day_start(rec.ts, self.ledger.equity)
        for bar in bars:
            self._execute_resting_orders(bar, rec)
        ready = []
        for bar in bars:
            self._score_last_prediction(bar, rec)
            self._advance_features(bar)
            self.ledger.mark(bar.symbol, bar.close)
            self.broker.observe(bar, self._volatility(bar.symbol))
            if self._has_window(bar.symbol):
                ready.append(bar.symbol)
        rec.live_metrics.extend(self.live_score.due_metrics())
        self._apply(self.risk.check_account(rec.ts, self.ledger, self._book(), now), rec)
        self._flatten_if_asked(rec, now)
        version, readings = self._predict(ready)
        for bar in bars:
            self._decide(bar, version, readings.get(bar.symbol), rec, now)
            self._apply(self.risk.end_of_bar(bar, self.ledger, self._book()), rec)
        self._close_step(rec, bars)
        return rec

    def _halt_on_a_level_change(self, events: Sequence[Event], rec: StepRecord) -> None:
        """A position open across a new price level is marked at it: a real
        crash or jump, or a feed that switched units booking the change as
        profit (+4.3 million on 10,000 on real ETH data at 1,000 times its
        price from one bar on). Its stop and exits work as ever; entries
        halt until an operator has looked (`bot resume`)."""
        for e in events:
            if e.kind != PRICE_LEVEL_CHANGED or e.symbol is None or not self.ledger.position(e.symbol).qty:
                continue
            reason = f"the price of {e.symbol} moved to a new level with a position open; check the data"
            halted = self.risk.halt_entries(rec.ts, reason)
            rec.events.extend([halted] if halted else [])

    def _flatten_if_asked(self, rec: StepRecord, now: int) -> None:
        if self.flatten_request is None:
            return
        (requested, origin), self.flatten_request = self.flatten_request, None
        event = self.risk.follow_flatten_requests(requested, rec.ts, origin)
        if event is not None:
            rec.events.append(event)
            self._apply(self.risk.flatten_all(self.ledger, self._book(), rec.ts, now), rec)

    def _execute_resting_orders(self, bar: Bar, rec: StepRecord) -> None:
        """Market orders at the open, then the protective orders this bar
        reached, including those of a position opened at this very open."""
        fills = self.broker.fill_market_orders(bar, self.ledger.cash)
        self._settle(bar.symbol, fills, rec)
        self._settle(bar.symbol, self.broker.trigger_protective(bar), rec)

    def _settle(self, symbol: str, fills: list[Fill], rec: StepRecord) -> None:
        if not fills:
            return
        for fill in fills:
            rec.fills.append((fill, self.ledger.apply(fill)))
        reasons = self.broker.reasons()  # why each order was made: stop-outs start a cooldown
        self._apply(self.risk.after_fills(symbol, fills, reasons, self.ledger, self._book()), rec)

    def _book(self) -> BookView:
        return self.broker.view(self.symbols)

    def _apply(self, decision: Decision, rec: StepRecord) -> None:
        """The one place the risk manager's commands reach the broker."""
        for command in decision.commands:
            self._execute(command)
            if isinstance(command, Submit):
                rec.new_orders.append(command.order)
        rec.events.extend(decision.events)

    def _execute(self, command: Command) -> None:
        match command:
            case Submit(order):
                self.broker.submit(order)
            case Cancel(order_id, ts):
                self.broker.cancel(order_id, ts)
            case Resize(order_id, remaining):
                self.broker.resize(order_id, remaining)
            case MoveStop(order_id, stop_price):
                self.broker.move_stop(order_id, stop_price)

    def _score_last_prediction(self, bar: Bar, rec: StepRecord) -> None:
        resolved = self.live_score.settle(bar)
        rec.outcomes.extend((r.symbol, r.ts, r.label, r.realized) for r in resolved)

    def _advance_features(self, bar: Bar) -> None:
        if self.recent_bars:
            self.recent_bars[bar.symbol].append((bar.ts, bar.open, bar.high, bar.low, bar.close, bar.volume))
        vector = self.features[bar.symbol].update(bar.close, bar.volume)
        self.last_ts[bar.symbol] = bar.ts
        if vector is not None:
            with self.history_lock:
                self.history[bar.symbol].append(bar.ts, (bar.open, bar.high, bar.low, bar.close), vector)

    def _volatility(self, symbol: str) -> float | None:
        """The newest recent per-bar volatility (None before warm-up ends)."""
        vectors = self.history[symbol].vectors  # once defined, a vector exists for every bar
        return float(vectors[-1][VOLATILITY_COLUMN]) if vectors else None

    def _has_window(self, symbol: str) -> bool:
        # Only windows made entirely of post-warm-up vectors are scored.
        return self.predictor is not None and self.history[symbol].total >= self.warmup_bars + self.seq_len

    def _predict(self, symbols: list[str]) -> tuple[str | None, dict[str, Reading]]:
        """The scoring model's version, and what it reads for each symbol."""
        predictor = self.predictor  # one read: a swap mid-step cannot mix models
        if not symbols or predictor is None:
            return None, {}
        windows = np.stack([self.history[s].window(predictor.seq_len) for s in symbols])
        scored = predictor.score(windows, symbols)
        returns = scored.predicted_return.tolist() if scored.predicted_return is not None else [None] * len(symbols)
        closes = [self.history[s].recent_closes(predictor.companion_lookback) for s in symbols]
        positions = [self.last_ts[s] // self.timeframe_ms for s in symbols]
        volatilities = predictor.volatility_forecasts(closes)
        regimes = predictor.turbulences(symbols, closes, positions)
        # As lists of Python floats at once: indexing an array per symbol
        # made a numpy scalar each time, then a float of it.
        prob, edge, error = scored.prob.tolist(), scored.edge.tolist(), scored.edge_error.tolist()
        columns = zip(symbols, prob, edge, error, returns, volatilities, regimes, strict=True)
        return predictor.version, {symbol: Reading(*row) for symbol, *row in columns}

    def _decide(self, bar: Bar, version: str | None, reading: Reading | None, rec: StepRecord, now: int) -> None:
        position = self.ledger.position(bar.symbol)
        vectors = self.history[bar.symbol].vectors  # once defined, a vector exists for every bar
        features = dict(zip(FEATURE_NAMES, vectors[-1], strict=True)) if vectors else None
        volatility = features["volatility_24"] if features else None
        ctx = StrategyContext(
            bar.symbol,
            bar,
            reading.prob if reading else None,
            position.qty,
            features,
            self._indicators(bar.symbol),
            expected_edge=reading.edge if reading else None,
            edge_error=reading.edge_error if reading else 0.0,
            round_trip_cost=self.risk.round_trip_cost(volatility),
            volatility_forecast=reading.volatility if reading else None,
            regime=reading.regime if reading else None,
            bars_held=self.risk.bars_held(bar.symbol, bar.ts) if position.qty else 0,
            horizon_bars=self.target.horizon_bars,
        )
        signal, problems = self.guard.decide(ctx)
        rec.events.extend(problems)
        if self.guard.failing:
            halted = self.risk.halt_entries(
                bar.ts, f"strategy {self.guard.name} failed {self.guard.failures_in_a_row} bars in a row"
            )
            rec.events.extend([halted] if halted else [])
        outcome = self.risk.orders_for(
            signal, bar, self.ledger, self._book(), now, volatility, reading.volatility if reading else None
        )
        self._apply(outcome, rec)
        if reading is not None:
            assert version is not None  # a reading comes from a scoring model, with its version
            decision, reason = _decision(signal, outcome, position.qty)
            rec.predictions.append(
                Prediction(
                    bar.symbol,
                    bar.ts,
                    version,
                    reading.prob,
                    reading.predicted_return,
                    reading.edge,
                    reading.volatility,
                    reading.regime,
                    decision,
                    reason,
                )
            )
            self.live_score.expect(bar.symbol, bar.ts, version, reading.prob, bar.close)

    def _indicators(self, symbol: str) -> dict[str, float] | None:
        """The strategy's own indicators on its newest bars, newest row."""
        if not self.recent_bars:
            return None
        frame = pd.DataFrame(list(self.recent_bars[symbol]), columns=BAR_COLUMNS)
        computed = self.strategy.indicators(frame)
        return None if computed is None or computed.empty else computed.iloc[-1].to_dict()

    def _close_step(self, rec: StepRecord, bars: Sequence[Bar]) -> None:
        self._follow_trading_state()
        changes = self.broker.drain()
        rec.closed_orders, rec.changed_orders = changes.closed, changes.changed
        rec.positions = [self._position_row(bar.symbol) for bar in bars]
        rec.events.extend(changes.events)
        # A symbol whose bar came late steps after the others have stepped
        # that time or later: the equity of that time is stored already (a
        # snapshot now would hold their later marks), so none is written.
        late = self.last_step_ts is not None and rec.ts <= self.last_step_ts
        rec.equity = None if late else self.ledger.snapshot(rec.ts)
        rec.risk_state = self.saved_risk_state.json(self.risk.state)

    def _commit_step(self, rec: StepRecord) -> None:
        self._commit(rec)
        self.last_step_ts = rec.ts if self.last_step_ts is None else max(self.last_step_ts, rec.ts)
        self._log(rec)
        if self.broker.send_decided(self.clock.now_ms()):
            self.book_late_fills()

    def _commit(self, rec: StepRecord) -> None:
        try:
            self.store.commit_step(rec)
        except Exception as exc:
            reason = first_line(exc)
            raise StepNotCommitted(f"the bar step of {iso_utc(rec.ts)} could not be committed: {reason}") from exc
        for event in rec.events:
            self.event_sink(event)
        if self.fill_sink is not None:
            for fill, _ in rec.fills:
                self.fill_sink(fill)

    def _follow_trading_state(self) -> None:
        """A log line when what the bot may do changes. At INFO: the change
        has its own warning event already (kill switch, daily limit, venue
        block), and a replay's console showed both, this one as a raw
        key=value line beside the event's."""
        changed = self.risk.follow_trading_state(self._book())
        if changed:
            was, now, reason = changed
            log.info("trading_state", message=f"trading {was} -> {now.value}: {reason}", was=was, now=now.value)

    def _position_row(self, symbol: str) -> tuple:
        """The position as saved with a step, with the stop guarding it."""
        stops = self._book().orders(symbol, OrderKind.STOP)
        return self.ledger.position(symbol), stops[0].stop_price if stops else None

    def book_late_fills(self) -> None:
        """Fills and order changes a broker learnt of outside a bar step (an
        exchange's, after sending or reconciling), committed as an amendment
        of the newest step. Nothing to do for the paper broker."""
        fills = self.broker.collect_fills()
        before = self.broker.drain()  # what sending and asking after orders did
        rec = StepRecord(ts=self.last_step_ts or 0, events=before.events, amends=True)
        for symbol, symbol_fills in fills.items():
            self._settle(symbol, symbol_fills, rec)
        self._follow_trading_state()
        after = self.broker.drain()  # the risk manager may have cancelled or resized
        rec.events.extend(after.events)
        rec.closed_orders = before.closed + after.closed
        rec.changed_orders = _still_open(before.changed + after.changed)
        if not (rec.fills or rec.events or rec.closed_orders or rec.changed_orders or rec.new_orders):
            return
        if self.last_step_ts is not None:  # else no step to amend yet: orders and events only
            rec.positions = [self._position_row(symbol) for symbol in self.features]
            rec.equity = self.ledger.snapshot(rec.ts)
        rec.risk_state = self.saved_risk_state.json(self.risk.state)
        self._commit(rec)
        for fill, _ in rec.fills:
            log.info(
                "fill",
                symbol=fill.symbol,
                side=fill.side.value,
                qty=fill.qty,
                price=fill.price,
                fee=fill.fee,
                order_id=fill.order_id,
                trade_id=fill.trade_id,
            )
        for e in rec.events:
            log_event(log, e)

    def _log(self, rec: StepRecord) -> None:
        if not self.bar_lines:
            for e in rec.events:
                log_event(log, e)
            return
        probs = {p.symbol: p.prob_up for p in rec.predictions}
        actions = {o.symbol: f"{o.side.value} {o.reason}" for o in rec.new_orders if o.kind is OrderKind.MARKET}
        for bar in rec.bars:
            log.info(
                "bar",
                symbol=bar.symbol,
                bar_time=iso_utc(bar.ts),
                close=bar.close,
                prob_up=probs.get(bar.symbol),
                action=actions.get(bar.symbol, "none"),
                equity=round(rec.equity.equity if rec.equity else self.ledger.equity, 2),
            )
        for e in rec.events:
            log_event(log, e)


@dataclass(frozen=True, slots=True)
class Reading:
    """The champion's reading of one symbol at one bar."""

    prob: float
    edge: float
    edge_error: float
    predicted_return: float | None
    volatility: float | None
    regime: float | None


def _decision(signal: Signal, outcome: Decision, held: float) -> tuple[str, str]:
    """What came of the strategy's signal at this bar, and why, for the
    predictions table: the answer to "why did (or didn't) it trade?"."""
    intents = {o.reason for o in outcome.orders if o.kind is OrderKind.MARKET}
    if "entry" in intents:
        return "enter", signal.reason
    if "exit" in intents:
        return "exit", signal.reason
    if outcome.blocked:
        return "blocked", outcome.blocked
    if outcome.pending:
        return "pending", "an order from an earlier bar is still on its way"
    return ("hold" if held else "abstain"), signal.reason or "no reason given"


def _still_open(orders: list[Order]) -> list[Order]:
    """Each order once (the same order may have changed in both drains),
    and only if it is still open: a closed one is saved as closed."""
    return [o for o in {o.id: o for o in orders}.values() if o.status.is_open]
