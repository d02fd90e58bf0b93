"""`bot report`, `bot trades` and `bot status` on a finished tiny replay,
run as a user runs them: the real command in a subprocess."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from helpers import rows, write_config
from test_config_errors import run_bot


def test_report_json_has_the_promised_keys(tiny_run: Path) -> None:
    result = run_bot("report", "-c", str(tiny_run / "config.yaml"), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for key in ("bars", "trades", "total_return", "sharpe", "max_drawdown", "win_rate", "final_equity",
                "model_versions"):
        assert key in report
    db = tiny_run / "bot.sqlite"
    assert report["bars"] == rows(db, "SELECT COUNT(*) FROM bars")[0][0]
    assert report["model_versions"] == rows(db, "SELECT COUNT(*) FROM model_versions")[0][0]
    final = rows(db, "SELECT equity FROM equity ORDER BY ts DESC LIMIT 1")[0][0]
    assert report["final_equity"] == round(final, 2)
    assert report["total_return"] == final / 10_000 - 1
    assert 0 <= report["max_drawdown"] < 1 and report["trades"] > 0


def test_trades_csv_has_one_row_per_fill(tiny_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "fills.csv"
    result = run_bot("trades", "-c", str(tiny_run / "config.yaml"), "--fills", "--csv", str(out))
    assert result.returncode == 0, result.stderr
    with out.open() as handle:
        written = list(csv.DictReader(handle))
    fills = rows(tiny_run / "bot.sqlite", "SELECT order_id, side, qty, price FROM fills ORDER BY id")
    assert len(written) == len(fills) > 0
    for row, (order_id, side, qty, price) in zip(written, fills):
        assert (row["order_id"], row["side"]) == (order_id, side)
        assert float(row["qty"]) == qty and float(row["price"]) == price
        assert row["time"].endswith("Z")


def test_status_and_console_tables(tiny_run: Path) -> None:
    status = run_bot("status", "-c", str(tiny_run / "config.yaml"))
    assert status.returncode == 0, status.stderr
    assert "Champion model" in status.stdout and "BTC/USDT last bar" in status.stdout
    assert "rejected bars 0" in status.stdout
    fills = run_bot("trades", "-c", str(tiny_run / "config.yaml"), "--fills", "--limit", "3")
    assert fills.returncode == 0 and "Fills (newest 3" in fills.stdout
    trades = run_bot("trades", "-c", str(tiny_run / "config.yaml"), "--limit", "3")
    assert trades.returncode == 0 and "Round trips (newest 3" in trades.stdout, trades.stderr


def test_status_says_which_position_without_a_stop_is_likely_fee_dust(tiny_run: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    shutil.copy(tiny_run / "bot.sqlite", tmp_path / "bot.sqlite")
    shutil.copytree(tiny_run / "models", tmp_path / "models")
    db = tmp_path / "bot.sqlite"
    (ts, mark), = rows(db, "SELECT ts, close FROM bars ORDER BY ts DESC LIMIT 1")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE orders SET status = 'canceled' WHERE status IN ('new', 'open')")  # no stop anywhere
        conn.execute("DELETE FROM positions WHERE ts = ?", (ts,))
        for symbol, qty in (("BTC/USDT", 9e-7), ("ETH/USDT", 1.0)):  # fee dust; a real position
            conn.execute("INSERT INTO positions (ts, symbol, qty, avg_entry, mark, realized_pnl) "
                         "VALUES (?, ?, ?, ?, ?, 0)", (ts, symbol, qty, mark, mark))
    status = run_bot("status", "-c", str(config))
    assert status.returncode == 0, status.stderr
    shown = [line for line in status.stdout.splitlines() if " position " in line]
    lines = {line.split("position")[0].strip(" │|"): line for line in shown}
    assert "(unprotected; worth 0.0" in lines["BTC/USDT"] and "likely fee dust" in lines["BTC/USDT"]
    assert "(unprotected)" in lines["ETH/USDT"] and "dust" not in lines["ETH/USDT"]


def test_status_says_when_the_config_is_not_the_runs(tiny_run: Path) -> None:
    config = str(tiny_run / "config.yaml")
    same = run_bot("status", "-c", config)
    assert same.returncode == 0 and "not the run's" not in same.stdout, same.stderr
    other = run_bot("status", "-c", config, env={"BOT__SYMBOLS": '["SOL/USDT"]'})
    assert other.returncode == 0, other.stderr
    said = " ".join(other.stdout.split())
    assert 'not the run\'s (symbols ["BTC/USDT"] -> ["SOL/USDT"])' in said, other.stdout


def test_trades_are_round_trips_that_add_up_to_the_ledger(tiny_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "trips.csv"
    result = run_bot("trades", "-c", str(tiny_run / "config.yaml"), "--csv", str(out))
    assert result.returncode == 0, result.stderr
    with out.open() as handle:
        trips = list(csv.DictReader(handle))
    report = json.loads(run_bot("report", "--json", "-c", str(tiny_run / "config.yaml")).stdout)
    assert len(trips) == report["trades"] + report["open_trades"] > 0
    (realized, fees), = rows(tiny_run / "bot.sqlite", "SELECT SUM(realized_pnl), SUM(fee) FROM fills")
    assert sum(float(t["pnl"]) for t in trips) == pytest.approx(realized, abs=1e-6)
    assert sum(float(t["fees"]) for t in trips) == pytest.approx(fees)
    closed = [t for t in trips if t["exit_ts"]]
    assert closed and all(t["exit_time"].endswith("Z") and t["exit_reason"] for t in closed)
    assert all(t["entry_time"].endswith("Z") and t["entry_reason"] == "entry" for t in trips)
    # Whole numbers, though an open trip has no exit (1736424005000.0 and 4.0 beside an empty cell).
    assert all(t[c].isdigit() for t in trips for c in ("entry_ts", "exit_ts", "bars_held") if t[c]), trips[-1]


def test_reports_without_a_run_say_so_and_leave_nothing_behind(tmp_path: Path) -> None:
    """Refused, a reader still made the config's log directories and an
    empty log file (for a mistyped path, a tree of them)."""
    (tmp_path / "config.yaml").write_text((Path(__file__).parent.parent / "config.yaml").read_text())
    for command in ("report", "status", "models"):
        result = run_bot(command, "-c", str(tmp_path / "config.yaml"))
        assert result.returncode == 1
        assert result.stderr.strip().startswith("error: no run yet")
    assert list(tmp_path.iterdir()) == [tmp_path / "config.yaml"]


def test_an_empty_database_file_is_no_run_and_is_left_empty(tmp_path: Path) -> None:
    """A 0-byte file was given a schema by `bot report` and read as a run
    with no bars; pause and flatten queued requests in it."""
    (tmp_path / "config.yaml").write_text((Path(__file__).parent.parent / "config.yaml").read_text())
    (tmp_path / "state").mkdir()
    db = tmp_path / "state" / "bot.sqlite"
    db.write_bytes(b"")
    for command in ("report", "status", "trades", "pause", "flatten", "models"):
        result = run_bot(command, "-c", str(tmp_path / "config.yaml"))
        assert result.returncode == 1 and result.stderr.strip().startswith("error: no run yet"), (command, result)
    assert db.stat().st_size == 0


def test_a_run_says_when_it_trains_and_ends_on_what_drove_it(tmp_path: Path) -> None:
    from helpers import write_config

    config = write_config(tmp_path)
    run = run_bot("run", "-c", str(config), "--no-progress", "--max-bars", "900", timeout=600)
    assert run.returncode == 0, run.stderr
    announced = run.stderr.find("training the first model")
    assert 0 <= announced < run.stderr.find("trained, now the champion")
    report = json.loads(run_bot("report", "-c", str(config), "--json").stdout)
    assert "; next, " in report["verdict"]
    assert " ".join(report["verdict"].split()) in " ".join(run.stdout.split())


def test_explain_shows_each_bars_decision_and_what_came_of_it(tiny_run: Path) -> None:
    config = str(tiny_run / "config.yaml")
    result = run_bot("explain", "-c", config, "--json", "--limit", "100000")
    assert result.returncode == 0, result.stderr
    bars = [json.loads(line) for line in result.stdout.splitlines()]
    db = tiny_run / "bot.sqlite"
    assert len(bars) == rows(db, "SELECT COUNT(*) FROM predictions")[0][0]
    assert all(b["decision"] and b["reason"] for b in bars)
    # Every fill is shown once, at the bar whose step booked it...
    assert sum(len(b["fills"]) for b in bars) == rows(db, "SELECT COUNT(*) FROM fills")[0][0]
    # ...and every entry the strategy chose is an entry order at that very bar.
    for b in bars:
        entries = [o for o in b["orders"] if "(entry)" in o]
        assert (b["decision"] == "enter") == bool(entries), b
    window = run_bot("explain", "-c", config, "--from", bars[10]["time"], "--to", bars[14]["time"], "--json")
    assert [json.loads(line)["ts"] for line in window.stdout.splitlines()] == [b["ts"] for b in bars[10:15]]
    table = run_bot("explain", "-c", config, "--limit", "3")
    assert table.returncode == 0 and "Why the bot did what it did (3 bars)" in table.stdout
    for args, says in ((("--from", "not-a-date"), "--from: 'not-a-date' is not an ISO date"),
                       (("--to", "1678723200000"), "--to: '1678723200000' is not an ISO date"),
                       (("--from", "2023-03-05", "--to", "2023-03-01"), "--to: 2023-03-01 is before --from"),
                       (("--symbol", "ETH/USDT"), "--symbol: ETH/USDT is not among the run's symbols")):
        refused = run_bot("explain", "-c", config, *args)
        assert refused.returncode == 2 and says in refused.stderr and "Traceback" not in refused.stderr, refused
    # A range after the run blamed the first model's training; it says where the predictions are.
    after = run_bot("explain", "-c", config, "--from", "2030-01-01")
    assert after.returncode == 0 and after.stderr.strip() == (
        f"no predicted bar in that range; the run's predictions cover {bars[0]['time']} .. {bars[-1]['time']}")


def test_json_outputs_are_json_even_when_a_figure_is_not_finite(tmp_path: Path) -> None:
    """An equity of 0 made the drawdown NaN and the JSON a bare `NaN`,
    which JSON.parse and jq refuse; such a figure is null, as in the API."""
    import sqlite3

    from helpers import write_config
    from test_config_errors import run_bot

    config = write_config(tmp_path)
    assert run_bot("run", "-c", str(config), "--max-bars", "300", "--no-progress").returncode == 0
    with sqlite3.connect(tmp_path / "bot.sqlite") as conn:
        conn.execute("UPDATE equity SET equity = 0, cash = 0")
    done = run_bot("report", "--json", "-c", str(config))
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout, parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))
    assert summary["max_drawdown"] is None


def test_a_text_cell_a_spreadsheet_would_run_as_a_formula_is_exported_as_text(tiny_run: Path, tmp_path: Path) -> None:
    """A replay's symbol is any name its config gives; `=WEBSERVICE(...)`
    in a cell is called when the CSV is opened in a spreadsheet."""
    import shutil
    import sqlite3

    from bot.report.spreadsheet_cells import spreadsheet_safe

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("*.lock"))
    write_config(run)  # the copy's own paths
    with sqlite3.connect(run / "bot.sqlite") as conn:
        conn.execute("""UPDATE fills SET symbol = '=WEBSERVICE("http://x")/USDT'""")
    out = tmp_path / "fills.csv"
    result = run_bot("trades", "-c", str(run / "config.yaml"), "--fills", "--csv", str(out))
    assert result.returncode == 0, result.stderr
    with out.open() as handle:
        written = list(csv.DictReader(handle))
    assert written and {row["symbol"] for row in written} == {"""'=WEBSERVICE("http://x")/USDT"""}
    assert all(float(row["qty"]) > 0 for row in written)  # numbers stay numbers
    cells = spreadsheet_safe(pd.DataFrame({"a": ["+1", "-x", "@f", "\t=1", "ok", None], "n": [-1.5] * 6}))
    assert cells["a"].tolist()[:5] == ["'+1", "'-x", "'@f", "'\t=1", "ok"] and pd.isna(cells["a"].tolist()[5])
    assert cells["n"].tolist() == [-1.5] * 6
