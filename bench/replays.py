"""The whole-process benches: `bot run` as a user runs it, in a subprocess,
on a fresh state directory with its real SQLite file.

- real_replay: the bundled data with no model and no retrain, so each bar
  costs exactly what the daemon spends on a bar (bar job, screening,
  engine step, store commit) and nothing else;
- demo_replay: `make run` itself, retrains included;
- walk_forward: the task ../shared/peers/freqtrade runs with FreqAI.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from measure import ChildRun, bench_env, cpu_per_bar_windows, medians, run_child, sqlite_row_counter

from bot.config import load_config
from bot.market.csv_format import read_ohlcv_csv

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "config.yaml"
BUNDLED = REPO / "data" / "BTC_USDT-1h.csv.gz"

# Each child gets at most this long: a hang must end the bench, not the day.
TIMEOUT_S = float(os.environ.get("BENCH_TIMEOUT_S", "1800"))

RUN_KEYS = ("bars", "cpu_s", "wall_s", "cpu_ms_per_bar", "bars_per_cpu_s", "peak_rss_mb")
FLAT_KEYS = ("first_window_cpu_ms_per_bar", "last_window_cpu_ms_per_bar", "last_over_first", "steady_cpu_ms_per_bar")


def state_env(tmp: Path, **overrides: str) -> dict[str, str]:
    """A run whose database, models and log live in tmp, as demo_replay
    always did: nothing of state/ is read or written."""
    return bench_env(
        BOT__STORAGE__DB_URL=f"sqlite:///{tmp}/bot.sqlite",
        BOT__STORAGE__MODELS_DIR=str(tmp / "models"),
        BOT__LOGGING__FILE=str(tmp / "bot.jsonl"),
        **overrides,
    )


def bot_run(tmp: Path, env: dict[str, str], *args: str) -> ChildRun:
    """`bot run` to the end, its CPU sampled against the bars it commits."""
    cmd = [sys.executable, "-m", "bot", "run", "--no-progress", *args]
    bars = sqlite_row_counter(tmp / "bot.sqlite", "bars")
    return run_child(cmd, cwd=REPO, env=env, log=tmp / "run.log", timeout_s=TIMEOUT_S, progress=bars)


def bot_report(env: dict[str, str], *args: str) -> dict:
    cmd = [sys.executable, "-m", "bot", "report", "--json", *args]
    done = subprocess.run(cmd, cwd=REPO, env=env, check=True, capture_output=True, text=True, timeout=600)
    return json.loads(done.stdout)


def run_figures(run: ChildRun, bars: int, first_model_bar: int = 0) -> dict:
    """One run's figures: totals, per bar, and the flat-cost windows (of the
    bars from the first model on, when the run trains one)."""
    return {
        "bars": bars,
        "cpu_s": run.cpu_s,
        "wall_s": run.wall_s,
        "cpu_ms_per_bar": round(run.cpu_s / bars * 1000, 3) if bars else None,
        "bars_per_cpu_s": round(bars / run.cpu_s, 1) if run.cpu_s else None,
        "peak_rss_mb": run.peak_rss_mb,
        "flat_cost": cpu_per_bar_windows(run.samples, after_bar=first_model_bar),
    }


def summarised(runs: list[dict]) -> dict:
    """Each run, and the median of each figure over them."""
    flat = [r["flat_cost"] for r in runs if r.get("flat_cost")]
    return {
        "median": {**medians(runs, RUN_KEYS), "flat_cost": medians(flat, FLAT_KEYS) if flat else None},
        "runs": runs,
    }


# -- the real replayed bar -------------------------------------------------------


def untrained_limits() -> tuple[int, int]:
    """(retrain.initial_train_bars, --max-bars) for a replay of the whole
    file with no model: an initial_train_bars the data reaches (the replay
    refuses one it cannot), and a run that stops one bar before the first
    training would be due. Its figures have been taken over the same 31,331
    bars since this bench began, so the numbers stay as they were when the
    refusal also counted the warm-up."""
    warmup = load_config(CONFIG).features.warmup_bars
    initial = len(read_ohlcv_csv(BUNDLED)) - warmup - 1
    return initial, initial - 1


def one_real_replay(initial: int, max_bars: int) -> dict:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        env = state_env(tmp, BOT__RETRAIN__INITIAL_TRAIN_BARS=str(initial))
        run = bot_run(tmp, env, "--max-bars", str(max_bars))
        report = bot_report(env)
    if report["model_versions"] or report["predictions"]:
        raise RuntimeError("the no-model replay trained a model: its figures would not be per-bar costs")
    return run_figures(run, report["bars"])


def real_replay(runs: int) -> dict:
    """The bundled data through `bot run` with its store and no model,
    the median of `runs` runs."""
    initial, max_bars = untrained_limits()
    figures = [one_real_replay(initial, max_bars) for _ in range(runs)]
    return {
        "what": "bot run over data/BTC_USDT-1h.csv.gz, config.yaml, fresh SQLite file, no model and no retrain: "
        "bar job, screening, engine step and store commit per bar; CPU = user+sys of the child",
        "max_bars": max_bars,
        **summarised(figures),
    }


# -- the demo ---------------------------------------------------------------------


def demo_replay() -> dict:
    """The embedded demo, as `make run` runs it (retrains and all), in a
    fresh state directory."""
    # Before its first model the demo only observes bars: its first tenth
    # would be cheap bars against the retraining ones of the last.
    first_model_bar = load_config(CONFIG).retrain.initial_train_bars
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        env = state_env(tmp)
        run = bot_run(tmp, env)
        report = bot_report(env)
    return {
        "what": "bot run with config.yaml as make run runs it, retrains included; flat_cost from the first model on",
        **run_figures(run, report["bars"], first_model_bar),
        "model_versions": report["model_versions"],
    }


# -- the walk-forward of the peer's task ------------------------------------------

TRADE_FROM = datetime(2024, 1, 1, tzinfo=UTC)
TRADE_TO = "2025-01-01"  # exclusive: all of 2024, 8,784 bars
TRAIN_WINDOW_BARS = 4320  # FreqAI's train_period_days: 180
RETRAIN_EVERY_DAYS = 30  # FreqAI's backtest_period_days


def walk_forward_config(tmp: Path) -> Path:
    """config.yaml turned into the peer's task, written to tmp. The replay
    starts early enough for the feature warm-up plus 180 days, so the first
    model is trained on 4,320 rows of features and trades from 2024-01-01,
    as FreqAI's first model does; paths are absolute, the file lives in tmp."""
    data = yaml.safe_load(CONFIG.read_text())
    warmup = data["features"]["warmup_bars"]
    observed = TRAIN_WINDOW_BARS + warmup
    start = TRADE_FROM - timedelta(hours=observed)
    data["replay"].update(data=str(BUNDLED), start=start.strftime("%Y-%m-%dT%H:%M"), end=TRADE_TO)
    data["retrain"].update(
        every_days=RETRAIN_EVERY_DAYS, train_window_bars=TRAIN_WINDOW_BARS, initial_train_bars=observed
    )
    data["storage"] = {"db_url": f"sqlite:///{tmp}/bot.sqlite", "models_dir": str(tmp / "models")}
    data["logging"]["file"] = str(tmp / "bot.jsonl")
    data["strategy"]["path"] = str(REPO / "strategies")
    path = tmp / "walk_forward.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def fills_digest(db: Path) -> str:
    """One hash of every fill: equal hashes, identical trading."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT ts, symbol, side, qty, price, fee, realized_pnl FROM fills ORDER BY id").fetchall()
    return hashlib.sha256(repr(rows).encode()).hexdigest()[:16]


def models_trained(db: Path) -> int:
    """Networks fitted: distinct training windows. A retrain also stores
    the champion recalibrated as a version of its own, on the champion's
    window, so the version count says about twice as much."""
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT count(DISTINCT train_from_ts || '-' || train_to_ts) FROM model_versions"
        ).fetchone()[0]


def one_walk_forward() -> dict:
    """One walk-forward run, single-threaded as the peer is."""
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        config = walk_forward_config(tmp)
        env = bench_env(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        run = run_child(
            [sys.executable, "-m", "bot", "run", "--no-progress", "-c", str(config)],
            cwd=REPO,
            env=env,
            log=tmp / "run.log",
            timeout_s=TIMEOUT_S,
        )
        report = bot_report(env, "-c", str(config))
        digest, trained = fills_digest(tmp / "bot.sqlite"), models_trained(tmp / "bot.sqlite")
    return {
        "cpu_s": run.cpu_s,
        "wall_s": run.wall_s,
        "peak_rss_mb": run.peak_rss_mb,
        "bars": report["bars"],
        "models_trained": trained,
        "model_versions": report["model_versions"],
        "trades": report["trades"],
        "total_return": report["total_return"],
        "fills_digest": digest,
        "report": report,
    }


def identical(runs: list[dict]) -> bool:
    """Whether every run traded and reported exactly as the first."""
    return all(r["fills_digest"] == runs[0]["fills_digest"] and r["report"] == runs[0]["report"] for r in runs)


def walk_forward(runs: int = 2) -> dict:
    figures = [one_walk_forward() for _ in range(runs)]
    return {
        "what": "bot run, config.yaml with the peer's task: BTC/USDT 1h, trading 2024, 4,320-bar rolling window, "
        "retrain every 30 days, OMP_NUM_THREADS=1; CPU and peak RSS of the child",
        "median": medians(figures, ("cpu_s", "wall_s", "peak_rss_mb")),
        "identical_run_to_run": identical(figures),
        "runs": [{k: v for k, v in r.items() if k != "report"} for r in figures],
    }
