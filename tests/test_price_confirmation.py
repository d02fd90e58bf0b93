"""Prices confirmed before they move money: a bad print (a close or a wick
far beyond the extreme-move threshold) is neither traded on nor marked
until the exchange serves it again or the next bar confirms the level.

The live bar job runs on a simulated clock against the fake exchange (a
real ccxt.binance over HTTP), long half the account with a 5% stop and a
10% kill switch, so an unconfirmed 30% print would fill the stop."""

from __future__ import annotations

import math
from pathlib import Path

from fake_exchange import FakeExchange
from helpers import rows
from test_market_data import HOUR, SOURCE, START, Daemon, source_rows, stored_rows

from bot.clock import SimulatedClock
from bot.domain import Bar, Signal
from bot.market.price_gate import PriceGate
from bot.market.screening import BarScreen
from bot.strategy import Strategy

SYMBOL = "BTC/USDT"
HIT = (START // HOUR + 2) * HOUR
RISK = {"risk": {"max_position_fraction": 0.5, "stop_loss_pct": 0.05, "max_drawdown_pct": 0.1}}


class AlwaysLong(Strategy):
    def decide(self, ctx) -> Signal:
        return Signal(1.0, "always long")


def run_with_fault(tmp_path: Path, inject) -> Daemon:
    clock = SimulatedClock(START)
    fake = FakeExchange(now=clock.now_ms).start()
    fake.add_csv_market(SYMBOL, SOURCE.reset_index(), "1h")
    daemon = Daemon(tmp_path, fake, clock, RISK, strategy=AlwaysLong(AlwaysLong.Params()))
    try:
        daemon.rt.bar_job(START)
        held = rows(daemon.db, f"SELECT qty FROM positions WHERE symbol = '{SYMBOL}' ORDER BY ts DESC LIMIT 1")
        assert held[0][0] > 0
        daemon.run_until(HIT + HOUR)  # HIT has closed; it is fetched at the next firing, 5 s on
        inject(fake)
        daemon.run_until(HIT + 3 * HOUR + 10_000)
    finally:
        daemon.close()
        fake.stop()
    return daemon


def stops_since_hit(daemon: Daemon) -> list[tuple]:
    """Stop-loss fills from the misprinted bar on (the catch-up before it may have some)."""
    return [e for e in daemon.events("stop_loss") if e[0] >= HIT]


def kinds_at(daemon: Daemon, ts: int) -> list[str]:
    return [kind for (kind,) in rows(daemon.db, f"SELECT kind FROM events WHERE ts = {ts} ORDER BY id")]


def test_a_bad_close_served_once_is_corrected_by_a_second_look_and_never_marked(tmp_path: Path) -> None:
    daemon = run_with_fault(tmp_path, lambda fake: fake.misprint_candles(SYMBOL, [HIT], "close", 0.7))
    assert kinds_at(daemon, HIT) == ["price_corrected"]
    assert stored_rows(daemon.db)[-4:] == source_rows(HIT - HOUR, HIT + 2 * HOUR)
    assert stops_since_hit(daemon) == [] and daemon.events("kill_switch") == []
    before, at = (rows(daemon.db, f"SELECT equity FROM equity WHERE ts = {ts}")[0][0] for ts in (HIT - HOUR, HIT))
    assert abs(at / before - 1) < 0.02  # marked at the true close, not 30% lower


def test_a_bad_wick_served_twice_differently_is_held_then_stepped_with_the_true_prices(tmp_path: Path) -> None:
    daemon = run_with_fault(tmp_path, lambda fake: fake.misprint_candles(SYMBOL, [HIT], "low", [0.7, 0.72], times=2))
    assert kinds_at(daemon, HIT) == ["price_corrected", "price_held"]
    assert stored_rows(daemon.db)[-4:] == source_rows(HIT - HOUR, HIT + 2 * HOUR)
    assert stops_since_hit(daemon) == [] and daemon.events("kill_switch") == []
    # Held for one late retry, not a bar: stepped 20 s after its first firing.
    assert rows(daemon.db, f"SELECT COUNT(*) FROM predictions WHERE ts = {HIT}")[0][0] == 0  # no model here
    assert len(daemon.events("price_held")) == 1


def test_a_bad_print_served_again_unchanged_is_confirmed_and_kept(tmp_path: Path) -> None:
    daemon = run_with_fault(tmp_path, lambda fake: fake.misprint_candles(SYMBOL, [HIT], "close", 0.7, times=None))
    assert "price_confirmed" in kinds_at(daemon, HIT)
    close = rows(daemon.db, f"SELECT close FROM bars WHERE ts = {HIT}")[0][0]
    assert math.isclose(close, SOURCE.loc[HIT, "close"] * 0.7, rel_tol=1e-9)
    assert len(stops_since_hit(daemon)) == 1  # a confirmed price is the market's: the stop fills


# -- the gate alone, on hand-made bars ------------------------------------------

def calm_screen(n: int = 48) -> tuple[BarScreen, float]:
    """A screen that has accepted n+1 bars moving ±0.1% alternately."""
    screen = BarScreen(HOUR, extreme_move_sigmas=10.0)
    close = 100.0
    for i in range(n + 1):
        close *= 1.001 if i % 2 else 0.999
        screen.observe(Bar(SYMBOL, i * HOUR, close, close, close, close, 1.0))
    return screen, close


def flat_bar(i: int, close: float, low: float | None = None) -> Bar:
    return Bar(SYMBOL, i * HOUR, close, close, close if low is None else low, close, 1.0)


def no_answer(bar: Bar) -> None:
    return None


def test_the_next_bar_confirms_a_new_level_but_never_a_wick() -> None:
    screen, close = calm_screen()
    crash, after = flat_bar(49, close * 0.8), flat_bar(50, close * 0.8001)
    events = []
    assert PriceGate(screen).admit(SYMBOL, [crash], no_answer, events) == []  # alone and unanswered: held
    assert [e.kind for e in events] == ["price_held"]
    events = []
    assert PriceGate(screen).admit(SYMBOL, [crash, after], no_answer, events) == [crash, after]
    assert [e.kind for e in events] == ["price_confirmed"] and "next bar closed" in events[0].message

    screen, close = calm_screen()
    gate = PriceGate(screen)
    wick, normal = flat_bar(49, close, low=close * 0.7), flat_bar(50, close)
    events = []
    assert gate.admit(SYMBOL, [wick, normal], no_answer, events) == []
    assert [e.kind for e in events] == ["price_held"]
    events = []
    assert gate.admit(SYMBOL, [wick, normal], no_answer, events) == [wick, normal]  # served again, unchanged
    assert [e.kind for e in events] == ["price_confirmed"] and "same values" in events[0].message


def test_a_flat_market_still_holds_a_misprint() -> None:
    """A pegged pair closes at 1.00 bar after bar: its returns have no
    spread at all, which switched the gate off (a 0.3x low filled a stop)."""
    screen = BarScreen(HOUR, extreme_move_sigmas=10.0)
    for i in range(50):
        screen.observe(flat_bar(i, 1.0))
    events = []
    assert PriceGate(screen).admit(SYMBOL, [flat_bar(50, 1.0, low=0.3)], no_answer, events) == []
    assert [e.kind for e in events] == ["price_held"]
    assert screen.extreme(flat_bar(50, 1.0001), 1.0) is None  # a tick is no misprint


def test_a_bounce_back_does_not_confirm_a_bad_close_and_a_corrected_copy_replaces_it() -> None:
    screen, close = calm_screen()
    gate = PriceGate(screen)
    spike, back = flat_bar(49, close * 0.7), flat_bar(50, close * 1.001)
    events = []
    assert gate.admit(SYMBOL, [spike, back], no_answer, events) == []
    assert [e.kind for e in events] == ["price_held"]
    corrected = flat_bar(49, close)
    events = []
    assert gate.admit(SYMBOL, [corrected, back], no_answer, events) == [corrected, back]  # the exchange fixed it
    assert events == [] and gate.held == {}

    screen, close = calm_screen()
    gate = PriceGate(screen)
    events = []
    spike, corrected = flat_bar(49, close * 0.7), flat_bar(49, close)
    assert gate.admit(SYMBOL, [spike], lambda bar: corrected, events) == [corrected]
    assert [e.kind for e in events] == ["price_corrected"]


def test_moves_are_said_as_the_price_changed_not_as_log_returns() -> None:
    # A close at 80% of the last one is -20%; the log return (-22.3%) was printed,
    # and a fall to a hundredth read -460%, which no price can do.
    screen, close = calm_screen()
    events = []
    PriceGate(screen).admit(SYMBOL, [flat_bar(49, close * 0.8)], no_answer, events)
    assert "is -20.00% from the previous close" in events[0].message, events[0].message
    flagged = screen.observe(flat_bar(49, close * 0.8))
    assert flagged is not None and flagged.message.startswith("close moved -20.00% ("), flagged.message
