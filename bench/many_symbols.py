"""One bar step for 100 symbols on 5m bars: the bar job as the daemon runs
it (fetch, screening, engine step with one batched inference for all
symbols, strategy, risk, paper broker, one SQLite transaction), measured in
CPU time per step once a champion model scores every symbol.

The 100 series are cut from the bundled BTC/USDT hours (each from its own
offset, scaled to its own price) and stamped every five minutes: what the
step costs depends on how many symbols and bars there are, not on where
the prices come from.
"""

from __future__ import annotations

import gzip
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import torch
import yaml

from bot.app.replay import open_replay, resume_clock
from bot.config import load_config
from bot.logging_setup import configure_logging
from bot.market.csv_format import read_ohlcv_csv

REPO = Path(__file__).resolve().parent.parent
BUNDLED = REPO / "data" / "BTC_USDT-1h.csv.gz"
FIVE_MINUTES_MS = 300_000
START_MS = 1_735_689_600_000  # 2025-01-01 00:00 UTC

SYMBOLS = 100
HISTORY_BARS = 800  # per symbol before the measured steps: warm-up and the first model's window
MEASURED_STEPS = 150
RUNS = 3  # fresh runs, their steps pooled


def write_series(directory: Path, symbols: int, bars: int) -> dict[str, str]:
    """One gzip CSV per symbol, as `bot download` writes them."""
    frame = read_ohlcv_csv(BUNDLED)
    files = {}
    for i in range(symbols):
        start = (i * 211) % (len(frame) - bars)
        part = frame.iloc[start : start + bars]
        scale = (1 + i) / part.close.iloc[0] * 10.0
        lines = ["timestamp,open,high,low,close,volume"]
        for k, row in enumerate(part.itertuples()):
            ts = START_MS + k * FIVE_MINUTES_MS
            prices = ",".join(str(p * scale) for p in (row.open, row.high, row.low, row.close))
            lines.append(f"{ts},{prices},{row.volume}")
        path = directory / f"S{i:03d}_USDT-5m.csv.gz"
        with gzip.open(path, "wt") as out:
            out.write("\n".join(lines) + "\n")
        files[f"S{i:03d}/USDT"] = str(path)
    return files


def write_config(directory: Path, files: dict[str, str]) -> Path:
    """The default config, for these symbols on 5m bars, one transaction per
    step as in live mode, the first model trained briefly just before the
    measured steps and no retrain among them."""
    base = yaml.safe_load((REPO / "config.yaml").read_text())
    base.update(
        symbols=list(files),
        strategy={**base["strategy"], "path": str(REPO / "strategies")},
        timeframe="5m",
        replay={"data": files},
        storage={"db_url": f"sqlite:///{directory / 'bot.sqlite'}", "models_dir": str(directory / "models"),
                 "replay_commit_steps": 1},
        logging={**base.get("logging", {}), "file": str(directory / "bot.jsonl")},
    )
    warmup = base.get("features", {}).get("warmup_bars", 60)
    base.setdefault("model", {}).update(epochs=1)
    base["retrain"] = {**base.get("retrain", {}), "initial_train_bars": HISTORY_BARS - warmup - 10,
                       "train_window_bars": HISTORY_BARS - warmup - 10, "every_days": 365}
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(base, sort_keys=False))
    return path


def one_run(symbols: int, measured_steps: int) -> tuple[list[float], list[float], list[int], int]:
    """CPU and wall (ms) and bars of each measured step of one fresh run,
    and the predictions it stored."""
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        bars = HISTORY_BARS + measured_steps
        cfg = load_config(write_config(tmp, write_series(tmp, symbols, bars)))
        configure_logging(cfg.logging.level, cfg.path(cfg.logging.file), console_level="ERROR")
        rt = open_replay(cfg)
        resume_clock(rt)
        delay_ms = round(cfg.schedule.bar_delay_seconds * 1000)
        now = START_MS + FIVE_MINUTES_MS + delay_ms
        cpu, wall, stepped = [], [], []
        for _ in range(bars):
            rt.clock.advance_to(now)
            scoring = rt.engine.predictor is not None  # the step that trains the first model is not measured
            c0, w0 = time.process_time(), time.perf_counter()
            n = rt.bar_job(now)
            c1, w1 = time.process_time(), time.perf_counter()
            if scoring and not rt.retrainer.is_due(now):
                cpu.append((c1 - c0) * 1000)
                wall.append((w1 - w0) * 1000)
                stepped.append(n)
            now += FIVE_MINUTES_MS
        rt.store.close()
        with sqlite3.connect(tmp / "bot.sqlite") as db:
            scored = db.execute("SELECT COUNT(*) FROM predictions WHERE prob_up IS NOT NULL").fetchone()[0]
    if not cpu:
        raise RuntimeError("no step ran with a champion model: nothing was measured")
    return cpu, wall, stepped, scored


def many_symbols_step(symbols: int = SYMBOLS, measured_steps: int = MEASURED_STEPS, runs: int = RUNS) -> dict:
    """The figures over the steps of `runs` fresh runs together: this
    machine's speed moves by a third within minutes, so one run's median
    says as much about the minute as about the code. Each run's own median
    is kept beside them."""
    cpu, wall, stepped, per_run = [], [], [], []
    for _ in range(runs):
        run_cpu, run_wall, run_stepped, scored = one_run(symbols, measured_steps)
        per_run.append(
            {
                "steps_measured": len(run_cpu),
                "cpu_ms_per_step_median": round(statistics.median(run_cpu), 2),
                "predictions_stored": scored,
            }
        )
        cpu += run_cpu
        wall += run_wall
        stepped += run_stepped
    cpu.sort()
    return {
        "what": f"bar job for {symbols} symbols on 5m bars (fetch, screening, engine step with one batched "
        "inference, strategy, risk, paper broker, one SQLite transaction per step), champion scoring every symbol; "
        f"CPU of this process per step, the steps of {runs} fresh runs together",
        "symbols": symbols,
        "steps_measured": len(cpu),
        "bars_per_step_median": statistics.median(stepped),
        "cpu_ms_per_step_median": round(statistics.median(cpu), 2),
        "cpu_ms_per_step_p90": round(cpu[int(len(cpu) * 0.9)], 2),
        "cpu_ms_per_step_p99": round(cpu[min(len(cpu) - 1, int(len(cpu) * 0.99))], 2),
        "wall_ms_per_step_median": round(statistics.median(wall), 2),
        # Bars through the whole step (every symbol's), per CPU-second of this process.
        "bars_per_cpu_second": round(sum(stepped) / (sum(cpu) / 1000), 1),
        "runs": per_run,
    }
