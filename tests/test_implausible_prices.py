"""A replayed file with a broken price in it: a bar ten times (or a tenth
of) the previous close is rejected before anything uses it, so no stop
fires on it, no kill switch trips on it and no equity is marked at it. A
move short of that is a market move, however extreme, and is traded on as
before."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import replay, rows, write_config

from bot.market.validation import IMPLAUSIBLE, UNPRICED

HOUR = 3_600_000
START = 1_672_531_200_000  # 2023-01-01
BARS = 300
BAD = 200  # the bar that carries the broken price, with a long position open
INITIAL_CASH = 10_000

ALWAYS_LONG = """
from bot.domain import Signal
from bot.strategy import Strategy


class AlwaysLong(Strategy):
    def decide(self, ctx):
        return Signal(1.0, "long")
"""

NEVER_IN = """
from bot.domain import Signal
from bot.strategy import Strategy


class NeverIn(Strategy):
    def decide(self, ctx):
        return Signal(0.0, "flat")
"""


def quiet_market(path: Path, broken: dict[str, float], stays: bool = False) -> Path:
    """About 100 with 0.1% moves; bar BAD's prices replaced by `broken`,
    given as multiples of its own close; with `stays` the market goes on
    from the broken close (a real jump), else from where it was."""
    rng = np.random.default_rng(3)
    lines = ["timestamp,open,high,low,close,volume"]
    close = 100.0
    for i in range(BARS):
        open_ = close
        close = open_ * float(np.exp(rng.normal(0.0, 0.001)))
        bar = {"open": open_, "high": max(open_, close) * 1.001, "low": min(open_, close) * 0.999, "close": close}
        if i == BAD:
            bar |= {name: factor * close for name, factor in broken.items()}
            close = bar["close"] if stays else close
        lines.append(f"{START + i * HOUR},{bar['open']!r},{bar['high']!r},{bar['low']!r},{bar['close']!r},100.0")
    with gzip.open(path, "wt") as f:
        f.write("\n".join(lines) + "\n")
    return path


def run_long_through(tmp_path: Path, broken: dict[str, float], stays: bool = False, long: bool = True) -> Path:
    name, source = ("always_long", ALWAYS_LONG) if long else ("never_in", NEVER_IN)
    (tmp_path / "strategies").mkdir()
    (tmp_path / "strategies" / f"{name}.py").write_text(source)
    path = write_config(tmp_path, {
        "replay": {"data": str(quiet_market(tmp_path / "market.csv.gz", broken, stays)), "start": None, "end": None},
        "paper": {"initial_cash": INITIAL_CASH},
        "risk": {"max_position_fraction": 1.0, "stop_loss_pct": 0.03, "max_drawdown_pct": 0.2},
        "retrain": {"initial_train_bars": 250},  # no model within the bars replayed
    })
    config = yaml.safe_load(path.read_text())
    config["strategy"] = {"name": name, "path": str(tmp_path / "strategies"), "params": {}}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    replay(path, max_bars=BAD + 40)
    return tmp_path / "bot.sqlite"


@pytest.mark.parametrize(("broken", "why"), [
    pytest.param({"low": 0.01}, IMPLAUSIBLE, id="wick-to-a-hundredth"),
    pytest.param({"low": 1e-300}, IMPLAUSIBLE, id="wick-to-nothing"),
    pytest.param({"low": 0.01, "close": 0.01}, IMPLAUSIBLE, id="close-at-a-hundredth"),
    pytest.param({"high": 1e300}, UNPRICED, id="high-at-1e300"),
    pytest.param({"open": 1e300, "high": 1e300, "low": 1e300, "close": 1e300}, UNPRICED, id="all-at-1e300"),
])
def test_a_broken_price_is_rejected_and_moves_no_money(tmp_path: Path, broken: dict[str, float], why: str) -> None:
    db = run_long_through(tmp_path, broken)
    bad_ts = START + BAD * HOUR
    assert rows(db, "SELECT ts, message FROM events WHERE kind = 'bar_rejected'") == [(bad_ts, why)]
    assert rows(db, f"SELECT COUNT(*) FROM bars WHERE ts = {bad_ts}") == [(0,)]
    assert rows(db, f"SELECT COUNT(*) FROM bars WHERE ts > {bad_ts}")[0][0] > 30  # the bars after it are stepped
    assert rows(db, "SELECT COUNT(*), MIN(side) FROM fills") == [(1, "buy")]  # the entry, and no stop
    assert rows(db, "SELECT COUNT(*) FROM events WHERE kind = 'kill_switch'") == [(0,)]
    low, high = rows(db, "SELECT MIN(equity), MAX(equity) FROM equity")[0]
    assert 0.9 * INITIAL_CASH < low <= high < 1.1 * INITIAL_CASH


def test_an_extreme_move_short_of_tenfold_is_a_market_move(tmp_path: Path) -> None:
    """A wick to 60% of the close is possible: the bar is stepped and the
    3% stop fires on it."""
    db = run_long_through(tmp_path, {"low": 0.6})
    bad_ts = START + BAD * HOUR
    assert rows(db, "SELECT COUNT(*) FROM events WHERE kind = 'bar_rejected'") == [(0,)]
    assert rows(db, f"SELECT COUNT(*) FROM bars WHERE ts = {bad_ts}") == [(1,)]
    assert (bad_ts, "sell") in rows(db, "SELECT ts, side FROM fills")


@pytest.mark.parametrize(("factor", "long"), [(20.0, True), (0.05, True), (20.0, False)])
def test_a_market_that_really_jumps_tenfold_waits_a_day_not_for_ever(tmp_path: Path, factor: float,
                                                                     long: bool) -> None:
    """A redenomination: every bar of the new level is rejected for a day
    (a feed at the wrong scale for a few bars must not trade), then the
    level is taken; the symbol does not stall on a close it will never see
    again, and nothing was traded or marked at the new level meanwhile.
    Taken under an open position, the new level is an error and halts
    entries: a feed that switched units booked the change as profit (+4.3
    million on 10,000 on real ETH data at 1,000 times its price), while a
    real crash must still reach the position's stop."""
    all_at = {"open": factor, "high": factor, "low": factor, "close": factor}
    db = run_long_through(tmp_path, all_at, stays=True, long=long)
    bad_ts, taken = START + BAD * HOUR, START + (BAD + 24) * HOUR
    rejected = [ts for (ts,) in rows(db, "SELECT ts FROM events WHERE kind = 'bar_rejected' ORDER BY ts")]
    assert rejected == [bad_ts + i * HOUR for i in range(24)]  # judged while within a day of the last close
    stepped = [ts for (ts,) in rows(db, f"SELECT ts FROM bars WHERE ts > {bad_ts} ORDER BY ts")]
    assert stepped and stepped[0] == taken  # the level is taken once a day has passed
    assert stepped == [bad_ts + i * HOUR for i in range(24, 24 + len(stepped))] and len(stepped) >= 10
    assert rows(db, "SELECT ts, level FROM events WHERE kind = 'price_level_changed'") == [(taken, "error")]
    halted = rows(db, "SELECT ts, message FROM events WHERE kind = 'entries_halted'")
    assert [ts for ts, _ in halted] == ([taken] if long else [])
    assert all("moved to a new level with a position open" in message for _, message in halted)
    sells = [ts for (ts,) in rows(db, "SELECT ts FROM fills WHERE side = 'sell'")]
    assert sells == ([taken] if long and factor < 1 else [])  # the crash fired the stop at once
