"""`bot backtest`: the daemon's replay, walk-forward, with baselines. Its
strategy run is the replay `bot run` makes, order for order; its result
does not depend on how many processes ran the variants."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import BUNDLED_BTC, rows, write_config
from test_config_errors import assert_refused, run_bot

ORDERS = ("SELECT id, symbol, side, kind, qty, stop_price, limit_price, created_ts, status, closed_ts FROM orders "
          "ORDER BY id")
FILLS = "SELECT order_id, side, qty, price, fee, ts, realized_pnl FROM fills ORDER BY id"
METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "brier", "log_loss",
           "total_return", "cagr", "sharpe", "sortino", "max_drawdown", "calmar", "win_rate", "profit_factor",
           "trades", "exposure", "turnover", "fees_paid", "psr")
QUALITY = ("ic", "rank_ic", "accuracy_decile", "hit_rate_decile", "accuracy_quintile", "hit_rate_quintile",
           "ece_median", "calibration", "timing_p_value", "dsr")


@pytest.fixture(scope="module")
def backtests(tiny_run: Path, tmp_path_factory) -> dict[int, tuple[Path, dict]]:
    """The tiny run's config backtested with 2 worker processes and with 1."""
    out = {}
    for workers in (2, 1):
        directory = tmp_path_factory.mktemp(f"backtest{workers}")
        result = run_bot("backtest", "-c", str(tiny_run / "config.yaml"), "--workers", str(workers),
                         "--out-dir", str(directory), "--json", str(directory / "result.json"),
                         "--html", str(directory / "report.html"), timeout=900)
        assert result.returncode == 0, result.stderr
        out[workers] = directory, json.loads((directory / "result.json").read_text())
    return out


def test_backtest_orders_and_fills_equal_the_replay_daemons(tiny_run: Path, backtests) -> None:
    directory, _ = backtests[2]
    daemon, backtest = tiny_run / "bot.sqlite", directory / "strategy" / "bot.sqlite"
    assert rows(daemon, FILLS) and rows(backtest, FILLS) == rows(daemon, FILLS)
    assert rows(backtest, ORDERS) == rows(daemon, ORDERS)


def test_json_has_every_variant_and_metric(backtests) -> None:
    _, result = backtests[2]
    assert set(result["baselines"]) == {"buy_and_hold", "flat", "logistic", "random_forest", "gru", "lightgbm"}
    for name, metrics in [("strategy", result["strategy"]), *result["baselines"].items()]:
        assert set(METRICS) <= set(metrics), name
    for name in ("strategy", "logistic", "random_forest", "gru", "lightgbm"):
        metrics = result["strategy"] if name == "strategy" else result["baselines"][name]
        assert set(QUALITY) <= set(metrics), name
        assert metrics["rank_ic"] is not None and metrics["accuracy_decile"] is not None, name
        assert metrics["calibration"] and {"version", "n", "ece"} <= set(metrics["calibration"][0]), name
        assert metrics["dsr_trials"] == 5
    assert result["strategy"]["timing_p_value"] is not None
    assert "rank_ic" not in result["baselines"]["buy_and_hold"]
    assert result["strategy"]["trades"] > 0 and result["strategy"]["roc_auc"] is not None
    assert result["baselines"]["flat"]["total_return"] == 0.0
    assert result["baselines"]["buy_and_hold"]["accuracy"] is None  # no model, no predictions
    for name, metrics in [("strategy", result["strategy"]), *result["baselines"].items()]:
        # Every return is its final equity over the starting cash, costs paid
        # included: buy and hold's left out its entry fee and slippage.
        expected = metrics["final_equity"] / 10_000 - 1
        assert metrics["total_return"] == pytest.approx(expected, rel=0, abs=1e-12), name
    assert result["baselines"]["buy_and_hold"]["fees_paid"] > 0
    assert set(result["data"]) == {"symbol", "from", "to", "bars", "data_quality"}
    assert result["data"]["symbol"] == "BTC/USDT" and result["data"]["data_quality"]["gap_unfilled"] == 1
    assert result["config"]["model"]["kind"] == "lstm"


def test_the_result_does_not_depend_on_the_number_of_processes(backtests) -> None:
    (_, two), (_, one) = backtests[2], backtests[1]
    two.pop("wall_seconds"), one.pop("wall_seconds")
    assert two == one


def test_model_baselines_walk_forward_like_the_strategy(backtests) -> None:
    directory, _ = backtests[2]
    cadence = "SELECT created_ts, kind FROM model_versions ORDER BY created_ts"
    strategy = rows(directory / "strategy" / "bot.sqlite", cadence)
    for name in ("logistic", "random_forest", "gru", "lightgbm"):
        baseline = rows(directory / name / "bot.sqlite", cadence)
        assert [ts for ts, _ in baseline] == [ts for ts, _ in strategy]  # retrained at the same times
        assert {kind for _, kind in baseline} == {name}


def test_html_report_is_written(backtests) -> None:
    directory, _ = backtests[2]
    html = (directory / "report.html").read_text()
    # Seven interactive figures, plus the regime chart as an image.
    assert html.count('<script type="application/json" class="figure"') == 7 and "random_forest" in html
    assert '<img alt="Close price and the turbulent-regime probability" src="data:image/png;base64,' in html
    assert "Round trips of the strategy" in html and "Monthly returns" in html
    assert "Model quality" in html and "lightgbm" in html and "Calibration of each retrain" in html
    # The tiny run trades a few weeks: its annualised figures come with the span they rest on.
    _, result = backtests[2]
    days = result["data"]["bars"] / 24
    assert days < 90 and f"A short window: {days:.1f} days ({result['data']['bars']:,} traded bars" in html


def test_an_environment_override_reaches_the_backtest_but_not_each_variants_own_paths(tmp_path: Path,
                                                                                      monkeypatch) -> None:
    """BOT__STORAGE__DB_URL once made every variant write to one database."""
    from bot.backtest.runner import BacktestSpec, model_variants, variant_config
    from bot.config import Config, load_config

    monkeypatch.setenv("BOT__STORAGE__DB_URL", f"sqlite:///{tmp_path / 'shared.sqlite'}")
    monkeypatch.setenv("BOT__MODEL__EPOCHS", "4")
    cfg = load_config(write_config(tmp_path))
    assert cfg.storage.db_url.endswith("shared.sqlite") and cfg.model.epochs == 4  # the environment applies
    spec = BacktestSpec(BUNDLED_BTC, "BTC/USDT", None, None, tmp_path / "variants", workers=1)
    urls = set()
    for name, kind in model_variants(cfg).items():
        variant = variant_config(cfg, spec, name, kind)
        in_worker = Config.exactly(json.loads(variant.model_dump_json()))  # what run_variant rebuilds
        assert in_worker.db_url == variant.db_url and in_worker.model.epochs == 4 and in_worker.model.kind == kind
        urls.add(variant.db_url)
    assert len(urls) == len(model_variants(cfg)) and not any("shared" in url for url in urls)


def test_backtest_variants_never_ask_for_more_torch_threads_than_cores(tmp_path: Path) -> None:
    import os

    from bot.backtest.runner import BacktestSpec, model_variants, variant_config
    from bot.config import load_config

    cores = os.cpu_count() or 1
    cfg = load_config(write_config(tmp_path, {"model": {"threads": 8}}))
    for workers in (1, 2, cores + 3):
        spec = BacktestSpec(BUNDLED_BTC, "BTC/USDT", None, None, tmp_path / "v", workers=workers)
        for name, kind in model_variants(cfg).items():
            threads = variant_config(cfg, spec, name, kind).model.threads
            assert threads >= 1 and (threads * workers <= cores or threads == 1), (workers, threads)


@pytest.mark.parametrize("closes", [[100.0], [100.0, 110.0, 121.0]])
def test_buy_and_hold_shows_in_its_equity_every_cost_it_paid(closes: list[float]) -> None:
    """Over a single traded bar it reported a fee paid with a return of
    0%: bought at the only close, it was never held."""
    import pandas as pd

    from bot.backtest.runner import _buy_and_hold
    from bot.config import Config

    cfg = Config()
    stamps = [3_600_000 * i for i in range(len(closes))]
    prices = pd.DataFrame({"ts": stamps, "symbol": "BTC/USDT", "close": closes})
    held = _buy_and_hold(prices, pd.Series(cfg.paper.initial_cash, index=stamps, dtype=float), cfg)
    cash, fees = cfg.paper.initial_cash, float(held.fills["fee"].sum()) if len(held.fills) else 0.0
    assert held.name == "buy_and_hold" and held.equity.iloc[0] == cash
    if len(closes) == 1:
        assert held.fills.empty and list(held.equity) == [cash]
    else:
        # Its units are worth the last close, after the fee and slippage of the buy.
        units = float(held.fills["qty"].iloc[0])
        assert fees > 0 and held.equity.iloc[-1] == pytest.approx(units * closes[-1])
        assert held.equity.iloc[-1] < cash * closes[-1] / closes[0]


def test_an_out_dir_that_holds_the_runs_own_database_is_refused(tmp_path: Path) -> None:
    """Each variant wipes <out-dir>/<variant>/ first: a run whose database
    lay in <out-dir>/strategy/ lost its history to the backtest's."""
    (tmp_path / "strategy").mkdir()
    config = write_config(tmp_path / "strategy")
    result = run_bot("backtest", "-c", str(config), "--workers", "1", "--no-baselines", "--out-dir", str(tmp_path))
    assert_refused(result, "--out-dir")
    assert "is the run's database, which the strategy variant would wipe" in result.stderr


def test_an_out_dir_that_holds_another_runs_models_is_refused(tiny_run: Path, tmp_path: Path) -> None:
    """A variant wipes the model versions in <out-dir>/<variant>/models
    first: only those of its own earlier run there (RUN_ID in the bot.sqlite
    beside), never another run's."""
    models = tmp_path / "out" / "strategy" / "models"
    shutil.copytree(tiny_run / "models", models)
    before = {p: p.read_bytes() for p in models.rglob("*") if p.is_file()}
    (tmp_path / "run").mkdir()
    result = run_bot("backtest", "-c", str(write_config(tmp_path / "run")), "--workers", "1", "--no-baselines",
                     "--out-dir", str(tmp_path / "out"))
    assert_refused(result, "--out-dir")
    assert "holds the models of run " in result.stderr, result.stderr
    assert {p: p.read_bytes() for p in models.rglob("*") if p.is_file()} == before


def test_a_variant_database_another_process_holds_is_refused_and_left_alone(tmp_path: Path) -> None:
    """Two backtests into one --out-dir wiped and rewrote each other's
    variants, and each reported what the other had run (exit 0 both)."""
    import sqlite3

    from bot.writer_lease import take_lease

    held = tmp_path / "out" / "strategy" / "bot.sqlite"
    lease = take_lease(f"sqlite:///{held}", "another bot backtest", 0)
    with sqlite3.connect(held) as conn:
        conn.execute("CREATE TABLE theirs (x)")
    (tmp_path / "run").mkdir()
    try:
        result = run_bot("backtest", "-c", str(write_config(tmp_path / "run")), "--workers", "1", "--no-baselines",
                         "--out-dir", str(tmp_path / "out"))
    finally:
        lease.release()
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"refused: {held} is in use by another bot backtest")
    assert rows(held, "SELECT name FROM sqlite_master") == [("theirs",)]


def test_faults_in_the_data_are_reported_beside_the_figures(tmp_path: Path) -> None:
    """A file with a 30-bar hole was backtested without a word of it in the
    console, the JSON or the HTML: the events were in a variant's database,
    deleted with the temporary directory."""
    import pandas as pd

    from bot.market.csv_format import read_ohlcv_csv

    frame = read_ohlcv_csv(BUNDLED_BTC)
    start = int(pd.Timestamp("2023-02-10", tz="UTC").value // 10**6)
    holed = frame[~frame.timestamp.between(start, start + 29 * 3_600_000)]
    data = tmp_path / "holed.csv"
    holed.to_csv(data, index=False)
    result = run_bot("backtest", "-c", str(write_config(tmp_path)), "--workers", "1", "--no-baselines",
                     "--data", str(data), "--symbol", "BTC/USDT", "--json", str(tmp_path / "r.json"),
                     "--html", str(tmp_path / "r.html"), timeout=900)
    assert result.returncode == 0, result.stderr
    quality = json.loads((tmp_path / "r.json").read_text())["data"]["data_quality"]
    # The hole, and the bundled hours' own (binance served no bar for 2023-03-24 13:00).
    first, last = (int(pd.Timestamp(t, tz="UTC").value // 10**6) for t in ("2023-01-01", "2023-03-25T08:00"))
    replayed = holed.timestamp[holed.timestamp.between(first, last)]  # the test config's replay range
    holes = int((replayed.diff() > 3_600_000).sum())
    assert holes == 2 and quality["gap_unfilled"] == holes and quality["bar_rejected"] == 0, quality
    said = " ".join(result.stdout.split())
    assert "The data had faults (rejected bars 0, conflicting duplicates 0, gaps waited for" in said
    assert "gaps unfilled 2," in said and "gaps unfilled 2," in (tmp_path / "r.html").read_text()


def test_variants_that_stepped_different_bars_are_refused(tmp_path: Path) -> None:
    """Each variant replays the data file on its own: one replaced during the
    backtest gave the later variants other bars, reported beside the
    strategy's as the same market and period, exit 0."""
    from test_store import first_step, second_step

    from bot.backtest.runner import _refuse_different_bars
    from bot.market.errors import DataFileError
    from bot.store import Store

    urls = {name: f"sqlite:///{tmp_path / name}.sqlite" for name in ("strategy", "logistic", "gru")}
    for name, url in urls.items():
        store = Store(url)
        store.commit_step(first_step())
        if name == "gru":  # read the file after it had grown
            store.commit_step(second_step())
        store.close()
    with pytest.raises(DataFileError, match="the data changed while the backtest ran: .* the gru variant"):
        _refuse_different_bars(urls)
    _refuse_different_bars({k: v for k, v in urls.items() if k != "gru"})  # the same bars: nothing said


def test_a_backtest_of_several_symbols_says_it_tests_the_first_alone(tmp_path: Path) -> None:
    """An ETH and SOL config was backtested on ETH alone without a word."""
    from bot.cli.backtest import one_symbol_note
    from bot.config import load_config

    data = {"BTC/USDT": str(BUNDLED_BTC), "ETH/USDT": str(BUNDLED_BTC.with_name("copy.csv.gz"))}
    cfg = load_config(write_config(tmp_path, {"symbols": list(data), "replay": {"data": data}}))
    said = one_symbol_note(cfg, None, None)
    assert said is not None and said.startswith("backtesting BTC/USDT alone, the first of symbols (ETH/USDT not")
    assert one_symbol_note(cfg, None, "ETH/USDT") is None  # chosen on purpose
    (tmp_path / "one").mkdir()
    assert one_symbol_note(load_config(write_config(tmp_path / "one")), None, None) is None  # one symbol: no note
