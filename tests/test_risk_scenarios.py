"""Risk scenarios through the real Engine, built by bot.app.runtime.build_runtime
as `bot run` builds it, on short crafted bar series. A scripted strategy
sets the target on chosen bar times (and holds otherwise), so each scenario
controls exactly when the bot enters and exits; the model never plays a
part. Every expected price and amount is worked out by hand in the test.

Common arithmetic: 10,000 cash, max_position_fraction 0.5, an entry decided
at a close of 100 buys 50; at the next open of 100 it fills at
100 * (1 + 5 bps) = 100.05 and pays 10 bps: 50 * 100.05 * 0.001 = 5.0025,
leaving 10,000 - 5,002.5 - 5.0025 = 4,992.4975 cash.
"""

from __future__ import annotations

import pytest
from helpers import rows

from bot.app.runtime import build_runtime
from bot.clock import SimulatedClock
from bot.config import Config
from bot.domain import Bar, OrderKind, Side, Signal
from bot.risk.state import RiskState
from bot.store import StepRecord
from bot.strategy import Strategy, StrategyContext
from bot.strategy.base import NoParams

BTC = "BTC/USDT"
ETH = "ETH/USDT"
HOUR = 3_600_000
DAY = 86_400_000
T0 = 1_699_920_000_000  # 2023-11-14T00:00Z, a UTC midnight
DELAY = 5_000  # the decision happens this long after a bar closes
FEE, MAKER, SLIP = 0.001, 0.0002, 0.0005
ENTRY = 100 * (1 + SLIP)  # 100.05
ENTRY_FEE = 50 * ENTRY * FEE  # 5.0025
CASH_AFTER_ENTRY = 10_000 - 50 * ENTRY - ENTRY_FEE  # 4,992.4975


class Script(Strategy):
    """The target set for a bar time, for every symbol; None (hold) otherwise.
    Ignores the model's probability, which is None here anyway."""

    def __init__(self, targets: dict[int, float]) -> None:
        super().__init__(NoParams())
        self.targets = targets

    def decide(self, ctx: StrategyContext) -> Signal:
        return Signal(self.targets.get(ctx.bar.ts), "script")


def ts(i: int) -> int:
    return T0 + i * HOUR


def ohlc(i: int, o: float, h: float, low: float, c: float, symbol: str = BTC) -> Bar:
    assert low <= min(o, c) <= max(o, c) <= h
    return Bar(symbol, ts(i), o, h, low, c, 1_000.0)


def level(i: int, price: float, symbol: str = BTC) -> Bar:
    return ohlc(i, price, price, price, price, symbol)


class Bot:
    """A runtime over `tmp_path`, stepped bar by bar on a simulated clock."""

    def __init__(self, tmp_path, targets: dict[int, float], *, risk: dict, paper: dict | None = None,
                 symbols: tuple[str, ...] = (BTC,)) -> None:
        self.db = tmp_path / "bot.sqlite"
        self.config = Config(
            mode="replay", symbols=list(symbols), timeframe="1h",
            replay={"data": {s: str(tmp_path / f"{s.replace('/', '_')}.csv") for s in symbols}},
            # Each step committed as it is made: these scenarios read the
            # database from another connection after every step.
            storage={"db_url": f"sqlite:///{self.db}", "models_dir": str(tmp_path / "models"),
                     "replay_commit_steps": 1},
            paper={"initial_cash": 10_000, "fee_bps": 10, "maker_fee_bps": 2, "slippage_bps": 5, **(paper or {})},
            risk={"max_position_fraction": 0.5, **risk},
            features={"warmup_bars": 0}, model={"seq_len": 12}, base_dir=str(tmp_path),
        )
        self.targets = targets
        self.clock = SimulatedClock()
        self.rt = build_runtime(self.config, clock=self.clock, feed=None, strategy=Script(targets))

    @property
    def engine(self):
        return self.rt.engine

    def step(self, *bars: Bar) -> StepRecord:
        self.clock.advance_to(bars[0].ts + HOUR + DELAY)
        return self.engine.step(list(bars))

    def restart(self) -> None:
        """Close the store and build everything afresh from the database."""
        self.rt.store.close()
        self.clock = SimulatedClock(self.clock.now_ms())
        self.rt = build_runtime(self.config, clock=self.clock, feed=None, strategy=Script(self.targets))

    def close(self) -> None:
        self.rt.store.close()

    def sql(self, query: str) -> list[tuple]:
        return rows(self.db, query)


def market_orders(rec: StepRecord, reason: str | None = None) -> list:
    return [o for o in rec.new_orders if o.kind is OrderKind.MARKET and (reason is None or o.reason == reason)]


def events(rec: StepRecord, kind: str) -> list:
    return [e for e in rec.events if e.kind == kind]


def enter_long(bot: Bot, second: Bar) -> StepRecord:
    """Entry decided at bar 0 (close 100), filled at bar 1's open (100): 50 @ 100.05."""
    [entry] = market_orders(bot.step(level(0, 100.0)), "entry")
    assert entry.qty == pytest.approx(50.0)
    rec = bot.step(second)
    [(fill, _)] = rec.fills
    assert (fill.order_id, fill.qty, fill.price) == (entry.id, pytest.approx(50.0), pytest.approx(ENTRY))
    return rec


# -- (a) (b) stops ----------------------------------------------------------------------------


def test_a_crash_bar_triggers_the_stop_at_the_stop_price_less_slippage(tmp_path) -> None:
    bot = Bot(tmp_path, {ts(0): 1.0}, risk={"stop_loss_pct": 0.05})
    rec = enter_long(bot, ohlc(1, 100.0, 101.0, 99.0, 100.5))
    [stop] = [o for o in rec.new_orders if o.kind is OrderKind.STOP]
    stop_price = ENTRY * (1 - 0.05)  # 95.0475
    assert (stop.side, stop.qty, stop.stop_price) == (Side.SELL, pytest.approx(50.0), pytest.approx(stop_price))

    rec = bot.step(ohlc(2, 99.0, 99.5, 90.0, 91.0))
    [(fill, realized)] = rec.fills
    price = stop_price * (1 - SLIP)  # 94.99997625, not the low of 90 nor the close
    fee = 50 * price * FEE
    assert (fill.order_id, fill.side) == (stop.id, Side.SELL)
    assert fill.price == pytest.approx(price, rel=1e-12)
    assert fill.fee == pytest.approx(fee, rel=1e-12)
    assert realized == pytest.approx((price - ENTRY) * 50 - fee, rel=1e-9)
    assert bot.engine.ledger.position(BTC).qty == 0.0
    assert rec.equity.cash == pytest.approx(CASH_AFTER_ENTRY + 50 * price - fee, rel=1e-12)
    [event] = events(rec, "stop_loss")
    assert event.data["price"] == pytest.approx(price)
    assert bot.sql(f"select status, filled_qty from orders where id = '{stop.id}'") == [("filled", 50.0)]
    bot.close()


def test_a_bar_gapping_through_the_stop_fills_at_its_open(tmp_path) -> None:
    bot = Bot(tmp_path, {ts(0): 1.0}, risk={"stop_loss_pct": 0.05})
    enter_long(bot, ohlc(1, 100.0, 101.0, 99.0, 100.5))
    rec = bot.step(ohlc(2, 90.0, 92.0, 88.0, 91.0))  # opens below the 95.0475 stop
    [(fill, _)] = rec.fills
    assert fill.price == pytest.approx(90.0 * (1 - SLIP), rel=1e-12)  # 89.955
    assert fill.fee == pytest.approx(50 * 89.955 * FEE, rel=1e-12)
    assert bot.engine.ledger.position(BTC).qty == 0.0
    bot.close()


def test_the_stop_protects_from_the_entry_bar_itself(tmp_path) -> None:
    """The position opened at bar 1's open is stopped out by bar 1's low."""
    bot = Bot(tmp_path, {ts(0): 1.0}, risk={"stop_loss_pct": 0.05})
    bot.step(level(0, 100.0))
    rec = bot.step(ohlc(1, 100.0, 100.0, 94.0, 95.0))
    assert [f.price for f, _ in rec.fills] == pytest.approx([ENTRY, ENTRY * 0.95 * (1 - SLIP)])
    assert bot.engine.ledger.position(BTC).qty == 0.0
    bot.close()


# -- (c) trailing stop ------------------------------------------------------------------------------


def test_a_trailing_stop_follows_the_highs_and_fires_on_the_pullback(tmp_path) -> None:
    bot = Bot(tmp_path, {ts(0): 1.0}, risk={"stop_loss_pct": 0.10, "trailing_stop_pct": 0.05})
    rec = enter_long(bot, ohlc(1, 100.0, 102.0, 99.5, 101.0))
    [stop] = [o for o in rec.new_orders if o.kind is OrderKind.STOP]
    # Placed at the tighter 5% below 100.05 = 95.0475, then trailed to the entry bar's high.
    assert stop in rec.changed_orders
    assert rec.positions[0][1] == pytest.approx(102.0 * 0.95)  # 96.9
    stored = [rec.positions[0][1]]
    for bar in (ohlc(2, 101.0, 105.0, 100.0, 104.0),   # new high 105: 99.75
                ohlc(3, 104.0, 104.5, 101.0, 102.0),   # lower high: stays 99.75
                ohlc(4, 102.0, 110.0, 101.5, 109.0)):  # new high 110: 104.5
        rec = bot.step(bar)
        assert rec.fills == []
        stored.append(rec.positions[0][1])
        assert (stop in rec.changed_orders) == (bar.ts != ts(3))
    assert stored == pytest.approx([96.9, 99.75, 99.75, 104.5])
    assert [r[0] for r in bot.sql("select stop_price from positions order by ts")][1:] == pytest.approx(stored)

    rec = bot.step(ohlc(5, 108.0, 108.5, 104.0, 105.0))  # the low 104 reaches 104.5
    [(fill, realized)] = rec.fills
    price = 104.5 * (1 - SLIP)  # 104.44775
    assert (fill.order_id, fill.price) == (stop.id, pytest.approx(price, rel=1e-12))
    assert realized == pytest.approx((price - ENTRY) * 50 - 50 * price * FEE, rel=1e-9)
    assert rec.positions[0][1] is None  # no stop left
    assert bot.sql(f"select status, stop_price from orders where id = '{stop.id}'") == [
        ("filled", pytest.approx(104.5))]
    bot.close()


# -- (d) daily loss limit ---------------------------------------------------------------------------


def test_the_daily_loss_limit_blocks_entries_for_the_rest_of_the_utc_day(tmp_path) -> None:
    bot = Bot(tmp_path, {ts(20): 1.0, ts(21): 0.0, ts(22): 1.0, ts(23): 1.0, ts(24): 1.0},
              risk={"stop_loss_pct": 0.10, "daily_loss_limit_pct": 0.02})
    assert market_orders(bot.step(level(20, 100.0)), "entry")
    rec = bot.step(ohlc(21, 100.0, 100.0, 94.0, 95.0))  # filled at 100.05, marked at 95
    equity = CASH_AFTER_ENTRY + 50 * 95.0  # 9,742.4975: 2.58% below the day's 10,000
    assert rec.equity.equity == pytest.approx(equity, rel=1e-12)
    [event] = events(rec, "daily_loss_limit")
    assert "2.6%" in event.message
    assert [o.reason for o in market_orders(rec)] == ["exit"]

    rec = bot.step(level(22, 95.0))  # flat again; an entry is wanted but the day is blocked
    assert [f.order_id for f, _ in rec.fills] == [f"{BTC}:{ts(21)}:exit"]
    assert market_orders(rec) == []
    [blocked] = events(rec, "order_blocked")
    assert "daily loss limit" in blocked.message
    rec = bot.step(level(23, 95.0))
    assert market_orders(rec) == [] and events(rec, "order_blocked") == []  # still blocked, reported once

    rec = bot.step(level(24, 95.0))  # 00:00 the next UTC day
    [entry] = market_orders(rec, "entry")
    assert entry.id == f"{BTC}:{ts(24)}:entry"
    assert entry.qty == pytest.approx(0.5 * rec.equity.equity / 95.0, rel=1e-12)
    bot.close()


# -- (e) drawdown kill switch ------------------------------------------------------------------------


def test_the_kill_switch_flattens_halts_survives_a_restart_and_resume_clears_it(tmp_path) -> None:
    bot = Bot(tmp_path, {ts(0): 1.0, **{ts(i): 1.0 for i in range(3, 9)}},
              risk={"max_position_fraction": 0.4, "stop_loss_pct": 0.5, "max_drawdown_pct": 0.10},
              symbols=(BTC, ETH))
    rec = bot.step(level(0, 100.0, BTC), level(0, 100.0, ETH))
    assert sorted(o.symbol for o in market_orders(rec, "entry")) == [BTC, ETH]  # 40 each
    rec = bot.step(level(1, 100.0, BTC), level(1, 100.0, ETH))
    assert len(rec.fills) == 2
    cash = 10_000 - 2 * 40 * ENTRY * (1 + FEE)  # 1,987.996
    assert rec.equity.equity == pytest.approx(cash + 80 * 100.0)

    rec = bot.step(ohlc(2, 100.0, 100.0, 70.0, 70.0, BTC), ohlc(2, 100.0, 100.0, 70.0, 70.0, ETH))
    equity = cash + 80 * 70.0  # 7,587.996: 24% under the 10,000 peak
    assert rec.equity.equity == pytest.approx(equity)
    [kill] = events(rec, "kill_switch")
    assert kill.level == "error" and kill.data["peak_equity"] == pytest.approx(10_000.0)
    flatten = market_orders(rec)
    assert sorted((o.symbol, o.side, o.qty, o.reason) for o in flatten) == [
        (BTC, Side.SELL, pytest.approx(40.0), "kill_switch"), (ETH, Side.SELL, pytest.approx(40.0), "kill_switch")]
    assert bot.engine.risk.state.halted

    rec = bot.step(level(3, 72.0, BTC), level(3, 72.0, ETH))  # filled at the next open
    assert sorted((f.symbol, f.order_id, f.price) for f, _ in rec.fills) == [
        (BTC, f"{BTC}:{ts(2)}:kill_switch", pytest.approx(72.0 * (1 - SLIP))),
        (ETH, f"{ETH}:{ts(2)}:kill_switch", pytest.approx(72.0 * (1 - SLIP)))]
    assert bot.engine.ledger.open_positions() == 0
    assert bot.engine.broker.open_orders == {}  # the stops went with the positions
    assert market_orders(rec) == []  # the strategy wants in again: halted
    assert len(events(rec, "order_blocked")) == 2
    assert all("halted by the kill switch" in e.message for e in events(rec, "order_blocked"))
    rec = bot.step(level(4, 72.0, BTC), level(4, 72.0, ETH))
    assert market_orders(rec) == [] and events(rec, "kill_switch") == []

    bot.restart()
    assert RiskState.from_json(bot.rt.store.get_meta("risk_state")).halted
    assert bot.engine.risk.state.halted
    equity_after = bot.engine.ledger.equity
    assert equity_after == pytest.approx(rec.equity.equity)
    for i in (5, 6):
        rec = bot.step(level(i, 72.0, BTC), level(i, 72.0, ETH))
        assert market_orders(rec) == [] and rec.new_orders == []

    bot.engine.risk.resume(bot.engine.ledger.equity)
    rec = bot.step(level(7, 72.0, BTC), level(7, 72.0, ETH))
    assert sorted(o.symbol for o in market_orders(rec, "entry")) == [BTC, ETH]
    assert not RiskState.from_json(bot.rt.store.get_meta("risk_state")).halted
    bot.close()


def test_a_flat_signal_on_the_kill_switch_bar_does_not_sell_twice(tmp_path) -> None:
    bot = Bot(tmp_path, {ts(0): 1.0, ts(2): 0.0}, risk={"stop_loss_pct": 0.5, "max_drawdown_pct": 0.10})
    enter_long(bot, level(1, 100.0))
    rec = bot.step(ohlc(2, 100.0, 100.0, 70.0, 70.0))
    assert events(rec, "kill_switch")
    assert sum(o.qty for o in market_orders(rec) if o.side is Side.SELL) == pytest.approx(50.0)
    bot.step(level(3, 72.0))
    assert bot.engine.ledger.position(BTC).qty == 0.0
    bot.close()


def test_with_latency_a_repeated_signal_does_not_double_the_position(tmp_path) -> None:
    bot = Bot(tmp_path, {ts(0): 1.0, ts(1): 1.0}, risk={"stop_loss_pct": 0.5}, paper={"latency_bars": 1})
    bot.step(level(0, 100.0))
    bot.step(level(1, 100.0))  # the entry is not due yet
    bot.step(level(2, 100.0))  # the entry fills: 50
    bot.step(level(3, 100.0))
    assert bot.engine.ledger.position(BTC).qty == pytest.approx(50.0)
    bot.close()


@pytest.mark.parametrize("paper, bars", [
    # latency 1: entry at bar 0 fills at bar 2; the exit decided at bar 2 is due at bar 4; bar 3 stops out.
    ({"latency_bars": 1}, [level(1, 100.0), level(2, 100.0), ohlc(3, 99.0, 99.0, 90.0, 92.0), level(4, 92.0)]),
    # a volume cap of half the bar: the exit decided at bar 1 sells 20 of 50 at bar 2, whose low stops the rest.
    ({"max_volume_share": 0.5}, [Bar(BTC, ts(1), 100.0, 100.0, 100.0, 100.0, 1_000.0),
                                 Bar(BTC, ts(2), 99.0, 99.0, 90.0, 92.0, 40.0), level(3, 92.0)]),
], ids=["latency", "volume_cap"])
def test_a_stop_out_while_an_exit_rests_leaves_the_position_flat(tmp_path, paper: dict, bars: list[Bar]) -> None:
    exit_at = ts(2) if "latency_bars" in paper else ts(1)
    bot = Bot(tmp_path, {ts(0): 1.0, exit_at: 0.0}, risk={"stop_loss_pct": 0.05}, paper=paper)
    bot.step(level(0, 100.0))
    for bar in bars:
        bot.step(bar)
    assert bot.engine.ledger.position(BTC).qty == 0.0
    assert bot.engine.broker.open_orders == {}
    bot.close()


# -- (f) cooldown -------------------------------------------------------------------------------------


@pytest.mark.parametrize("cooldown", [1, 3])
def test_cooldown_after_a_stop_out_blocks_entries_for_exactly_that_many_bars(tmp_path, cooldown: int) -> None:
    bot = Bot(tmp_path, {ts(i): 1.0 for i in range(12)}, risk={"stop_loss_pct": 0.05, "cooldown_bars": cooldown})
    enter_long(bot, ohlc(1, 100.0, 101.0, 99.0, 100.0))
    rec = bot.step(ohlc(2, 99.0, 99.0, 90.0, 92.0))  # stopped out; the strategy still wants in
    assert events(rec, "stop_loss")
    entered, blocks = [], 0
    for i in range(2, 2 + cooldown + 2):
        if i > 2:
            rec = bot.step(level(i, 92.0))
        entered.append(bool(market_orders(rec, "entry")))
        blocks += len(events(rec, "order_blocked"))
    # Blocked at the stop-out bar's close and on the next `cooldown` bars, then allowed.
    assert entered == [False] * (cooldown + 1) + [True]
    assert blocks == 1
    bot.close()


def test_without_a_cooldown_the_stop_out_bar_may_enter_again(tmp_path) -> None:
    bot = Bot(tmp_path, {ts(i): 1.0 for i in range(4)}, risk={"stop_loss_pct": 0.05})
    enter_long(bot, ohlc(1, 100.0, 101.0, 99.0, 100.0))
    rec = bot.step(ohlc(2, 99.0, 99.0, 90.0, 92.0))
    assert events(rec, "stop_loss") and market_orders(rec, "entry")
    bot.close()


# -- (g) take-profit ------------------------------------------------------------------------------------


def test_take_profit_fills_at_its_limit_with_the_maker_fee_and_cancels_the_stop(tmp_path) -> None:
    bot = Bot(tmp_path, {ts(0): 1.0}, risk={"stop_loss_pct": 0.05, "take_profit_pct": 0.04})
    rec = enter_long(bot, ohlc(1, 100.0, 101.0, 99.0, 100.0))
    stop = next(o for o in rec.new_orders if o.kind is OrderKind.STOP)
    tp = next(o for o in rec.new_orders if o.kind is OrderKind.LIMIT)
    limit = ENTRY * 1.04  # 104.052
    assert tp.limit_price == pytest.approx(limit) and tp.group == stop.group

    rec = bot.step(ohlc(2, 101.0, 106.0, 100.5, 105.0))
    [(fill, realized)] = rec.fills
    fee = 50 * limit * MAKER  # 1.04052
    assert (fill.order_id, fill.price) == (tp.id, pytest.approx(limit, rel=1e-12))  # no slippage
    assert fill.fee == pytest.approx(fee, rel=1e-12)
    assert realized == pytest.approx((limit - ENTRY) * 50 - fee, rel=1e-9)  # 199.05948
    assert rec.equity.cash == pytest.approx(CASH_AFTER_ENTRY + 50 * limit - fee, rel=1e-12)
    assert events(rec, "take_profit")
    assert dict(bot.sql(f"select id, status from orders where id in ('{stop.id}', '{tp.id}')")) == {
        stop.id: "canceled", tp.id: "filled"}
    bot.close()


def test_when_one_bar_reaches_both_the_stop_wins_and_the_take_profit_is_canceled(tmp_path) -> None:
    bot = Bot(tmp_path, {ts(0): 1.0}, risk={"stop_loss_pct": 0.05, "take_profit_pct": 0.04})
    rec = enter_long(bot, ohlc(1, 100.0, 101.0, 99.0, 100.0))
    tp = next(o for o in rec.new_orders if o.kind is OrderKind.LIMIT)
    rec = bot.step(ohlc(2, 100.0, 106.0, 94.0, 100.0))
    [(fill, _)] = rec.fills
    assert fill.price == pytest.approx(ENTRY * 0.95 * (1 - SLIP), rel=1e-12)
    assert tp in rec.closed_orders and tp.status.value == "canceled"
    assert bot.engine.broker.open_orders == {}
    bot.close()


def test_an_exit_signal_cancels_the_protective_orders_once_filled(tmp_path) -> None:
    bot = Bot(tmp_path, {ts(0): 1.0, ts(1): 0.0}, risk={"stop_loss_pct": 0.05, "take_profit_pct": 0.04})
    enter_long(bot, level(1, 100.0))
    rec = bot.step(level(2, 101.0))
    [(fill, _)] = rec.fills
    assert fill.order_id == f"{BTC}:{ts(1)}:exit" and fill.price == pytest.approx(101.0 * (1 - SLIP))
    assert sorted(o.status.value for o in rec.closed_orders) == ["canceled", "canceled", "filled"]
    assert bot.engine.broker.open_orders == {}
    bot.close()
