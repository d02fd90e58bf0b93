"""A long open with its 3% stop resting (96.42), then a week without bars:
the first bar after the hole guards the position as any other bar does.
Opened beyond the stop, it fills the stop at its open; reaching the stop
from above, at the stop. Replay (a hole is final at once) and the live
retry policy (the hole asked for again, an extreme price confirmed before
it moves money) over the same file, a real SQLite database each."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import replay, rows, write_config

from bot.app.jobs import BarJob, RetryPolicy
from bot.app.runtime import build_runtime
from bot.app.scheduling import SimulatedScheduler, bar_close_trigger
from bot.clock import SimulatedClock
from bot.config import load_config
from bot.market.replay_feed import ReplayFeed

HOUR = 3_600_000
START = 1_672_531_200_000  # 2023-01-01
ENTRY_BAR, HOLE_AT, HOLE, AFTER = 10, 190, 168, 20  # bars 190..357 are missing: a week
FIRST_AFTER = START + (HOLE_AT + HOLE) * HOUR
DELAY = 5_000  # schedule.bar_delay_seconds, the default

ENTER_ONCE = f"""
from bot.domain import Signal
from bot.strategy import Strategy


class EnterOnce(Strategy):
    def decide(self, ctx):
        return Signal(1.0 if ctx.bar.ts == {START + ENTRY_BAR * HOUR} else None, "once")
"""


def market(path: Path, first_after: dict[str, float]) -> Path:
    """About 100 with 0.1% moves and the hole; the first bar after it has
    the given prices, as multiples of the close before the hole."""
    rng = np.random.default_rng(3)
    lines = ["timestamp,open,high,low,close,volume"]
    close = 100.0
    for i in [*range(HOLE_AT), *range(HOLE_AT + HOLE, HOLE_AT + HOLE + AFTER)]:
        open_ = close
        close = open_ * float(np.exp(rng.normal(0.0, 0.001)))
        bar = {"open": open_, "high": max(open_, close) * 1.001, "low": min(open_, close) * 0.999, "close": close}
        if i == HOLE_AT + HOLE:
            bar = {name: factor * open_ for name, factor in first_after.items()}
            close = bar["close"]
        lines.append(f"{START + i * HOUR},{bar['open']!r},{bar['high']!r},{bar['low']!r},{bar['close']!r},10.0")
    with gzip.open(path, "wt") as f:
        f.write("\n".join(lines) + "\n")
    return path


def config(tmp_path: Path, first_after: dict[str, float]) -> Path:
    (tmp_path / "strategies").mkdir()
    (tmp_path / "strategies" / "enter_once.py").write_text(ENTER_ONCE)
    path = write_config(tmp_path, {
        "replay": {"data": str(market(tmp_path / "market.csv.gz", first_after)), "start": None, "end": None},
        "risk": {"max_position_fraction": 0.4, "stop_loss_pct": 0.03},
        "retrain": {"initial_train_bars": 200},  # no model within the bars stepped here
    })
    data = yaml.safe_load(path.read_text())
    data["strategy"] = {"name": "enter_once", "path": str(tmp_path / "strategies"), "params": {}}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def stop_fills(db: Path) -> list[tuple[int, float]]:
    return rows(db, "SELECT f.ts, f.price FROM fills f JOIN orders o ON o.id = f.order_id WHERE o.kind = 'stop'")


def the_stop(db: Path) -> float:
    [(price,)] = rows(db, "SELECT stop_price FROM orders WHERE kind = 'stop'")
    return price


@pytest.mark.parametrize(("first_after", "fills_at"), [
    pytest.param({"open": 0.9, "high": 0.905, "low": 0.895, "close": 0.9}, "open", id="opens-beyond-the-stop"),
    pytest.param({"open": 1.0, "high": 1.001, "low": 0.95, "close": 0.999}, "stop", id="reaches-the-stop"),
    pytest.param({"open": 0.05, "high": 0.051, "low": 0.049, "close": 0.05}, "open", id="a-new-price-level"),
])
def test_a_replay_fills_the_stop_at_the_first_bar_after_a_week_long_hole(tmp_path: Path, first_after: dict,
                                                                           fills_at: str) -> None:
    """The reported fault ("the stop never fires") does not happen in a
    replay: the hole is final at once and the next bar steps, stop first."""
    replay(config(tmp_path, first_after), max_bars=HOLE_AT + 5)
    db = tmp_path / "bot.sqlite"
    assert rows(db, "SELECT json_extract(data_json, '$.missing_bars') FROM events WHERE kind = 'gap_unfilled'") == [
        (HOLE,)]
    [(ts, price)] = stop_fills(db)
    [(bar_open,)] = rows(db, f"SELECT open FROM bars WHERE ts = {FIRST_AFTER}")
    expected = bar_open if fills_at == "open" else the_stop(db)
    assert (ts, price) == (FIRST_AFTER, pytest.approx(expected * (1 - 0.0005)))  # the taker's 5 bps of slippage
    assert rows(db, f"SELECT qty FROM positions WHERE ts = {FIRST_AFTER}") == [(0.0,)]


def live_policy_steps(path: Path, until_ms: int) -> Path:
    """The bar job as live mode runs it (hole retries, extreme prices held
    until confirmed) over the file, fired at each bar close until `until_ms`."""
    cfg = load_config(path)
    clock = SimulatedClock(START)
    feed = ReplayFeed({"BTC/USDT": cfg.replay_csv("BTC/USDT")}, HOUR)
    rt = build_runtime(cfg, clock=clock, feed=feed)
    policy = RetryPolicy(gap_retries=cfg.market.gap_retries, hold_extremes=True)
    job = BarJob(feed=feed, engine=rt.engine, store=rt.store, retrainer=rt.retrainer, timeframe_ms=HOUR,
                 symbols=cfg.symbols, screen=rt.bar_job.screen, policy=policy)
    scheduler = SimulatedScheduler(clock)
    scheduler.add_job(job, bar_close_trigger(HOUR, DELAY / 1000))
    try:
        scheduler.run(until_ms)
    finally:
        rt.store.close()
    return Path(cfg.db_url.removeprefix("sqlite:///"))


def test_live_steps_a_bar_after_a_week_long_hole_once_the_hole_is_given_up(tmp_path: Path) -> None:
    """A deep wick on the first bar after the hole (a twentieth of the close
    before it; over a day later, so not judged against that close): an
    extreme price, asked for again. The copy was judged as if it followed
    that close directly, rejected as implausible, and the bar held back; the
    hole was then asked for all over again (3 more firings), so the stop
    rested unfilled for 4 bars past the firing that gave the hole up."""
    path = config(tmp_path, {"open": 1.0, "high": 1.001, "low": 0.05, "close": 0.999})
    retries = load_config(path).market.gap_retries
    assert retries == 3  # the default
    given_up = FIRST_AFTER + HOUR + DELAY + retries * HOUR  # the firing that gives the hole up
    db = live_policy_steps(path, given_up)
    assert rows(db, "SELECT ts, kind FROM events WHERE kind IN ('gap_pending', 'gap_unfilled') ORDER BY id") == [
        (FIRST_AFTER + HOUR + DELAY, "gap_pending"), (given_up, "gap_unfilled")]
    assert rows(db, "SELECT kind FROM events WHERE kind IN ('bar_rejected', 'price_held')") == []
    assert [kind for (kind,) in rows(db, f"SELECT kind FROM events WHERE ts = {FIRST_AFTER} ORDER BY id")] == [
        "price_confirmed", "price_level_changed", "entries_halted", "stop_loss"]
    assert stop_fills(db) == [(FIRST_AFTER, pytest.approx(the_stop(db) * (1 - 0.0005)))]


@pytest.mark.parametrize(("first_after", "names"), [
    pytest.param({"open": 1.0, "high": 1.001, "low": 0.04, "close": 0.999}, "low", id="a-wick"),
    pytest.param({"open": 0.05, "high": 0.051, "low": 0.049, "close": 0.05}, "close", id="the-close"),
])
def test_a_new_level_after_a_hole_names_the_price_that_moved(tmp_path: Path, first_after: dict, names: str) -> None:
    """The event said "close 100.987, 0.999 times the last accepted close
    ..., after a day and more of bars rejected as implausible" of a bar
    whose low alone had moved, after a hole in which nothing was rejected."""
    replay(config(tmp_path, first_after), max_bars=HOLE_AT + 5)
    [(message,)] = rows(tmp_path / "bot.sqlite", "SELECT message FROM events WHERE kind = 'price_level_changed'")
    [(bar,)] = rows(tmp_path / "bot.sqlite", f"SELECT {names} FROM bars WHERE ts = {FIRST_AFTER}")
    assert message.startswith(f"a new price level taken: {names} {bar:g}, "), message
    assert "no bar accepted (missing, or rejected as implausible)" in message
