"""`make bench`: speed and memory of the daemon's hot paths on this machine.

Writes bench/results.json (one key per figure, plus machine and commit).
Figures, not assertions: tests never depend on wall-clock time. Targets are
in ../shared/BENCHMARKS.md.
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
sys.path.insert(0, str(REPO / "tests"))

from bot.features import FeatureState  # noqa: E402
from bot.market.csv_format import read_ohlcv_csv  # noqa: E402
from bot.model.lstm import LSTMClassifier  # noqa: E402


def percentiles(samples_us: list[float]) -> dict[str, float]:
    ordered = sorted(samples_us)
    return {"p50": round(statistics.median(ordered), 1), "p99": round(ordered[int(len(ordered) * 0.99)], 1)}


def feature_update_us() -> dict[str, float]:
    bars = read_ohlcv_csv(REPO / "data" / "BTC_USDT-1h.csv.gz")
    state, samples = FeatureState(), []
    for close, volume in zip(bars.close.tolist(), bars.volume.tolist()):
        start = time.perf_counter_ns()
        state.update(close, volume)
        samples.append((time.perf_counter_ns() - start) / 1000)
    return percentiles(samples)


def lstm_inference_us(hidden: int, layers: int, seq_len: int, features: int = 10, calls: int = 2000) -> dict:
    torch.set_num_threads(1)
    module = LSTMClassifier(features, hidden, layers, 0.0).eval()
    window = torch.randn(1, seq_len, features)
    samples = []
    with torch.inference_mode():
        for _ in range(200):
            module(window)
        for _ in range(calls):
            start = time.perf_counter_ns()
            module(window)
            samples.append((time.perf_counter_ns() - start) / 1000)
    return percentiles(samples)


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
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    results = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "torch": torch.__version__},
        "commit": commit,
        "feature_update_us": feature_update_us(),
        "lstm_forward_batch1_us_h32_l1_s48": lstm_inference_us(32, 1, 48),
        "lstm_forward_batch1_us_h64_l2_s48": lstm_inference_us(64, 2, 48),
        "demo_replay": demo_replay(),
    }
    out = REPO / "bench" / "results.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    np.random.seed(0)
    main()
