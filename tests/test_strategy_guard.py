"""A strategy's bugs cost a bar, never the daemon or the risk budget: a
replay through a strategy that raises, returns junk and asks for 7.5 times
its budget runs to the end, says what went wrong where, and never sizes
beyond the limit."""

from __future__ import annotations

from pathlib import Path

import yaml
from helpers import replay, rows, write_config

WILD = '''
import sys

import numpy as np

from bot.domain import Signal
from bot.strategy import Strategy


class Wild(Strategy):
    def decide(self, ctx):
        if ctx.prob_up is None:
            return Signal(None, "no prediction")
        turn = (ctx.bar.ts // 3_600_000) % 10
        if turn == 0:
            raise RuntimeError("boom")
        if turn == 1:
            return Signal(7.5, "all in, and then some")
        if turn == 2:
            return "junk"
        if turn == 3:
            return Signal(float("nan"), "not a number")
        if turn == 4:
            return Signal(1.0, None)
        if turn == 5:
            return Signal(1.0, {"why": "a dict"})
        if turn == 6:
            sys.exit(0)
        if turn == 7:
            return Signal(np.float32(0.5), "half" + chr(0) + "way")
        if turn == 8:
            raise GeneratorExit("closing")
        return Signal(0.0, "flat " * 100_000)
'''
RAISING_LINE = WILD.splitlines().index('            raise RuntimeError("boom")') + 1


def test_a_wild_strategy_is_contained_bar_by_bar(tmp_path: Path) -> None:
    (tmp_path / "strategies").mkdir()
    (tmp_path / "strategies" / "wild.py").write_text(WILD)
    config = write_config(tmp_path, {"strategy": {"name": "wild", "path": str(tmp_path / "strategies")}})
    data = yaml.safe_load(config.read_text())
    data["strategy"]["params"] = {}  # wild takes none
    config.write_text(yaml.safe_dump(data))
    replay(config)  # runs to the end: nothing the strategy did stopped it
    db = tmp_path / "bot.sqlite"

    errors = [m for (m,) in rows(db, "SELECT message FROM events WHERE kind = 'strategy_error'")]
    assert any(f"Wild failed at wild.py:{RAISING_LINE}: RuntimeError: boom" in m for m in errors)
    assert any("returned str, not a Signal" in m for m in errors)
    assert any("target nan is not a finite number" in m for m in errors)
    # A reason the store cannot hold failed the step's commit, every restart again; sys.exit()
    # stopped the replay without a word (exit 0); a NUL byte failed the commit on PostgreSQL.
    assert any("the reason is NoneType, not text" in m for m in errors)
    assert any("the reason is dict, not text" in m for m in errors)
    assert any(": SystemExit: 0;" in m for m in errors)
    # GeneratorExit went past the guard: a traceback, and the same crash at every restart.
    assert any(": GeneratorExit: closing;" in m for m in errors)
    # A 500 KB reason was stored whole at every bar.
    assert rows(db, "SELECT MAX(LENGTH(reason)) FROM predictions")[0][0] < 1_000
    # A bad return is the strategy's fault, not a line of the guard's (it named guard.py).
    assert not any("guard.py" in m for m in errors)
    assert any("Wild failed in what decide() returned: TypeError" in m for m in errors)
    assert rows(db, "SELECT COUNT(*) FROM predictions WHERE reason = 'half\\x00way'")[0][0] > 0
    clamped = rows(db, "SELECT message FROM events WHERE kind = 'strategy_target_clamped'")
    assert clamped and "clamped to 1" in clamped[0][0]
    reasons = {r for (r,) in rows(db, "SELECT reason FROM predictions WHERE reason LIKE 'strategy error%'")}
    assert any(f"RuntimeError at wild.py:{RAISING_LINE}" in r for r in reasons)

    # Entries happened, and none was sized beyond the 50% position limit.
    entries = rows(db, "SELECT f.qty * f.price FROM fills f JOIN orders o ON o.id = f.order_id "
                       "WHERE o.side = 'buy' AND o.kind = 'market'")
    peak = rows(db, "SELECT MAX(equity) FROM equity")[0][0]
    assert entries and max(n for (n,) in entries) <= 0.5 * peak * 1.01


SULKY = '''
from bot.domain import Signal
from bot.strategy import Strategy


class Sulky(Strategy):
    """Fails on its first 12 predicted bars, then wants to be long."""

    calls = 0

    def decide(self, ctx):
        if ctx.prob_up is None:
            return Signal(None, "no prediction")
        Sulky.calls += 1
        if Sulky.calls <= 12:
            raise ValueError("not today")
        return Signal(1.0, "long now")
'''


def test_a_strategy_failing_bar_after_bar_halts_entries(tmp_path: Path) -> None:
    (tmp_path / "strategies").mkdir()
    (tmp_path / "strategies" / "sulky.py").write_text(SULKY)
    config = write_config(tmp_path, {"strategy": {"name": "sulky", "path": str(tmp_path / "strategies")}})
    data = yaml.safe_load(config.read_text())
    data["strategy"]["params"] = {}
    config.write_text(yaml.safe_dump(data))
    replay(config)
    db = tmp_path / "bot.sqlite"
    (halt,) = rows(db, "SELECT ts, message FROM events WHERE kind = 'entries_halted'")
    assert "Sulky failed 10 bars in a row" in halt[1]
    # The same error twelve bars running is one event (it was an error notification per bar),
    # and the first bar that decides again counts them.
    (error,) = rows(db, "SELECT ts, message FROM events WHERE kind = 'strategy_error'")
    assert "Sulky failed at sulky.py:" in error[1] and "ValueError: not today" in error[1]
    (recovered,) = rows(db, "SELECT ts, message FROM events WHERE kind = 'strategy_recovered'")
    assert "decides again after 12 failed bar(s) in a row" in recovered[1]
    assert recovered[0] - error[0] == 12 * 3_600_000
    assert rows(db, "SELECT COUNT(*) FROM predictions WHERE reason LIKE 'strategy error: ValueError%'")[0][0] == 12
    # It wanted to be long ever after, and the halt held every entry back.
    assert rows(db, "SELECT COUNT(*) FROM fills")[0][0] == 0
    blocked = rows(db, f"SELECT COUNT(*) FROM predictions WHERE decision = 'blocked' AND ts > {halt[0]}")[0][0]
    assert blocked > 100
