"""Text stored by the run (event messages from exchanges and strategies,
reasons, paths) prints as itself in the terminal: rich markup in it can
neither restyle the output nor break it."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from helpers import write_config
from test_config_errors import run_bot

HOSTILE = "[/] [bold red]fake HALT[/bold red] [link=file:///etc/passwd]x[/link] [/nope]"


def run_with_an_event_saying(tmp_path: Path, message: str) -> Path:
    """A short run whose events include one an exchange could have sent."""
    config = write_config(tmp_path)
    assert run_bot("run", "-c", str(config), "--max-bars", "5", "--no-progress").returncode == 0
    with sqlite3.connect(tmp_path / "bot.sqlite") as conn:
        conn.execute("INSERT INTO events (ts, level, kind, message, symbol) VALUES (?, 'warning', ?, ?, ?)",
                     (1_672_531_200_000, "exchange_says", message, "BTC/USDT"))
    return config


def test_markup_in_stored_text_prints_literally(tmp_path: Path) -> None:
    config = run_with_an_event_saying(tmp_path, HOSTILE)
    result = run_bot("status", "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert HOSTILE in result.stdout.replace("\n", "")  # every bracket kept, nothing swallowed as a style
    assert "\x1b]8;" not in result.stdout  # no terminal hyperlink was made


ESCAPES = "\x1b[2J\x1b[31mcleared\x1b]0;owned\x07"


def test_terminal_escapes_in_stored_text_or_arguments_are_never_obeyed(tmp_path: Path) -> None:
    config = run_with_an_event_saying(tmp_path, ESCAPES)
    status = run_bot("status", "-c", str(config))
    assert status.returncode == 0 and "cleared" in status.stdout
    assert "\x1b" not in status.stdout and "\x07" not in status.stdout
    refused = run_bot("models", "promote", "v1" + ESCAPES, "-c", str(config))
    assert refused.returncode == 1 and "\x1b" not in refused.stderr and "\x07" not in refused.stderr
    assert "v1\\x1b[2J" in refused.stderr and len(refused.stderr.splitlines()) == 1


def test_explain_and_report_show_stored_escapes_as_text(tmp_path: Path) -> None:
    """`bot explain` put stored reasons and events into rich Text, and `bot
    report` its verdict (which quotes a stored halt reason): the terminal
    obeyed the escapes in them."""
    config = run_with_an_event_saying(tmp_path, ESCAPES)
    with sqlite3.connect(tmp_path / "bot.sqlite") as conn:
        ts = conn.execute("SELECT MAX(ts) FROM bars").fetchone()[0]
        conn.execute("INSERT INTO predictions (symbol, ts, model_version, prob_up, decision, reason) "
                     "VALUES ('BTC/USDT', ?, 'v1', 0.6, 'flat', ?)", (ts, "edge " + ESCAPES))
        state = '{"halted": true, "halt_reason": "paused by ' + ESCAPES.replace("\x1b", "\\u001b").replace(
            "\x07", "\\u0007") + '"}'
        conn.execute("INSERT OR REPLACE INTO run_meta (key, value) VALUES ('risk_state', ?)", (state,))
    for command in (("explain", "--limit", "5"), ("report",)):
        shown = run_bot(*command, "-c", str(config))
        assert shown.returncode == 0, shown.stderr
        assert "cleared" in shown.stdout and "\\x1b[2J" in shown.stdout, command
        assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout, command


def test_a_damaged_risk_state_is_one_line_naming_it(tmp_path: Path) -> None:
    """Not JSON, or JSON of another shape: a JSONDecodeError or a TypeError
    about RiskState() came out, after a log line of its own, and named
    nothing a person could look for."""
    config = run_with_an_event_saying(tmp_path, "fine")
    for damaged in ("not json", "[]", '{"no_such_field": 1}'):
        with sqlite3.connect(tmp_path / "bot.sqlite") as conn:
            conn.execute("INSERT OR REPLACE INTO run_meta (key, value) VALUES ('risk_state', ?)", (damaged,))
        for command in ("status", "report"):
            shown = run_bot(command, "-c", str(config))
            assert shown.returncode == 2, shown.stderr
            assert shown.stderr.startswith("config error: storage.db_url: the run's risk state (run_meta.risk_state) "
                                           "cannot be read (") and len(shown.stderr.splitlines()) == 1, shown.stderr


def test_a_crash_is_one_line_on_the_console_and_its_traceback_in_the_log(tmp_path: Path, capfd) -> None:
    """A fault nobody foresaw: one line on the console (the log line of the
    crash came first, two lines), the traceback in the log file."""
    import typer

    from bot.cli.common import guarded
    from bot.logging_setup import configure_logging

    configure_logging("INFO", tmp_path / "bot.jsonl", console_level="ERROR")

    @guarded
    def command() -> None:
        raise RuntimeError("nobody foresaw this")

    umask = os.umask(0o022)  # guarded sets the CLI's own; this process's is put back after
    try:
        with pytest.raises(typer.Exit) as stop:
            command()
    finally:
        os.umask(umask)
    assert stop.value.exit_code == 1
    err = capfd.readouterr().err
    assert err.splitlines() == ["error: RuntimeError: nobody foresaw this (details in the log file)"], err
    log = (tmp_path / "bot.jsonl").read_text()
    assert '"crashed"' in log and "Traceback" in log and "nobody foresaw this" in log


def test_a_database_fault_is_one_line_in_the_drivers_words(tmp_path: Path, capfd) -> None:
    """A server gone or a file that cannot be opened mid-command: SQLAlchemy's
    text (the SQL, a link to its docs) came out as a crash of the bot."""
    import typer
    from sqlalchemy import create_engine, text

    from bot.cli.common import guarded

    @guarded
    def command() -> None:
        engine = create_engine(f"sqlite:///{tmp_path / 'no-such-directory' / 'bot.sqlite'}")
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    umask = os.umask(0o022)
    try:
        with pytest.raises(typer.Exit):
            command()
    finally:
        os.umask(umask)
    assert capfd.readouterr().err.splitlines() == [
        "database error: unable to open database file; what was committed is kept (details in the log file)"]


def test_damaged_rows_are_shown_not_fatal(tiny_run: Path, tmp_path: Path) -> None:
    """A time past any calendar (ValueError: year 3170843) and a fill of
    zero (ZeroDivisionError) ended `bot status`, `report` and `trades`."""
    config = write_config(tmp_path)
    with sqlite3.connect(tiny_run / "bot.sqlite") as source, sqlite3.connect(tmp_path / "bot.sqlite") as copy:
        source.backup(copy)
    with sqlite3.connect(tmp_path / "bot.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM fills").fetchone()[0] > 0, "the run should have traded"
        conn.execute("UPDATE fills SET qty = 0 WHERE id = (SELECT MIN(id) FROM fills)")
        conn.execute("UPDATE events SET ts = 100000000000000000 WHERE id = (SELECT MAX(id) FROM events)")
    for command in (("status",), ("report",), ("trades",)):
        shown = run_bot(*command, "-c", str(config))
        assert shown.returncode == 0, (command, shown.stderr)


def copy_of(tiny_run: Path, directory: Path) -> Path:
    """The tiny run's database under a config of its own, to damage."""
    config = write_config(directory)
    with sqlite3.connect(tiny_run / "bot.sqlite") as source, sqlite3.connect(directory / "bot.sqlite") as copy:
        source.backup(copy)
    return config


def test_damaged_stored_json_is_shown_as_damaged_not_fatal(tiny_run: Path, tmp_path: Path) -> None:
    """A model version's metrics or an event's data that is not a JSON
    object ended `bot models`, `bot status` and the HTML report with an
    error that named nothing."""
    config = copy_of(tiny_run, tmp_path)
    with sqlite3.connect(tmp_path / "bot.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM model_versions").fetchone()[0] > 0, "the run should have trained"
        conn.execute("UPDATE model_versions SET metrics_json = '{\"val_auc\": 0.6' "
                     "WHERE version = (SELECT MIN(version) FROM model_versions)")
        conn.execute("UPDATE events SET data_json = '[1, 2' WHERE id = (SELECT MAX(id) FROM events)")
    shown = run_bot("models", "-c", str(config))
    assert shown.returncode == 0 and "damaged)" in shown.stdout, shown.stderr  # "(stored metrics damaged)", wrapped
    assert run_bot("status", "-c", str(config)).returncode == 0
    page = tmp_path / "report.html"
    reported = run_bot("report", "-c", str(config), "--html", str(page))
    assert reported.returncode == 0 and page.exists(), reported.stderr


def test_an_emptied_equity_table_gives_no_made_up_figures(tiny_run: Path, tmp_path: Path) -> None:
    """With fills and predictions but no equity row, the report said final
    equity 10,000 and a return of 0: an untouched account's figures."""
    import json

    config = copy_of(tiny_run, tmp_path)
    with sqlite3.connect(tmp_path / "bot.sqlite") as conn:
        conn.execute("DELETE FROM equity")
    reported = run_bot("report", "-c", str(config), "--json")
    assert reported.returncode == 0, reported.stderr
    summary = json.loads(reported.stdout)
    assert summary["final_equity"] is None and summary["total_return"] is None and summary["fees_paid"] is None
    assert summary["verdict"].startswith("No equity recorded")
    shown = run_bot("report", "-c", str(config))
    assert shown.returncode == 0 and "No equity recorded" in shown.stdout, shown.stderr


def test_an_equity_row_past_the_newest_bar_is_refused_not_resumed_from(tmp_path: Path) -> None:
    """The bot writes equity with the bars of its step. A row ahead of them
    (written by something else) was resumed from: its cash became the
    account's, and every step up to it was taken for late and stored none."""
    config = write_config(tmp_path)
    assert run_bot("run", "-c", str(config), "--max-bars", "40", "--no-progress").returncode == 0
    db = tmp_path / "bot.sqlite"
    with sqlite3.connect(db) as conn:
        (newest,) = conn.execute("SELECT MAX(ts) FROM bars").fetchone()
        conn.execute("INSERT INTO equity VALUES (?, 1, 0, 1, 0, 0, 0)", (newest + 5 * 3_600_000,))
    again = run_bot("run", "-c", str(config), "--max-bars", "40", "--no-progress")
    assert again.returncode == 2, again.stdout + again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    assert "storage.db_url: the run's equity has a row at" in again.stderr and "bot run --fresh" in again.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT MAX(ts) FROM bars").fetchone()[0] == newest  # nothing stepped on it
