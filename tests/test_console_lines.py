"""An event on the console is one short line; its fields stay in the log file."""

from __future__ import annotations

import json
from pathlib import Path

import structlog

from bot.domain import Event
from bot.logging_setup import configure_logging, log_event


def test_an_event_is_one_short_line_on_the_console_and_whole_in_the_log_file(tmp_path: Path, capfd) -> None:
    """The demo's console showed each extreme move as `timestamp='...'
    level='warning' event='extreme_move' ... open=50590.55 high=50789.0
    ... logger='bot.engine'`, dozens of them between its own lines."""
    configure_logging("INFO", tmp_path / "bot.jsonl", console_level="WARNING")
    bar = {"bar_time": "2021-09-07T14:00:00Z", "open": 50590.55, "high": 50789.0, "low": 47300.0, "close": 47374.1}
    event = Event(0, "extreme_move", "close moved -6.36% (12.1 sigma)", "warning", "BTC/USDT", bar)
    log_event(structlog.get_logger("bot.engine"), event)
    structlog.get_logger("bot.engine").warning("plain_line", count=3)  # no message: the key=value line it was
    lines = capfd.readouterr().err.splitlines()
    assert len(lines) == 2, lines
    clock, rest = lines[0].split(" ", 1)
    assert len(clock) == 8 and clock[2] == clock[5] == ":"
    assert rest == "warning extreme_move BTC/USDT 2021-09-07T14:00:00Z: close moved -6.36% (12.1 sigma)"
    assert "event='plain_line'" in lines[1] and "count=3" in lines[1]
    logged = [json.loads(line) for line in (tmp_path / "bot.jsonl").read_text().splitlines()]
    assert logged[0]["event"] == "extreme_move" and logged[0]["open"] == 50590.55 and logged[0]["close"] == 47374.1


def test_a_halt_is_one_line_on_a_replays_console(tmp_path: Path) -> None:
    """The kill switch showed as its event's line and again as a raw
    `timestamp=... event='trading_state' ...` line of the same change."""
    from helpers import write_config
    from test_config_errors import run_bot

    config = write_config(tmp_path, {"risk": {"max_drawdown_pct": 0.03}})
    result = run_bot("run", "-c", str(config), "--no-progress", "--max-bars", "1300")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert [line for line in lines if " error kill_switch: halted: drawdown " in line], result.stderr
    assert not [line for line in lines if "trading_state" in line or "event=" in line], result.stderr
    logged = [json.loads(line) for line in (tmp_path / "bot.jsonl").read_text().splitlines()]
    [state] = [e for e in logged if e["event"] == "trading_state" and e["now"] == "halted"]
    assert state["level"] == "info" and state["message"].startswith("trading active -> halted: halted by the kill")
