"""`make bench`: speed and memory of the daemon's hot paths on this machine.

Writes bench/results.json (one key per figure, plus machine and commit).
Figures, not assertions: tests never depend on wall-clock time. Targets and
the peer figures they come from are in ../shared/BENCHMARKS.md.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent

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
    for ts, close, volume in zip(frame.timestamp, frame.close, frame.volume):
        vector = state.update(close, volume)
        if vector is not None:
            rows.append((ts, close, vector))
    return SymbolSeries(np.array([r[0] for r in rows]), np.array([r[1] for r in rows]),
                        np.array([r[2] for r in rows]))


def feature_update() -> dict[str, float]:
    frame = read_ohlcv_csv(BUNDLED)
    state, samples = FeatureState(), []
    for close, volume in zip(frame.close.tolist(), frame.volume.tolist()):
        start = time.perf_counter_ns()
        state.update(close, volume)
        samples.append((time.perf_counter_ns() - start) / 1000)
    return percentiles(samples)


def one_year_retrain() -> dict:
    """One retrain of the default model on a year of 1h bars, as the daemon does it."""
    cfg = ModelConfig()
    data = build_training_set([bundled_series(8760 + 200)], cfg.seq_len, cfg.val_fraction)
    start = time.perf_counter()
    model = SequenceModel(cfg, data.x_train.shape[2])
    metrics = model.fit(data, seed=0)
    return {"seconds": round(time.perf_counter() - start, 2), "windows": len(data.x_train) + len(data.x_val),
            "epochs": metrics["epochs_run"], "threads": cfg.threads}


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
            result[f"torch_batch{batch}"] = timed(lambda: net(xt), runs)
        result[f"onnx_batch{batch}"] = timed(lambda: session.run(None, {"windows": x}), runs)
    return result


def bar_step_latency() -> dict:
    """Features, prediction, strategy, risk and order for one closed bar, no
    network and no database: the engine step with its commit stubbed out."""
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
    return percentiles(samples[500:])


def demo_replay() -> dict:
    """The embedded demo, as `make run` runs it, in a fresh state directory."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "BOT__STORAGE__DB_URL": f"sqlite:///{tmp}/bot.sqlite",
               "BOT__STORAGE__MODELS_DIR": f"{tmp}/models", "BOT__LOGGING__FILE": f"{tmp}/bot.jsonl"}
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bot", "run", "--no-progress"], cwd=REPO, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        report = json.loads(subprocess.run([sys.executable, "-m", "bot", "report", "--json"], cwd=REPO, env=env,
                                           check=True, capture_output=True, text=True).stdout)
    return {"wall_seconds": round(wall, 1), "peak_rss_mb": round(peak_kb / 1024, 1), "bars": report["bars"],
            "bars_per_second": round(report["bars"] / wall, 1), "model_versions": report["model_versions"]}


def main() -> None:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    results = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "torch": torch.__version__},
        "commit": commit,
        "feature_update": feature_update(),
        "bar_step_no_db": bar_step_latency(),
        "inference_default_h32_l1_s48_f10": inference(32, 1, 48, len(FEATURE_NAMES)),
        "inference_reference_h64_l2_s48_f20": inference(64, 2, 48, 20),
        "retrain_one_year_1h": one_year_retrain(),
        "demo_replay": demo_replay(),
    }
    out = REPO / "bench" / "results.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
