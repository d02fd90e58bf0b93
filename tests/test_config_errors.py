"""A config the bot must not run is refused at start: exit code 2 and one
line on stderr naming the offending field, never a traceback. These run
the real `bot` command in a subprocess, as a user would."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from helpers import BUNDLED_BTC, REPO, write_config

from bot.config import load_config
from bot.strategy import load_strategy_of

HOUR = 3_600_000

BAD_CONFIGS = [
    ({"risk": {"stop_loss_pct": -0.1}}, {}, "risk.stop_loss_pct"),
    ({"risk": {"stop_los_pct": 0.1}}, {}, "risk.stop_los_pct"),
    # ETH/BTC with 1 BTC: the default minimum of 10 (quote units) blocked every entry.
    ({"paper": {"initial_cash": 1}}, {}, "risk.min_order_notional: 10 is more than BTC/USDT's largest entry, 0.5"),
    ({"timeframe": "1x"}, {}, "timeframe"),
    ({"symbols": ["BTCUSDT"]}, {}, "symbols"),
    ({"symbols": [" BTC/USDT"]}, {}, "symbols: ' BTC/USDT' has a space in it"),
    ({"mode": "paper"}, {}, "mode"),
    ({"paper": {"fee_bps": "ten"}}, {}, "paper.fee_bps"),
    ({"paper": {"fee_bps": True}}, {}, "paper.fee_bps: a number is needed, not true or false"),
    ({"risk": {"take_profit_pct": False}}, {}, "risk.take_profit_pct: a number is needed"),  # an optional number
    ({"seed": True}, {}, "seed: a number is needed"),
    ({"strategy": {"params": {"enter_above": True}}}, {}, "strategy.params.enter_above: a number is needed"),
    ({"strategy": {"params": {"enter_above": 2}}}, {}, "strategy.params.enter_above"),
    # nan was called "less than or equal to" its bound, and a parameter with no bound took it.
    ({"strategy": {"params": {"enter_above": float("nan")}}}, {},
     "strategy.params.enter_above: a finite number is needed"),
    ({}, {"BOT__STRATEGY__PARAMS": '{"enter_above": "-inf"}'},
     "strategy.params.enter_above: a finite number is needed"),
    ({"strategy": {"params": {"enter_above": 0.4, "exit_below": 0.5}}}, {}, "strategy.params"),
    ({"strategy": {"name": "no_such_strategy"}}, {}, "strategy.name"),
    ({"replay": {"data": "/nonexistent/bars.csv.gz"}}, {}, "replay.data"),
    ({"replay": {"start": "yesterday-ish"}}, {}, "replay.start"),
    ({"retrain": {"initial_train_bars": 100}}, {}, "retrain.initial_train_bars"),
    ({"retrain": {"train_window_bars": 200}, "model": {"seq_len": 64}}, {}, "retrain.train_window_bars"),
    ({"symbols": ["BTC/USDT", "ETH/USDT"]}, {}, "replay.data"),
    ({"symbols": ["ETH/USDT"], "replay": {"data": {"ETHUSDT": "a.csv"}}}, {}, "no CSV for ETH/USDT (it maps ETHUSDT)"),
    ({"symbols": ["BTC/USDT", "ETH/USDT"], "replay": {"data": {"BTC/USDT": "a.csv", "ETH/USDT": "./a.csv"}}}, {},
     "replay.data: BTC/USDT and ETH/USDT are both"),
    ({}, {"BOT__MODEL__EPOCHS": "abc"}, "model.epochs"),
    ({}, {"BOT__RISKY": "1"}, "BOT__RISKY"),
    ({}, {"BOT__SYMBOLS": "BTC/USDT"}, "BOT__SYMBOLS: not valid JSON for a list; write it as '[\"BTC/USDT\""),
    ({"broker": "testnet"}, {}, "broker"),
    ({"broker": "testnet", "mode": "live"}, {}, "exchange.sandbox"),
    ({"broker": "testnet", "mode": "live", "exchange": {"sandbox": True}}, {}, "BOT_EXCHANGE_API_KEY"),
    ({"broker": "testnet", "mode": "live", "exchange": {"sandbox": True}}, {"BOT_EXCHANGE_API_KEY": "k"},
     "BOT_EXCHANGE_SECRET"),
    # The exchange's intervals are ccxt's own list: no network is asked (the URL goes nowhere anyway).
    ({"mode": "live", "timeframe": "7m", "exchange": {"urls": {"public": "http://127.0.0.1:9/api/v3"}}}, {},
     "timeframe: '7m' is not offered by binance (it offers 1s, 1m, 3m"),
    # Accepted, then failed mid-run (numpy's and torch's seeds are 0 .. 2**32 - 1), and again at every resume.
    ({"seed": -5}, {}, "seed: Input should be greater than or equal to 0"),
    ({"model": {"seed": 2**32}}, {}, "model.seed: Input should be less than or equal to 4294967295"),
    # Every bar is seen bar_delay_seconds after its close: the run never traded, and said the strategy abstained.
    ({"risk": {"max_bar_age_seconds": 1}}, {}, "risk.max_bar_age_seconds: 1 s is not more than schedule.bar_delay"),
    # A list or mapping key given as plain text: the message named the section and said to set one key.
    ({}, {"BOT__MODEL__FEATURES": "ret_1"}, "BOT__MODEL__FEATURES: a list or mapping is given as JSON"),
    ({}, {"BOT__NOTIFY__EVENTS": "fill"}, "BOT__NOTIFY__EVENTS: a list or mapping is given as JSON"),
    # A key whose case matters, inside a variable's name that the loader lowercases: 'btc/usdt' was then
    # refused as a stranger to symbols, and a ccxt option would have been set under a name ccxt never reads.
    ({}, {"BOT__RISK__PER_SYMBOL__BTC/USDT__MAX_POSITION_FRACTION": "0.1"},
     "BOT__RISK__PER_SYMBOL__BTC/USDT__MAX_POSITION_FRACTION: a variable's name loses the case of risk.per_symbol"),
    ({}, {"BOT__EXCHANGE__OPTIONS__DEFAULTTYPE": "spot"}, "give the whole mapping as JSON in BOT__EXCHANGE__OPTIONS"),
    # Runs that could never learn: accepted, and no model, or one kept for ever, or one trained at every bar.
    ({"retrain": {"cron": "0 0 30 2 *"}}, {}, "retrain.cron: '0 0 30 2 *' never fires"),
    ({"retrain": {"every_days": 1e-12}}, {}, "retrain.every_days: 1e-12 days is shorter than one 1h bar"),
    ({"model": {"val_fraction": 0.89}, "retrain": {"initial_train_bars": 200, "train_window_bars": 200}}, {},
     "retrain.initial_train_bars: must be at least"),
    ({"storage": {"db_url": "mysql://bot:hunter2@db/bot"}}, {}, "storage.db_url"),
    ({"storage": {"db_url": "::::"}}, {}, "storage.db_url"),
    ({"storage": {"db_url": "sqlite:///:memory:"}}, {}, "storage.db_url"),
    # Options in a SQLite URL reach nothing the bot opens: mode=ro warned in many lines and wrote anyway.
    ({"storage": {"db_url": "sqlite:///bot.sqlite?mode=ro"}}, {},
     "storage.db_url: a SQLite URL takes no options (got 'mode')"),
    # Asked at every firing while the daemon ran on, blind.
    ({"mode": "live"}, {"BOT__EXCHANGE__URLS": '{"public": "ftp://x"}'},
     "exchange.urls: public: 'ftp://x' is not an http(s) address with a host"),
    ({"exchange": {"urls": {"rest": {"spot": "http://"}}}}, {}, "exchange.urls: rest.spot: 'http://' is not"),
    ({"exchange": {"urls": {}}}, {}, "exchange.urls: empty; leave it out"),
    ({"exchange": {"urls": {"public": "ftp://bot:tok3n@proxy"}}}, {}, "public: 'ftp://***@proxy' is not"),
    # A misspelt event kind was accepted, and the events it meant were never sent.
    ({"notify": {"events": {"kill_swich": "info", "*": "error"}}}, {},
     "notify.events: 'kill_swich' is no event kind (did you mean 'kill_switch'?)"),
    ({"notify": {"events": ["stop_los"]}}, {},
     "notify.events: 'stop_los' is no event kind (did you mean 'stop_loss'?)"),
    ({}, {"BOT__NOTIFY__EVENTS": '{"stale_dat": "warning"}'},
     "notify.events: 'stale_dat' is no event kind (did you mean 'stale_data'?)"),
]


def run_bot(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """`bot` as a user runs it. The timeout only catches a hang: set it far
    above the slowest honest run on a loaded CI machine."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BOT__", "BOT_EXCHANGE_"))}
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, cwd=REPO,
                          env={**clean, **(env or {})}, timeout=timeout)


def assert_refused(result: subprocess.CompletedProcess, field: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("config error: ")
    assert field in lines[0]
    assert not lines[0].startswith("config error: config:")
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(("overrides", "env", "field"), BAD_CONFIGS,
                         ids=[case[2] for case in BAD_CONFIGS])
def test_bad_config_is_refused_with_the_field_named(tmp_path: Path, overrides, env, field) -> None:
    result = run_bot("run", "-c", str(write_config(tmp_path, overrides)), env=env)
    assert_refused(result, field)
    assert "hunter2" not in result.stderr  # a password in a database URL is never echoed
    assert not (tmp_path / "bot.sqlite").exists()  # refused before any state is written


@pytest.mark.parametrize(("params", "field"), [
    # Clamped to flat by the risk manager, its bars recorded "abstain" with a short's reason.
    ({"allow_short": True}, "strategy.params.allow_short: true, but paper.allow_short is false"),
    # The exit threshold above the entry's: 119 round trips in 222 daily bars.
    ({"exit_margin_bps": -71},
     "strategy.params.exit_margin_bps: -71 puts the exit threshold (+0.410%) above the entry threshold (+0.400%)"),
])
def test_edge_parameters_the_rest_of_the_config_contradicts_are_refused(tmp_path: Path, params, field) -> None:
    path = write_config(tmp_path)
    config = yaml.safe_load(path.read_text())
    config["strategy"] = {"name": "edge", "path": str(REPO / "strategies"), "params": params}
    path.write_text(yaml.safe_dump(config))
    assert_refused(run_bot("run", "-c", str(path)), field)
    config["strategy"]["params"] = {"exit_margin_bps": -69}  # just below the entry threshold: allowed
    assert load_strategy_of(load_config(_written(path, config))).params.exit_margin_bps == -69
    config["paper"]["allow_short"], config["strategy"]["params"] = True, {"allow_short": True}
    assert load_strategy_of(load_config(_written(path, config))).params.allow_short


def _written(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


def test_yaml_syntax_error(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("mode: replay\nrisk: [unclosed\n")
    assert_refused(run_bot("run", "-c", str(config)), "not valid YAML")


# Mistakes that used to run anyway: each is refused in one line, exit 2,
# before any state is written.
WRITTEN_MISTAKES = [
    ("duplicate-section", b"risk:\n  stop_loss_pct: 0.01\nrisk:\n  max_drawdown_pct: 0.2\n", {},
     "`risk` is given twice"),
    ("duplicate-key", b"risk:\n  stop_loss_pct: 0.01\n  stop_loss_pct: 0.03\n", {}, "`stop_loss_pct` is given twice"),
    ("empty-file", b"", {}, "the file is empty"),
    ("comments-only", b"# nothing here\n", {}, "the file is empty"),
    ("infinite-cash", b"paper:\n  initial_cash: .inf\n", {}, "paper.initial_cash"),
    ("nan-stop", b"risk:\n  stop_loss_pct: .nan\n", {}, "risk.stop_loss_pct"),
    ("start-after-end", b"replay:\n  start: 2024-01-01\n  end: 2023-01-01\n", {}, "is not before end"),
    ("bad-byte", b"seed: 4\n# \xff\xfe\n", {}, "not UTF-8"),
    ("bad-env-json", b"seed: 4\n", {"BOT__RISK": "{not json"}, "BOT__RISK"),
    ("infinite-env", b"seed: 4\n", {"BOT__PAPER__INITIAL_CASH": "inf"}, "paper.initial_cash"),
    ("huge-cash-env", b"seed: 4\n", {"BOT__PAPER__INITIAL_CASH": "1e308"}, "paper.initial_cash"),
    # YAML's own conversions used to fail with a bare ValueError or TypeError, exit 1, naming nothing.
    ("impossible-date", b"replay:\n  start: 2021-02-30\n", {}, "replay.start: '2021-02-30' is not an ISO date"),
    ("bad-int-tag", b'risk:\n  stop_loss_pct: !!int "abc"\n', {}, "not valid YAML (invalid literal for int()"),
    ("number-key", b"seed: 4\n1: 2\n", {}, "line 2: a key must be a name, not int 1"),
    ("list-key", b"seed: 4\n? [a, b]\n: 3\n", {}, "line 2: a key must be a name, not list"),
]


@pytest.mark.parametrize(("text", "env", "named"), [case[1:] for case in WRITTEN_MISTAKES],
                         ids=[case[0] for case in WRITTEN_MISTAKES])
def test_written_mistakes_are_refused_in_one_line(tmp_path: Path, text: bytes, env: dict, named: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_bytes(text)
    result = run_bot("run", "-c", str(config), env=env)
    assert_refused(result, named)
    assert "Traceback" not in result.stdout + result.stderr and "locals" not in result.stdout + result.stderr
    assert not (tmp_path / "state").exists()  # the default state directory, beside the config


def test_a_replay_too_short_for_a_first_model_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"replay": {"start": "2023-01-01", "end": "2023-01-20"}})  # 456 bars
    result = run_bot("run", "-c", str(config))
    assert_refused(result, "replay.data")
    assert "it has 456 bars from replay.start 2023-01-01 before replay.end 2023-01-20" in result.stderr
    assert "the first model needs 801 (retrain.initial_train_bars 800, then one to trade)" in result.stderr
    assert not (tmp_path / "bot.sqlite").exists()


def test_a_replay_that_starts_after_its_data_says_what_the_data_covers(tmp_path: Path) -> None:
    result = run_bot("run", "-c", str(write_config(tmp_path, {"replay": {"start": "2026-01-01", "end": None}})))
    assert_refused(result, "replay.data: it has no bars from replay.start 2026-01-01; the data covers 20")


def test_a_first_model_is_due_by_the_symbol_with_the_most_bars(tmp_path: Path) -> None:
    """801 bars of BTC and 300 of a later-starting ALT: the first model is
    due by BTC's count, so the run is allowed (ALT joins a later retrain);
    800 of BTC are one short, and the message names BTC."""
    bars = pd.read_csv(BUNDLED_BTC)
    start = pd.Timestamp("2023-01-01", tz="UTC").value // 1_000_000
    alt = tmp_path / "ALT.csv"
    bars[bars.timestamp >= start + 501 * HOUR].to_csv(alt, index=False)
    for btc_bars, runs in ((801, True), (800, False)):
        end = pd.Timestamp(start + btc_bars * HOUR, unit="ms", tz="UTC").strftime("%Y-%m-%dT%H:%M")
        config = write_config(tmp_path, {
            "symbols": ["BTC/USDT", "ALT/USDT"], "replay": {"end": end, "data": {"BTC/USDT": str(BUNDLED_BTC),
                                                                                  "ALT/USDT": str(alt)}}})
        result = run_bot("run", "-c", str(config), "--max-bars", "1", "--no-progress", "--fresh")
        if runs:
            assert result.returncode == 0, result.stderr
        else:
            assert_refused(result, "replay.data: BTC/USDT, the symbol with the most bars, has 800 bars")


@pytest.mark.parametrize("field", ["storage.models_dir", "storage.db_url", "logging.file"])
def test_unwritable_state_paths_are_refused_at_start(field: str, tmp_path: Path) -> None:
    """Found at start, not at the first model write hours later (a file where
    a directory should be stops even root)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    overrides = {"storage": {"models_dir": str(blocker / "models")}} if field == "storage.models_dir" else \
        {"storage": {"db_url": f"sqlite:///{blocker / 'state' / 'bot.sqlite'}"}} if field == "storage.db_url" else \
        {"logging": {"file": str(blocker / "logs" / "bot.jsonl")}}
    result = run_bot("run", "-c", str(write_config(tmp_path, overrides)))
    assert_refused(result, field)
    assert not (tmp_path / "bot.sqlite").exists()  # nothing left to hold the next start to these settings


def test_unquoted_yaml_dates_are_taken_as_meant(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("start: '2023-01-01'", "start: 2023-01-01"))
    assert "start: 2023-01-01\n" in config.read_text()
    assert load_config(config).replay.start == "2023-01-01"


def test_missing_config_file(tmp_path: Path) -> None:
    assert_refused(run_bot("run", "-c", str(tmp_path / "nope.yaml")), "file not found")


@pytest.mark.parametrize(("config", "why"), [
    ("{tmp}", "a directory, not a file"),
    ("/dev/null", "not a regular file"),
])
def test_a_config_that_is_not_a_file_says_what_it_is(tmp_path: Path, config: str, why: str) -> None:
    """Not "file not found" for a path that is there."""
    result = run_bot("run", "-c", config.format(tmp=tmp_path))
    assert_refused(result, why)
    assert "file not found" not in result.stderr


def test_replay_data_that_is_a_directory_says_so(tmp_path: Path) -> None:
    (tmp_path / "bars").mkdir()
    config = write_config(tmp_path, {"replay": {"data": str(tmp_path / "bars")}})
    for command in (["run"], ["backtest"]):
        result = run_bot(*command, "-c", str(config))
        assert_refused(result, "replay.data")
        assert "a directory, not a file" in result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="refusal only applies where CUDA is absent")
def test_cuda_requested_without_a_gpu(tmp_path: Path) -> None:
    assert_refused(run_bot("run", "-c", str(write_config(tmp_path, {"model": {"device": "cuda"}}))), "model.device")


def test_a_state_made_with_other_settings_is_not_resumed(tmp_path: Path) -> None:
    """Resuming a run under a changed risk limit would mix two strategies in one ledger."""
    config = write_config(tmp_path)
    assert run_bot("run", "-c", str(config), "--max-bars", "5", "--no-progress").returncode == 0
    changed = write_config(tmp_path, {"risk": {"stop_loss_pct": 0.05}})
    refused = run_bot("run", "-c", str(changed), "--max-bars", "5")
    assert_refused(refused, "storage.db_url")
    # It names what changed, the environment's overrides included.
    assert "other settings (risk.stop_loss_pct 0.01 -> 0.05);" in refused.stderr, refused.stderr
    refused = run_bot("run", "-c", str(changed), "--max-bars", "5", env={"BOT__MODEL__HORIZON_BARS": "3"})
    assert "(model.horizon_bars 1 -> 3; risk.stop_loss_pct 0.01 -> 0.05);" in refused.stderr, refused.stderr
    assert run_bot("run", "-c", str(changed), "--max-bars", "5", "--fresh", "--no-progress").returncode == 0


def test_env_override_reaches_the_run(tmp_path: Path) -> None:
    other_db = tmp_path / "elsewhere.sqlite"
    result = run_bot("run", "-c", str(write_config(tmp_path)), "--max-bars", "3", "--no-progress",
                     env={"BOT__STORAGE__DB_URL": f"sqlite:///{other_db}"})
    assert result.returncode == 0, result.stderr
    assert other_db.exists() and not (tmp_path / "bot.sqlite").exists()


@pytest.mark.parametrize("dates", [["--from", "2024-01-01", "--to", "2023-01-01"], ["--from", "2023-06-01"]])
def test_a_backtest_range_that_ends_before_it_starts_is_refused(tmp_path: Path, dates: list[str]) -> None:
    result = run_bot("backtest", "-c", str(write_config(tmp_path)), *dates)
    assert_refused(result, "--from")
    assert "not before the end" in result.stderr


BACKTEST_MISTAKES = [
    # A pydantic error dump, exit 1.
    (["--data", str(BUNDLED_BTC), "--symbol", "BTCUSDT"], "--symbol: 'BTCUSDT' is not BASE/QUOTE"),
    # BTC's hours reported as ETH/USDT's, without a word.
    (["--data", str(BUNDLED_BTC), "--symbol", "ETH/USDT"],
     "--symbol: ETH/USDT, but the file's name says BTC/USDT (BTC_USDT-1h.csv.gz)"),
    # Ignored: the whole backtest ran here instead of on the cluster named.
    (["--address", "ray://127.0.0.1:9"], "--address: a Ray cluster is used with --executor ray, not local"),
    # FileNotFoundError inside the first variant, exit 1.
    (["--out-dir", "/proc/no-such-dir"], "--out-dir: cannot write in /proc/no-such-dir (No such file or directory)"),
    # Found in every variant at once behind the progress bar, and --from called replay.start.
    (["--from", "2030-01-01", "--to", "2031-01-01"],
     "replay.data: it has no bars from --from 2030-01-01 before --to 2031-01-01; the data covers"),
    (["--to", "2023-01-05"], "it has 96 bars from replay.start 2023-01-01 before --to 2023-01-05, but the first"),
]


@pytest.mark.parametrize(("args", "says"), BACKTEST_MISTAKES, ids=[case[1][:40] for case in BACKTEST_MISTAKES])
def test_backtest_options_that_cannot_work_are_refused_before_any_variant(tmp_path: Path, args, says) -> None:
    result = run_bot("backtest", "-c", str(write_config(tmp_path)), "--workers", "1", *args)
    assert_refused(result, says)
    assert "variants" not in result.stderr  # no progress bar: refused before any work
    assert not list(tmp_path.glob("*/bot.sqlite"))


def test_a_refused_backtest_or_sweep_leaves_no_empty_directory_behind(tmp_path: Path) -> None:
    """--out-dir was created (with its parents) before the dates were
    checked, and a sweep's --out before its files were: a refused command
    left empty directories where the user had asked for output."""
    config = write_config(tmp_path)
    backtest_out = tmp_path / "asked" / "for" / "out"
    result = run_bot("backtest", "-c", str(config), "--workers", "1", "--out-dir", str(backtest_out),
                     "--from", "2030-01-01", "--to", "2031-01-01")
    assert_refused(result, "replay.data")
    assert not (tmp_path / "asked").exists()
    (tmp_path / "models").mkdir()
    sweep_out = tmp_path / "models" / "sweeps" / "one"
    result = run_bot("sweep", "-c", str(config), "--out", str(sweep_out))
    assert_refused(result, "--out")
    assert "inside the run's models directory" in result.stderr
    assert list((tmp_path / "models").iterdir()) == []


def test_per_symbol_limits_for_a_symbol_not_traded_are_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"risk": {"per_symbol": {"ETH/USTD": {"max_position_fraction": 0.1}}}})
    assert_refused(run_bot("run", "-c", str(config)), "risk.per_symbol")


def test_a_backtest_reads_the_file_of_the_symbol_it_is_asked_for(tmp_path: Path) -> None:
    """--symbol picks that symbol's file from replay.data; a symbol the
    config does not trade has none, and is refused rather than tested on
    the first symbol's file under its name (which it was)."""
    from bot.cli.backtest import _data_and_symbol
    from bot.config import load_config

    files = {s: tmp_path / f"{s.replace('/', '_')}.csv" for s in ("BTC/USDT", "ETH/USDT")}
    for path in files.values():
        path.write_text("timestamp,open,high,low,close,volume\n")
    config = write_config(tmp_path, {"symbols": list(files), "replay": {"data": {s: str(p) for s, p in files.items()}}})
    cfg = load_config(config)
    assert _data_and_symbol(cfg, None, "ETH/USDT") == (files["ETH/USDT"], "ETH/USDT")
    assert _data_and_symbol(cfg, None, None) == (files["BTC/USDT"], "BTC/USDT")
    assert _data_and_symbol(cfg, files["BTC/USDT"], "XRP/USDT") == (files["BTC/USDT"], "XRP/USDT")  # --data: as told
    # --data alone would have labelled the file with the config's first symbol
    assert_refused(run_bot("backtest", "-c", str(config), "--data", str(files["ETH/USDT"])),
                   "--data: say which symbol")
    for command, option in (("backtest", "--symbol"), ("check-lookahead", "--symbol"), ("sweep", "--symbols")):
        result = run_bot(command, "-c", str(config), option, "XRP/USDT")
        assert_refused(result, f"{option}: XRP/USDT is not among symbols (BTC/USDT, ETH/USDT)")


def test_an_output_file_is_checked_before_work_and_is_never_the_runs_own(tmp_path: Path) -> None:
    """report --html, trades --csv, download --out and backtest --json wrote
    over the database, the config or the log when told to, and a backtest
    found a bad path only after its whole run."""
    config = write_config(tmp_path)
    assert run_bot("run", "-c", str(config), "--max-bars", "3", "--no-progress").returncode == 0
    db, log = tmp_path / "bot.sqlite", tmp_path / "bot.jsonl"
    program = tmp_path / "tool"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    interpreter = tmp_path / "python"
    interpreter.symlink_to(sys.executable)
    data, notes = tmp_path / "bars.csv", tmp_path / "notes.txt"
    data.write_bytes(gzip.decompress(BUNDLED_BTC.read_bytes()))
    notes.write_text("mine")
    strategy = REPO / "strategies" / f"{yaml.safe_load(config.read_text())['strategy']['name']}.py"
    before = {path: path.read_bytes() for path in (db, config, log, program, data, notes, strategy)}
    cases = [
        (("report", "--html", str(db)), "--html: ", "is the run's database"),
        (("report", "--html", str(log)), "--html: ", "is the run's log"),
        (("trades", "--csv", str(config)), "--csv: ", "is the run's config"),
        (("download", "--since", "2023-01-01", "--out", str(db)), "--out: ", "is the run's database"),
        (("download", "--since", "2023-01-01", "--out", str(tmp_path / "x.txt")), "--out: ", "must end in .csv"),
        (("download", "--since", "2023-02-01", "--until", "2023-01-01"), "--until: ", "is not after --since"),
        (("download", "--since", "2023-01-01", "--symbol", ""), "--symbol: ", "empty"),  # was the config's symbol
        (("trades", "--csv", str(tmp_path / "no-such-dir" / "t.csv")), "--csv: ", "does not exist"),
        (("backtest", "--json", str(tmp_path)), "--json: ", "is a directory"),
        (("backtest", "--html", "/proc/report.html"), "--html: ", "cannot write in /proc"),
        # A mistyped path replaced the virtual environment's python with a JSON report.
        (("backtest", "--json", str(program)), "--json: ", "is a program (executable)"),
        (("trades", "--csv", str(interpreter)), "--csv: ", "is a program (executable)"),
        (("report", "--html", "/dev/null"), "--html: ", "is not a regular file"),
        # --json over the --data file it reads, over the strategy, over another kind of file, or twice.
        (("backtest", "--data", str(data), "--symbol", "BTC/USDT", "--json", str(data)), "--json: ",
         "is the data it reads"),
        (("report", "--html", str(strategy)), "--html: ", "is the run's strategy"),
        (("trades", "--csv", str(notes)), "--csv: ", "is not a .csv or .csv.gz file"),
        (("backtest", "--json", str(tmp_path / "r.out"), "--html", str(tmp_path / "r.out")), "--json: ",
         "is the --html file as well"),
        (("trades", "--csv", str(notes / "t.csv")), "--csv: ", "is a file, not a directory"),
        # It printed "error: OSError: [Errno 36] ... (details in the log file)", with exit 1 and no log.
        (("trades", "--csv", str(tmp_path / ("a" * 300 + ".csv"))), "--csv: ", "File name too long"),
        (("trades", "--csv", str(tmp_path / "loop.csv")), "--csv: ", "is a loop of symbolic links"),
    ]
    (tmp_path / "loop.csv").symlink_to(tmp_path / "pool.csv")
    (tmp_path / "pool.csv").symlink_to(tmp_path / "loop.csv")
    for args, option, says in cases:
        result = run_bot(args[0], "-c", str(config), *args[1:])
        assert_refused(result, option)
        assert says in result.stderr, (args, result.stderr)
    assert {path: path.read_bytes() for path in (db, config, log, program, data, notes, strategy)} == before
    assert interpreter.resolve() == Path(sys.executable).resolve()


def test_an_output_file_is_never_the_replay_data_or_a_model_file(tmp_path: Path) -> None:
    """The guard above covered the database, config, log and lock only:
    `trades --csv` wrote over the bars the config replays, and over a
    model's config.json, which the next start could not load."""
    data = tmp_path / "bars.csv.gz"
    data.write_bytes(BUNDLED_BTC.read_bytes())
    config = write_config(tmp_path, {"replay": {"data": str(data)}})
    model_file = tmp_path / "models" / "v0001-20230101T0000" / "config.json"
    model_file.parent.mkdir(parents=True)
    model_file.write_text("{}")
    before = data.read_bytes()
    for args, says in [
        (("trades", "--csv", str(data)), "is the run's replay data (BTC/USDT)"),
        (("report", "--html", str(data)), "is the run's replay data (BTC/USDT)"),
        (("backtest", "--json", str(data)), "is the run's replay data (BTC/USDT)"),
        (("trades", "--csv", str(model_file)), "is inside the run's models directory"),
    ]:
        result = run_bot(args[0], "-c", str(config), *args[1:])
        assert_refused(result, args[1] + ": ")
        assert says in result.stderr, (args, result.stderr)
    assert data.read_bytes() == before and model_file.read_text() == "{}"


def test_yaml_merge_keys_are_read(tmp_path: Path) -> None:
    """`<<:` is YAML's own way to share settings; the duplicate-key check
    took it for a key it could not build and called the file invalid."""
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("risk:\n", "risk:\n  <<: {cooldown_bars: 3}\n", 1))
    assert load_config(config).risk.cooldown_bars == 3


def test_trials_fewer_than_the_variants_run_are_refused(tmp_path: Path) -> None:
    """The deflated Sharpe ratio counted the 5 variants anyway, and said
    so only in a table title: --trials 1 was silently 5."""
    config = str(write_config(tmp_path))
    assert_refused(run_bot("backtest", "-c", config, "--trials", "4"),
                   "--trials: 4 is fewer than the 5 model variants this backtest runs")


def test_check_lookahead_refuses_data_of_another_timeframe_as_a_backtest_does(tmp_path: Path) -> None:
    """1h bars under a 4h config were checked and passed ("no lookahead")."""
    config = str(write_config(tmp_path, {"timeframe": "4h"}))
    for command in ("check-lookahead", "backtest"):
        result = run_bot(command, "-c", config)
        assert result.returncode == 2 and "240-minute boundary" in result.stderr, (command, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1


def test_per_symbol_limits_given_as_json_in_the_environment_keep_the_symbol(tmp_path: Path, monkeypatch) -> None:
    # The way the refusal above points to: the symbol's case survives inside JSON.
    monkeypatch.setenv("BOT__RISK__PER_SYMBOL", '{"BTC/USDT": {"max_position_fraction": 0.1}}')
    cfg = load_config(write_config(tmp_path))
    assert cfg.risk.position_fraction("BTC/USDT") == 0.1


@pytest.mark.parametrize(("name", "says"), [
    ("BTC_USDT-1h.csv.gz", "BTC/USDT"), ("ETH_USDT-1h.csv", None), ("SOL_USDT-5m.csv.gz", "SOL/USDT"),
    # Names that say no symbol: the download's own pattern only (they were refused as BINANCE/BTC, MY/PRICES).
    ("binance_btc-1h.csv.gz", None), ("my_prices-2024.csv", None), ("prices_2024-01.csv", None), ("eth.csv.gz", None),
])
def test_a_file_named_for_another_symbol_is_told_from_one_that_names_none(name: str, says: str | None) -> None:
    from bot.file_checks import named_for_another_symbol

    assert named_for_another_symbol(Path("/data") / name, "ETH/USDT") == says


def test_a_replay_file_named_for_another_symbol_is_refused(tmp_path: Path) -> None:
    """`ETH/USDT: data/BTC_USDT-1h.csv.gz` replayed BTC's hours as ETH's."""
    config = write_config(tmp_path, {"symbols": ["ETH/USDT"], "replay": {"data": {"ETH/USDT": str(BUNDLED_BTC)}}})
    result = run_bot("run", "-c", str(config))
    assert_refused(result, "replay.data: ETH/USDT's file BTC_USDT-1h.csv.gz is named for BTC/USDT")
    assert not (tmp_path / "bot.sqlite").exists()


@pytest.mark.parametrize("link", ["hard", "symbolic"])
def test_two_symbols_replayed_from_one_file_under_two_names_are_refused(tmp_path: Path, link: str) -> None:
    # One market twice under two names: a slip in the mapping. A symbolic link was caught by its
    # resolved path; a hard link has a path of its own and ran as two markets.
    btc = tmp_path / "btc.csv.gz"
    btc.write_bytes(BUNDLED_BTC.read_bytes())
    eth = tmp_path / "eth.csv.gz"
    eth.hardlink_to(btc) if link == "hard" else eth.symlink_to(btc)
    config = write_config(tmp_path, {"symbols": ["BTC/USDT", "ETH/USDT"],
                                     "replay": {"data": {"BTC/USDT": str(btc), "ETH/USDT": str(eth)}}})
    result = run_bot("run", "-c", str(config))
    assert_refused(result, "replay.data: BTC/USDT and ETH/USDT are both")
    assert ("are hard links" in result.stderr) == (link == "hard"), result.stderr
    assert not (tmp_path / "bot.sqlite").exists()


@pytest.mark.parametrize("command", [("run",), ("status",)])
def test_a_directory_where_the_database_should_be_is_said_to_be_one(tmp_path: Path, command: tuple) -> None:
    """Its own links counted it as a file of several names: "has 2 names
    (hard links); SQLite keeps a journal per name", about a directory."""
    where = tmp_path / "state" / "bot.sqlite"
    where.mkdir(parents=True)
    refused = run_bot(*command, "-c", str(write_config(tmp_path, {"storage": {"db_url": f"sqlite:///{where}"}})))
    assert_refused(refused, "storage.db_url")
    assert f"{where} is a directory, not a database file" in refused.stderr, refused.stderr
    assert "hard links" not in refused.stderr
    where.rmdir()  # a loop of links: "error: RuntimeError: Symlink loop ...", exit 1
    where.symlink_to(where.with_name("other.sqlite"))
    where.with_name("other.sqlite").symlink_to(where)
    refused = run_bot(*command, "-c", str(tmp_path / "config.yaml"))
    assert_refused(refused, "storage.db_url")
    assert "is a loop of symbolic links" in refused.stderr, refused.stderr
