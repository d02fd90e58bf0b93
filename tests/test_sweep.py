"""`bot sweep` on a local Ray: eight cells (two settings of two keys, two
periods); killed part way and started again it runs only the cells it
lacks; a cell's result is what a single `bot backtest` of the same
settings gives."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO, wait_until, write_config
from test_config_errors import run_bot

pytestmark = pytest.mark.slow

PERIODS = ("2023-01-01..2023-02-20", "2023-01-25..2023-03-20")
GRID = ("strategy.params.enter_above=[0.52,0.55]", "risk.stop_loss_pct=[0.01,0.02]")


def sweep_args(config: Path, out: Path) -> list[str]:
    args = ["sweep", "-c", str(config), "--out", str(out), "--workers", "2"]
    for setting in GRID:
        args += ["--set", setting]
    for period in PERIODS:
        args += ["--period", period]
    return args


def finished_cells(out: Path) -> int:
    return len(list((out / "cells").glob("*.json"))) if (out / "cells").is_dir() else 0


def test_an_interrupted_sweep_runs_only_the_missing_cells_and_matches_single_backtests(tmp_path: Path) -> None:
    config, out = write_config(tmp_path), tmp_path / "sweep"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT__")}
    first = subprocess.Popen([sys.executable, "-m", "bot", *sweep_args(config, out)], cwd=REPO, env=env,
                             stdout=subprocess.DEVNULL, stderr=(tmp_path / "first.txt").open("w"),
                             start_new_session=True)  # its own process group: Ray's processes die with it
    try:
        wait_until(lambda: finished_cells(out) >= 2, timeout_s=900, what="two cells to finish", process=first,
                   output=tmp_path / "first.txt", poll_s=0.1)
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the whole sweep, at once
        first.wait(timeout=60)
    done_before = finished_cells(out)
    assert 2 <= done_before < 8

    second = run_bot(*sweep_args(config, out), timeout=1800)
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"{8 - done_before} cells run, {done_before} found finished" in second.stderr
    cells = json.loads((out / "results.json").read_text())["cells"]
    assert len(cells) == 8 == finished_cells(out)
    assert all(c["metrics"]["dsr_trials"] == 8 for c in cells)
    assert (out / "sweep.html").read_text().count('<script type="application/json" class="figure"') == 1

    again = run_bot(*sweep_args(config, out), timeout=600)
    assert again.returncode == 0 and "0 cells run, 8 found finished" in again.stderr, again.stderr[-2000:]

    # The last cell, as one `bot backtest` of the same settings and period.
    cell = cells[-1]
    assert cell["overrides"] == {"strategy.params.enter_above": 0.55, "risk.stop_loss_pct": 0.02}
    single = write_config(tmp_path, {"strategy": {"params": {"enter_above": 0.55}}, "risk": {"stop_loss_pct": 0.02}},
                          name="single.yaml")
    alone = run_bot("backtest", "-c", str(single), "--from", cell["start"], "--to", cell["end"], "--no-baselines",
                    "--json", str(tmp_path / "single.json"), timeout=900)
    assert alone.returncode == 0, alone.stderr[-3000:]
    single_result = json.loads((tmp_path / "single.json").read_text())
    strategy, held = single_result["strategy"], single_result["baselines"]["buy_and_hold"]
    for key in ("total_return", "sharpe", "max_drawdown", "trades", "fees_paid"):
        assert cell["metrics"][key] == strategy[key], key
    assert cell["metrics"]["trades"] > 0
    # Each cell beside buy and hold of its own symbol and traded bars.
    for key in ("total_return", "sharpe", "max_drawdown"):
        assert cell["metrics"][f"buy_and_hold_{key}"] == held[key] is not None, key
    assert "<th>buy and hold</th>" in (out / "sweep.html").read_text()


def test_a_setting_the_config_lacks_is_refused_naming_it(tmp_path: Path) -> None:
    result = run_bot("sweep", "-c", str(write_config(tmp_path)), "--set", "model.hiden_size=[8,16]",
                     "--executor", "local", "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "model.hiden_size" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(("args", "says"), [
    (["--set", "model.hidden_size=[16,-1]"], "--set: model.hidden_size: "),
    (["--set", "model.epochs=abc"], "--set: model.epochs: "),
    (["--set", "model.hidden_size=[]"], "--set model.hidden_size: an empty list leaves no value to try"),
    (["--period", "2023-04-01..2023-01-01"], "--period: the start 2023-04-01 is not before the end 2023-01-01"),
    # Set by each cell itself: the rows all read the config's own file, whatever replay.data said.
    (["--set", 'replay.data=["a.csv","b.csv"]'], "--set replay.data: not a sweep setting"),
    (["--set", "mode=live"], "--set mode: not a sweep setting"),
    # Found in the first cell, as a Ray traceback thousands of characters long.
    (["--set", "strategy.params.enter_abov=[0.5,0.6]"], "strategy.params.enter_abov: Extra inputs are not permitted"),
    (["--period", "2023-01-01..2023-01-02"], "it has 24 bars from --period 2023-01-01 before --period 2023-01-02"),
    (["--set", "retrain.initial_train_bars=[200,99999]"], "but the first model needs 100,000"),
    # The last one won silently, and the same cells counted twice as trials.
    (["--set", "model.epochs=1", "--set", "model.epochs=2"], "--set: model.epochs given more than once"),
    (["--set", "model.epochs=[1,2,1]"], "--set model.epochs: 1 given more than once"),
    (["--symbols", "BTC/USDT,BTC/USDT"], "--symbols: BTC/USDT given more than once"),
    (["--symbols", ","], "--symbols: ',' holds an empty name"),
])
def test_a_value_no_cell_could_run_is_refused_before_any_cell(tmp_path: Path, args: list[str], says: str) -> None:
    """A bad value was found when its cell's turn came, as a crash with
    pydantic's dump; an empty list ran nothing and exited 0."""
    result = run_bot("sweep", "-c", str(write_config(tmp_path)), *args, "--executor", "local",
                     "--out", str(tmp_path / "out"))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and says in lines[0], result.stderr
    assert not (tmp_path / "out").exists()


def test_the_results_are_never_written_through_a_link_onto_the_runs_config(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    before = config.read_text()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "results.json").symlink_to(config)
    result = run_bot("sweep", "-c", str(config), "--executor", "local", "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "--out:" in result.stderr and "is the run's config" in result.stderr
    assert config.read_text() == before


def test_a_section_given_whole_is_merged_into_the_configs_as_an_environment_variable_is(tmp_path: Path) -> None:
    """`--set 'paper={"slippage_bps": 1}'` put every other key of paper back
    to its default (fee_bps 33 became 10)."""
    from bot.backtest.sweep import apply
    from bot.config import load_config

    cfg = load_config(write_config(tmp_path, {"paper": {"fee_bps": 33, "slippage_bps": 5}}))
    changed = apply(cfg, {"paper": {"slippage_bps": 1}})
    assert (changed.paper.fee_bps, changed.paper.slippage_bps) == (33, 1)
    # One level: another strategy comes without the config's strategy's parameters.
    other = apply(cfg, {"strategy": {"name": "edge", "params": {"margin_bps": 5}}})
    assert (other.strategy.name, other.strategy.params) == ("edge", {"margin_bps": 5})
    assert other.strategy.path == cfg.strategy.path


def test_a_cell_is_another_cell_once_its_strategy_file_changes(tmp_path: Path) -> None:
    """The key hashed the bot's own code only: an edited strategy gave the
    cached result of the one before it."""
    import shutil

    from bot.backtest import sweep
    from bot.config import load_config

    strategies = tmp_path / "strategies"
    shutil.copytree(REPO / "strategies", strategies)
    cfg = load_config(write_config(tmp_path, {"strategy": {"path": str(strategies)}}))
    cell = sweep.Cell({}, "BTC/USDT", cfg.replay_csv("BTC/USDT"), None, None)
    before = sweep.cell_key(cfg, cell)
    assert sweep.cell_key(cfg, cell) == before
    with (strategies / "threshold.py").open("a") as file:
        file.write("\n# edited\n")
    sweep._file_digest.cache_clear()  # one process per sweep: a file is read once in it
    sweep._strategies_digest.cache_clear()
    assert sweep.cell_key(cfg, cell) != before


def test_a_damaged_finished_cell_is_computed_again(tmp_path: Path) -> None:
    """A cell file cut short or edited failed the whole sweep with a
    JSONDecodeError naming no file."""
    from bot.backtest.sweep import _finished

    good = tmp_path / "good.json"
    good.write_text(json.dumps({"metrics": {"sharpe": 1.0}, "returns": [0.0, 0.01]}))
    assert _finished(good)
    damage = {"cut.json": "{", "other.json": '{"key": "x"}', "list.json": "[1]", "bytes.json": "\udcff"}
    for name, text in damage.items():
        damaged = tmp_path / name
        damaged.write_text(text, errors="surrogateescape")
        assert not _finished(damaged), name
    assert not _finished(tmp_path / "missing.json")
