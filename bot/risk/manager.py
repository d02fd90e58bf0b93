"""Between the strategy and the broker: sizes orders, protects positions,
and blocks or forces trades when a rule says so. Every block and every
forced action becomes an Event with its reason.

It decides and never acts: each call reads a frozen view of the working
orders (`BookView`) and returns a `Decision` of commands (submit, cancel,
resize, move a stop) or a denial with its reason; the engine applies the
commands. How orders fill (slippage, latency) is the broker's business.

Per bar step, in the engine's order:
  1. after_fills: a fresh position gets its stop (and take-profit); a flat
     one loses them; a stop-out starts the cooldown;
  2. check_account: the daily loss limit and the drawdown kill switch, on
     the equity at the close (the kill switch flattens everything and
     halts until `bot resume`);
  3. orders_for: the strategy's signal becomes exit and entry orders, or a
     block (halt, daily limit, cooldown, open positions, stale data,
     minimum notional);
  4. end_of_bar: trailing stops follow the bar's extreme; cooldowns count down.
Order ids are deterministic (symbol, bar, intent), so a replay produces the
same ids and a resubmission is detectable.
"""

from __future__ import annotations

from bot.book_view import BookView
from bot.config import PaperConfig, RiskConfig
from bot.domain import Bar, Event, Fill, Order, OrderKind, Side, Signal
from bot.ledger import Ledger
from bot.price_text import price_text
from bot.risk import costs
from bot.risk.commands import Cancel, Decision, MoveStop, Resize
from bot.risk.pending_entries import ENTRY, pending_entries
from bot.risk.sizing import entry_notional, volatility_scale
from bot.risk.state import RiskState, TradingState
from bot.timeframes import bars_per_year, timeframe_ms

DAY_MS = 86_400_000
BLOCK_RULE = {TradingState.HALTED: "halted", TradingState.DAY_BLOCKED: "daily_loss_limit"}  # as blocks name them
# The reasons of the orders that protect a position: the fill of one is an
# event of that kind.
PROTECTIVE_EXITS = ("stop_loss", "take_profit")


class RiskManager:
    def __init__(
        self,
        cfg: RiskConfig,
        paper: PaperConfig,
        timeframe: str,
        state: RiskState | None = None,
        default_max_bar_age_s: float | None = None,
    ) -> None:
        """`default_max_bar_age_s`: the age limit when risk.max_bar_age_seconds
        is unset (live mode sets one; a replay's clock is never late)."""
        self.cfg = cfg
        self.paper = paper
        self.tf_ms = timeframe_ms(timeframe)
        self.max_bar_age_s = cfg.max_bar_age_seconds if cfg.max_bar_age_seconds is not None else default_max_bar_age_s
        self.bars_per_year = bars_per_year(timeframe)
        self.state = state or RiskState()

    # -- 1. after fills ----------------------------------------------------

    def after_fills(
        self, symbol: str, fills: list[Fill], reasons: dict[str, str], ledger: Ledger, book: BookView
    ) -> Decision:
        out = Decision()
        if not fills:
            return out
        for fill in fills:
            reason = reasons.get(fill.order_id, "")
            if reason in PROTECTIVE_EXITS:
                out.events.append(
                    Event(
                        fill.ts,
                        reason,
                        f"{reason.replace('_', ' ')} filled at {price_text(fill.price, grouped=False)}",
                        symbol=symbol,
                        data={"order_id": fill.order_id, "price": fill.price, "qty": fill.qty},
                    )
                )
            if reason == "stop_loss" and self.cfg.cooldown_bars:
                # No entry on this bar's close nor on the next cooldown_bars.
                self.state.cooldown[symbol] = self.cfg.cooldown_bars + 1
        position = ledger.position(symbol)
        held = book.tradable(symbol, position.qty)
        protective = [o for o in book.orders(symbol) if o.kind.protective]
        last = fills[-1]
        closing_side = Side.SELL if held > 0 else Side.BUY
        if held == 0.0 or any(o.side is not closing_side for o in protective):
            # Flat, or flipped through zero: the old protection guards nothing.
            out.commands.extend(Cancel(order.id, last.ts) for order in protective)
            self.state.trail_ref.pop(symbol, None)
            protective = []
        if held == 0.0:
            self.state.entry_ts.pop(symbol, None)
        if held != 0.0 and not protective:
            out.submit(self._protect(symbol, held, position.avg_entry, last.ts))
            self.state.entry_ts[symbol] = last.ts
        # a partial fill changed the size to protect
        out.commands.extend(Resize(order.id, abs(held)) for order in protective)
        self._reduce_only_exits(symbol, held, book, last.ts, out)
        return out

    @staticmethod
    def _reduce_only_exits(symbol: str, qty: float, book: BookView, ts: int, out: Decision) -> None:
        """A resting exit never trades more than is held: a stop that got
        there first cancels it; a smaller position shrinks it."""
        for order in book.orders(symbol, OrderKind.MARKET):
            if order.reason not in ("exit", "kill_switch"):
                continue
            closes = (order.side is Side.SELL) == (qty > 0)
            if qty == 0.0 or not closes:
                out.commands.append(Cancel(order.id, ts))
            elif order.remaining > abs(qty):
                out.commands.append(Resize(order.id, abs(qty)))

    def _protect(self, symbol: str, qty: float, entry: float, ts: int) -> list[Order]:
        """A stop (and a take-profit) for the whole position, as one group."""
        long = qty > 0
        side = Side.SELL if long else Side.BUY
        # Numbered: fills of a catch-up after downtime all carry the time
        # the orders were made, so the time alone would repeat an id.
        self.state.protections += 1
        group = f"{symbol}:{ts}:{self.state.protections}"
        sign = 1 if long else -1
        stop_distance = self.cfg.trailing_stop_pct or self.cfg.stop_loss_pct
        if self.cfg.trailing_stop_pct and self.cfg.stop_loss_pct:
            stop_distance = min(self.cfg.trailing_stop_pct, self.cfg.stop_loss_pct)
        orders = [
            Order(
                f"{group}:stop",
                symbol,
                side,
                OrderKind.STOP,
                abs(qty),
                ts,
                "stop_loss",
                stop_price=entry * (1 - sign * stop_distance),
                group=group,
            )
        ]
        if self.cfg.take_profit_pct:
            orders.append(
                Order(
                    f"{group}:take_profit",
                    symbol,
                    side,
                    OrderKind.LIMIT,
                    abs(qty),
                    ts,
                    "take_profit",
                    limit_price=entry * (1 + sign * self.cfg.take_profit_pct),
                    group=group,
                )
            )
        self.state.trail_ref[symbol] = entry
        return orders

    # -- 2. account-level guards ---------------------------------------------

    def check_account(self, ts: int, ledger: Ledger, book: BookView, now_ms: int) -> Decision:
        out = Decision()
        equity = ledger.equity
        self._daily_limit(ts, equity, out)
        s = self.state
        s.peak_equity = equity if s.peak_equity is None else max(s.peak_equity, equity)
        limit = self.cfg.max_drawdown_pct
        if limit and not s.halted and equity <= s.peak_equity * (1 - limit):
            drawdown = 1 - equity / s.peak_equity
            s.halted, s.halt_reason = True, f"drawdown {drawdown:.1%} reached the {limit:.1%} limit"
            out.events.append(
                Event(
                    ts,
                    "kill_switch",
                    f"halted: {s.halt_reason}; flattening all positions",
                    level="error",
                    data={"equity": equity, "peak_equity": s.peak_equity},
                )
            )
            self._flatten(ledger, book, ts, now_ms, out)
        return out

    def _daily_limit(self, ts: int, equity: float, out: Decision) -> None:
        s, day = self.state, ts // DAY_MS
        limit = self.cfg.daily_loss_limit_pct
        if limit and s.day_start_equity and s.day_blocked != day and equity <= s.day_start_equity * (1 - limit):
            s.day_blocked = day
            out.events.append(
                Event(
                    ts,
                    "daily_loss_limit",
                    f"equity {equity:,.2f} is {1 - equity / s.day_start_equity:.1%} below the day's "
                    f"start; no new entries until the next UTC day",
                    level="warning",
                )
            )

    def new_day_start(self, ts: int, equity_before: float) -> None:
        """Called before a step: the first step of a UTC day records the
        equity the day started with (the close of the previous step)."""
        day = ts // DAY_MS
        # Only forward: a symbol's late bar of the day before (its step comes
        # after the other symbols stepped into the new day) starts no day.
        if self.state.day is None or day > self.state.day:
            self.state.day = day
            self.state.day_start_equity = equity_before

    def _flatten(
        self, ledger: Ledger, book: BookView, ts: int, now_ms: int, out: Decision, intent: str = "kill_switch"
    ) -> None:
        for symbol, pos in sorted(ledger.positions.items()):
            out.commands.extend(Cancel(pending.id, now_ms) for pending in book.orders(symbol, OrderKind.MARKET))
            # Below the venue's smallest amount (fee dust) a position is flat:
            # each flatten asked the exchange to sell it, and was refused.
            qty = book.tradable(symbol, pos.qty)
            if qty != 0.0:
                side = Side.SELL if qty > 0 else Side.BUY
                out.submit([self._market(symbol, ts, side, abs(qty), now_ms, intent)])

    def halt_entries(self, ts: int, reason: str) -> Event | None:
        """Halt new entries without flattening (a broken strategy, not a lost
        fortune); `bot resume` clears it like the kill switch's halt."""
        if self.state.halted:
            return None
        self.state.halted, self.state.halt_reason = True, reason
        return Event(ts, "entries_halted", f"halted: {reason}; open positions keep their stops", level="error")

    def follow_pause_requests(self, requested: int, ts: int, origin: str) -> Event | None:
        """An operator's pause: no new entries until a resume; positions keep
        their stops. Each new request is acted on once."""
        if requested <= self.state.pauses_seen:
            return None
        self.state.pauses_seen = requested
        return self.halt_entries(ts, f"paused by the operator ({origin})") or Event(
            ts, "paused", f"pause from {origin}: already halted ({self.state.halt_reason})", level="warning"
        )

    def follow_flatten_requests(self, requested: int, ts: int, origin: str) -> Event | None:
        """An operator's flatten: entries halt now, and the engine closes every
        position at the next bar (`flatten_all`). Each new request once."""
        if requested <= self.state.flattens_seen:
            return None
        self.state.flattens_seen = requested
        self.halt_entries(ts, f"flattened by the operator ({origin})")
        return Event(
            ts,
            "flatten_requested",
            f"flatten all from {origin}: closing every position at the next bar",
            level="warning",
        )

    def flatten_all(self, ledger: Ledger, book: BookView, ts: int, now_ms: int) -> Decision:
        """Market orders that close every position at the next open, pending
        entries cancelled: what an operator's flatten does."""
        out = Decision()
        self._flatten(ledger, book, ts, now_ms, out, intent="operator_flatten")
        return out

    def resume(self, equity: float) -> None:
        """Clear a kill-switch halt; the drawdown is measured afresh."""
        self.state.halted, self.state.halt_reason = False, None
        self.state.peak_equity = equity

    def follow_resume_requests(
        self, requested: int, equity: float, ts: int, origin: str = "`bot resume`"
    ) -> Event | None:
        """`bot resume` (or the API) counts its requests in the database; a
        running or restarting daemon acts on each new one once."""
        if requested <= self.state.resumes_seen:
            return None
        self.state.resumes_seen = requested
        was_halted = self.state.halted
        self.resume(equity)
        return Event(
            ts,
            "resumed",
            f"trading resumed by {origin}" if was_halted else f"resume from {origin}: was not halted",
            level="warning",
        )

    # -- 3. the strategy's signal ---------------------------------------------

    def round_trip_cost(self, volatility: float | None) -> float:
        """An entry and an exit as a return: taker fee and slippage, twice."""
        return costs.round_trip_cost(self.paper, volatility)

    def bars_held(self, symbol: str, bar_ts: int) -> int:
        """Bar closes since the open position's entry fill (1 at the close
        of the bar it filled at)."""
        entered = self.state.entry_ts.get(symbol)
        if entered is None:
            return 0
        # A fill is stamped within its bar, at or a little after the open:
        # counting whole bars upwards from it lands on that bar.
        return max(0, -((entered - bar_ts) // self.tf_ms) + 1)

    def orders_for(
        self,
        signal: Signal,
        bar: Bar,
        ledger: Ledger,
        book: BookView,
        now_ms: int,
        volatility: float | None,
        forecast_volatility: float | None = None,
    ) -> Decision:
        """`volatility`: the recent per-bar volatility (sizing without a
        forecast); `forecast_volatility`: the model's forecast for the
        horizon, preferred for sizing."""
        out = Decision()
        target = signal.target if self.paper.allow_short or signal.target is None else max(signal.target, 0.0)
        # A streak of stale bars (an outage's catch-up) is one streak, whatever
        # the strategy wants meanwhile; another block's streak ends with a bar
        # that wants no entry.
        stale = self._stale(bar, now_ms)
        if not stale and self.state.last_block.get(bar.symbol) == "stale_data":
            self.state.last_block.pop(bar.symbol)  # on time again: a later outage is news, held position or not
        if not target and not stale and not self._block_stands(bar.symbol, book):
            self.state.last_block.pop(bar.symbol, None)
        if target is None:
            return out
        if stale:
            self._block(bar, "stale_data", stale, out)
            return out
        if book.orders(bar.symbol, OrderKind.MARKET):
            out.pending = True
            return out  # an entry or exit is still on its way: decide again once it has filled
        held = book.tradable(bar.symbol, ledger.position(bar.symbol).qty)
        wants_long, wants_short = target > 0, target < 0
        exiting = held != 0.0 and ((held > 0 and not wants_long) or (held < 0 and not wants_short))
        if exiting:
            side = Side.SELL if held > 0 else Side.BUY
            out.submit([self._market(bar.symbol, bar.ts, side, abs(held), now_ms, "exit")])
        if target != 0 and (held == 0.0 or exiting):
            sizing = forecast_volatility if forecast_volatility is not None else volatility
            self._entry(target, bar, ledger, book, now_ms, sizing, out)
        return out

    def _entry(
        self,
        target: float,
        bar: Bar,
        ledger: Ledger,
        book: BookView,
        now_ms: int,
        sizing_volatility: float | None,
        out: Decision,
    ) -> None:
        pending = pending_entries(book, ledger, bar.symbol)
        blocked = self._entry_block(bar.symbol, ledger, book, pending.opening)
        if blocked:
            self._block(bar, *blocked, out)
            return
        scale = volatility_scale(self.cfg, sizing_volatility, self.bars_per_year)
        gross = ledger.gross_exposure + pending.notional
        notional = entry_notional(self.cfg, bar.symbol, target, ledger.equity, gross, scale)
        if notional < max(self.cfg.min_order_notional, 1e-9):
            self._block(
                bar,
                "min_notional",
                f"order notional {notional:,.2f} under the minimum {self.cfg.min_order_notional:,.2f}",
                out,
            )
            return
        side = Side.BUY if target > 0 else Side.SELL
        out.submit([self._market(bar.symbol, bar.ts, side, notional / bar.close, now_ms, ENTRY)])
        self.state.last_block.pop(bar.symbol, None)

    def trading_state(self, book: BookView) -> tuple[TradingState, str]:
        """The strictest rule in force now, and why; the halt outranks the
        daily block, which outranks the venue's."""
        s = self.state
        if s.halted:
            # Three kinds of halt share the state: the kill switch's (a
            # drawdown), the operator's (pause, flatten) and the strategy
            # guard's (a failing strategy); the reason says which.
            reason = s.halt_reason or ""
            if reason.startswith("drawdown"):
                by = "the kill switch"
            elif "by the operator" in reason:
                by = "the operator"
            else:
                by = "the strategy guard"
            return TradingState.HALTED, f"halted by {by} ({s.halt_reason}); `bot resume` clears it"
        if s.day_blocked is not None and s.day_blocked == s.day:
            return TradingState.DAY_BLOCKED, "daily loss limit reached; entries resume on the next UTC day"
        if book.entry_block:
            return TradingState.REDUCE_ONLY, f"{book.entry_block[0]}: {book.entry_block[1]}"
        return TradingState.ACTIVE, "entries allowed"

    def follow_trading_state(self, book: BookView) -> tuple[str, TradingState, str] | None:
        """(state before, state now, why) when the trading state differs from
        the one last logged; remembered with the rest of the risk state."""
        state, reason = self.trading_state(book)
        if state.value == self.state.trading:
            return None
        was, self.state.trading = self.state.trading, state.value
        return was, state, reason

    def _entry_block(self, symbol: str, ledger: Ledger, book: BookView, opening: int) -> tuple[str, str] | None:
        """(kind, reason) of the rule that forbids an entry now, if any;
        `opening`: positions other symbols' unfilled entries will open."""
        if book.entry_block:
            return book.entry_block
        state, reason = self.trading_state(book)
        if state in BLOCK_RULE:
            return BLOCK_RULE[state], reason
        s = self.state
        if s.cooldown.get(symbol, 0) > 0:
            return "cooldown", f"cooldown after a stop-out ({s.cooldown[symbol]} bars left)"
        if ledger.open_positions() + opening >= self.cfg.max_open_positions:
            waiting = f" or on their way ({opening} entries not filled yet)" if opening else ""
            return "max_open_positions", f"{self.cfg.max_open_positions} positions already open{waiting}"
        return None

    def _block_stands(self, symbol: str, book: BookView) -> bool:
        """The symbol's reported block comes from a trading state still in
        force (a halt, the daily limit, the venue's block). Such a block lasts
        as long as that state, whatever the strategy wants meanwhile: one
        report per halt, not one each time the strategy asks again (the
        demo's halted months logged a warning per entry wish)."""
        kind = self.state.last_block.get(symbol)
        if kind is None:
            return False
        state, _ = self.trading_state(book)
        if state is TradingState.REDUCE_ONLY:
            return book.entry_block is not None and kind == book.entry_block[0]
        return kind == BLOCK_RULE.get(state)

    def _stale(self, bar: Bar, now_ms: int) -> str | None:
        age_limit = self.max_bar_age_s
        age = (now_ms - (bar.ts + self.tf_ms)) / 1000
        if age_limit is not None and age > age_limit:
            return f"stale data: the bar closed {age:,.0f} s ago (limit {age_limit:,.0f} s)"
        return None

    def _block(self, bar: Bar, kind: str, reason: str, out: Decision) -> None:
        """An event for the first block of a streak, not one per bar; the
        decision carries the reason every bar."""
        out.blocked = f"{kind}: {reason}"
        if self.state.last_block.get(bar.symbol) == kind:
            return
        self.state.last_block[bar.symbol] = kind
        out.events.append(
            Event(bar.ts, "order_blocked", reason, level="warning", symbol=bar.symbol, data={"rule": kind})
        )

    # -- 4. end of bar -------------------------------------------------------------

    def end_of_bar(self, bar: Bar, ledger: Ledger, book: BookView) -> Decision:
        """Count cooldowns down; a trailing stop follows the bar's extreme."""
        out = Decision()
        symbol = bar.symbol
        if self.state.cooldown.get(symbol, 0) > 0:
            self.state.cooldown[symbol] -= 1
        if not self.cfg.trailing_stop_pct or symbol not in self.state.trail_ref:
            return out
        qty = ledger.position(symbol).qty
        stops = book.orders(symbol, OrderKind.STOP)
        if qty == 0.0 or not stops:
            return out
        trail = self.cfg.trailing_stop_pct
        ref = self.state.trail_ref[symbol]
        ref = max(ref, bar.high) if qty > 0 else min(ref, bar.low)
        self.state.trail_ref[symbol] = ref
        level = ref * (1 - trail) if qty > 0 else ref * (1 + trail)
        for stop in stops:
            assert stop.stop_price is not None  # a stop order always has its stop price
            if (qty > 0 and level > stop.stop_price) or (qty < 0 and level < stop.stop_price):
                out.commands.append(MoveStop(stop.id, level))
        return out

    # -- orders --------------------------------------------------------------------

    @staticmethod
    def _market(symbol: str, bar_ts: int, side: Side, qty: float, now_ms: int, intent: str) -> Order:
        return Order(
            id=f"{symbol}:{bar_ts}:{intent}",
            symbol=symbol,
            side=side,
            kind=OrderKind.MARKET,
            qty=qty,
            created_ts=now_ms,
            reason=intent,
        )
