"""`make bench`: speed and memory of the daemon on this machine.

Whole processes first (bench/replays.py): the real replayed bar, the demo,
the walk-forward of the peer's task. Then the micro figures of the hot
paths: feature update, inference, one retrain, the engine step alone, and
one step of the bar job for 100 symbols on 5m bars.

Writes bench/results.json: one key per figure, each with what was measured
(commit, machine, date, load). `--only a,b` measures some and merges them
into the file; `make bench-peer` adds the `peer` key (bench/peer.py).
Figures, not assertions: tests never depend on wall-clock time. Targets and
the peer figures they come from are in ../shared/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent

# Beside this file: run as a script, bench/ is first on sys.path.
import replays  # noqa: E402
from demo_split import demo_split  # noqa: E402
from many_symbols import many_symbols_step  # noqa: E402
from measure import provenance  # noqa: E402

from bot.config import ModelConfig  # noqa: E402
from bot.features import FEATURE_NAMES, FeatureState  # noqa: E402
from bot.market.csv_format import read_ohlcv_csv  # noqa: E402
from bot.model.dataset import SymbolSeries, build_training_set  # noqa: E402
from bot.model.networks import RecurrentNet  # noqa: E402
from bot.model.sequence_model import SequenceModel, _onnx_session  # noqa: E402

BUNDLED = REPO / "data" / "BTC_USDT-1h.csv.gz"


def percentiles(samples_us: list[float]) -> dict[str, float]:
    ordered = sorted(samples_us)
    return {"p50_us": round(statistics.median(ordered), 1), "p99_us": round(ordered[int(len(ordered) * 0.99)], 1)}


def timed(call, runs: int, warmup: int = 100) -> dict[str, float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - start) / 1000)
    return percentiles(samples)


def bundled_series(bars: int | None = None) -> SymbolSeries:
    frame = read_ohlcv_csv(BUNDLED)
    frame = frame if bars is None else frame.iloc[:bars]
    state, rows = FeatureState(), []
    for ts, close, volume in zip(frame.timestamp, frame.close, frame.volume, strict=True):
        vector = state.update(close, volume)
        if vector is not None:
            rows.append((ts, close, vector))
    return SymbolSeries(np.array([r[0] for r in rows]), np.array([r[1] for r in rows]),
                        np.array([r[2] for r in rows]))


def feature_update() -> dict[str, float]:
    frame = read_ohlcv_csv(BUNDLED)
    state, samples = FeatureState(), []
    for close, volume in zip(frame.close.tolist(), frame.volume.tolist(), strict=True):
        start = time.perf_counter_ns()
        state.update(close, volume)
        samples.append((time.perf_counter_ns() - start) / 1000)
    return percentiles(samples)


def one_year_retrain() -> dict:
    """One retrain of the default model on a year of 1h bars, as the daemon
    does it; CPU is this process's, every training thread included."""
    cfg = ModelConfig()
    data = build_training_set([bundled_series(8760 + 200)], cfg.seq_len, cfg.val_fraction)
    cpu, start = time.process_time(), time.perf_counter()
    model = SequenceModel(cfg, data.x_train.shape[2])
    metrics = model.fit(data, seed=0)
    return {"wall_s": round(time.perf_counter() - start, 2), "cpu_s": round(time.process_time() - cpu, 2),
            "windows": len(data.x_train) + len(data.x_val), "epochs": metrics["epochs_run"], "threads": cfg.threads}


def inference(hidden: int, layers: int, seq_len: int, features: int) -> dict:
    """Batch 1 and batch 64 forward passes, torch eager and ONNX Runtime, one thread."""
    torch.set_num_threads(1)
    cfg = ModelConfig(hidden_size=hidden, num_layers=layers, seq_len=seq_len)
    model = SequenceModel(cfg, features)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "net.onnx").write_bytes(model._onnx_bytes())
        session = _onnx_session(Path(tmp) / "net.onnx")
    net: RecurrentNet = model.net.eval()
    result = {}
    for batch in (1, 64):
        x = np.random.default_rng(0).standard_normal((batch, seq_len, features)).astype(np.float32)
        xt = torch.from_numpy(x)
        runs = 3000 if batch == 1 else 500
        with torch.inference_mode():
            result[f"torch_batch{batch}"] = timed(lambda xt=xt: net(xt), runs)
        result[f"onnx_batch{batch}"] = timed(lambda x=x: session.run(None, {"windows": x}), runs)
    return result


def engine_step_only() -> dict:
    """Engine.step alone: features, prediction, strategy, risk and order for
    one closed bar, with the store commit stubbed out. No bar job, no
    screening, no database: a lower bound, not the replayed bar."""
    sys.path.insert(0, str(REPO / "bench"))
    from support import engine_without_database

    from bot.logging_setup import configure_logging

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        # As in the daemon: each step's event goes to the JSON-lines file.
        configure_logging("INFO", Path(tmp) / "bench.jsonl", console_level="ERROR")
        engine, bars = engine_without_database(REPO, Path(tmp))
        samples = []
        for bar in bars:
            engine.clock.advance_to(bar.ts + 3_600_000)
            start = time.perf_counter_ns()
            engine.step([bar])
            samples.append((time.perf_counter_ns() - start) / 1000)
    return {"what": "Engine.step only, store commit stubbed, no bar job/screening/SQLite: not the real bar",
            **percentiles(samples[500:])}


def sections(runs: int) -> dict[str, Callable[[], dict]]:
    """Every figure by its key in results.json, in the order measured: the
    whole processes first, on a machine not yet warmed by the micro ones."""
    return {
        "real_replay": lambda: replays.real_replay(runs),
        "demo_replay": replays.demo_replay,
        "demo_cost_split": demo_split,
        "walk_forward": lambda: replays.walk_forward(2),
        "feature_update": feature_update,
        "engine_step_only_no_db": engine_step_only,
        "many_symbols_5m_step": many_symbols_step,
        f"inference_default_h32_l1_s48_f{len(FEATURE_NAMES)}": lambda: inference(32, 1, 48, len(FEATURE_NAMES)),
        "inference_reference_h64_l2_s48_f20": lambda: inference(64, 2, 48, 20),
        "retrain_one_year_1h": one_year_retrain,
    }


def measured(measure: Callable[[], dict]) -> dict:
    """A figure with what it was measured on, taken before it starts."""
    where = provenance(REPO)
    return {"measured": where, **measure()}


def write_results(results: dict, merge: bool) -> None:
    """A full run replaces the file, keeping only the peer comparison
    (make bench-peer's, with its own provenance); --only merges."""
    out = REPO / "bench" / "results.json"
    old = json.loads(out.read_text()) if out.exists() else {}
    kept = old if merge else {k: v for k, v in old.items() if k == "peer"}
    out.write_text(json.dumps({**kept, **results}, indent=2) + "\n")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "3")),
                        help="runs of the real replay, median reported (env BENCH_RUNS, default 3)")
    parser.add_argument("--only", help="comma-separated keys to measure, merged into results.json")
    return parser.parse_args()


def main() -> None:
    args = arguments()
    chosen = sections(args.runs)
    if args.only:
        names = args.only.split(",")
        unknown = set(names) - set(chosen)
        if unknown:
            sys.exit(f"unknown: {', '.join(sorted(unknown))}; known: {', '.join(chosen)}")
        chosen = {name: chosen[name] for name in names}
    results = {}
    for name, measure in chosen.items():
        print(f"measuring {name}", file=sys.stderr, flush=True)
        results[name] = measured(measure)
    write_results(results, merge=bool(args.only))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
