"""Where the demo's CPU per bar goes over its run: the bar steps, and the
retrains between them, each tenth of the traded bars apart.

The demo's CPU per bar is mostly retraining (about four fifths), and a
retrain's cost depends on how many epochs early stopping lets it run (3 to
6 here), so the demo's first and last tenths can differ by a third while
nothing grows with the run. This figure tells the two apart: the bar job is
driven here as the replay's scheduler drives it, with the retrainer's CPU
timed on its own, so "step" is every bar's cost without the training.

CPU per bar on this machine moves by a tenth or more from minute to
minute, so each tenth also records what would grow if something per bar
grew with the run, and which no noise moves: the live Python objects and
the process's resident memory at its end (counted outside the timed steps).
"""

from __future__ import annotations

import gc
import resource
import tempfile
import time
from pathlib import Path

import torch
import yaml
from rich.console import Console

from bot.app.replay import open_replay, resume_clock
from bot.config import load_config
from bot.logging_setup import configure_logging

REPO = Path(__file__).resolve().parent.parent
TENTHS = 10


def demo_config(tmp: Path) -> Path:
    """config.yaml with its state in tmp and its paths absolute."""
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    data["storage"] = {"db_url": f"sqlite:///{tmp / 'bot.sqlite'}", "models_dir": str(tmp / "models")}
    data["logging"]["file"] = str(tmp / "bot.jsonl")
    data["strategy"]["path"] = str(REPO / "strategies")
    data["replay"]["data"] = str(REPO / data["replay"]["data"])
    path = tmp / "demo.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def footprint() -> tuple[int, float]:
    """(live objects the collector tracks, resident memory now in MB)."""
    with open("/proc/self/statm") as f:
        resident_pages = int(f.read().split()[1])
    return len(gc.get_objects()), resident_pages * resource.getpagesize() / 2**20


def timed_run(cfg, samples: int = 100) -> tuple[list[tuple[int, float]], list[tuple[int, float]], list[tuple]]:
    """(bars so far, CPU seconds) of every firing's steps and of every
    retrain, and (bars so far, live objects, resident MB) about `samples`
    times over the run."""
    rt = open_replay(cfg)
    resume_clock(rt)
    job, retrainer = rt.bar_job, rt.bar_job.retrainer
    retrains: list[tuple[int, float]] = []
    train = job.run_retrain

    def timed_retrain(now_ms: int):
        start = time.process_time()
        try:
            return train(now_ms)
        finally:
            retrains.append((job.bars_processed, time.process_time() - start))

    job.run_retrain = timed_retrain
    retrainer.on_start = lambda text: None
    steps: list[tuple[int, float]] = []
    sizes: list[tuple] = []
    delay_ms = round(cfg.schedule.bar_delay_seconds * 1000)
    last = rt.feed.last_ts()
    now = rt.feed.first_ts() + cfg.timeframe_ms + delay_ms
    every = max(1, (last - now) // cfg.timeframe_ms // samples)
    while now <= last + cfg.timeframe_ms + delay_ms:
        rt.clock.advance_to(now)
        trained = len(retrains)
        start = time.process_time()
        job(now)
        spent = time.process_time() - start
        steps.append((job.bars_processed, spent - sum(c for _, c in retrains[trained:])))
        if len(steps) % every == 0:
            sizes.append((job.bars_processed, *footprint()))
        now += cfg.timeframe_ms
    rt.store.close()
    return steps, retrains, sizes


def newest_size(sizes: list[tuple], upto: float) -> tuple[int, float]:
    """(live objects, resident MB) of the newest sample at or before bar `upto`."""
    taken = [(objects, mb) for bars, objects, mb in sizes if bars <= upto]
    return taken[-1] if taken else sizes[0][1:]


def per_bar(samples: list[tuple[int, float]], lo: float, hi: float) -> float:
    return sum(c for b, c in samples if lo < b <= hi) / (hi - lo) * 1000


def demo_split() -> dict:
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as name:
        cfg = load_config(demo_config(Path(name)))
        configure_logging(cfg.logging.level, cfg.path(cfg.logging.file), console_level="ERROR")
        with Console(quiet=True).capture():
            steps, retrains, sizes = timed_run(cfg)
    if not retrains:
        raise RuntimeError("the demo trained no model: nothing to split")
    first, last = retrains[0][0], steps[-1][0]
    width = (last - first) / TENTHS
    tenths = []
    for k in range(TENTHS):
        lo, hi = first + k * width, first + (k + 1) * width
        step, retrain = per_bar(steps, lo, hi), per_bar(retrains, lo, hi)
        objects, resident_mb = newest_size(sizes, hi)
        tenths.append(
            {
                "step_cpu_ms_per_bar": round(step, 3),
                "retrain_cpu_ms_per_bar": round(retrain, 3),
                "all_cpu_ms_per_bar": round(step + retrain, 3),
                "live_objects_at_end": objects,
                "resident_mb_at_end": round(resident_mb, 1),
            }
        )
    head, tail = tenths[0], tenths[-1]
    return {
        "what": "the demo (config.yaml) driven in-process as its replay runs, from the first model on, in tenths "
        "of its traded bars: CPU per bar of the bar steps and of the retrains between them",
        "bars_traded": last - first,
        "retrains": len(retrains),
        "retrain_cpu_s": [round(c, 2) for _, c in retrains],
        "tenths": tenths,
        "step_last_over_first": round(tail["step_cpu_ms_per_bar"] / head["step_cpu_ms_per_bar"], 3),
        "all_last_over_first": round(tail["all_cpu_ms_per_bar"] / head["all_cpu_ms_per_bar"], 3),
        "live_objects_last_over_first": round(tail["live_objects_at_end"] / head["live_objects_at_end"], 3),
        "resident_mb_last_over_first": round(tail["resident_mb_at_end"] / head["resident_mb_at_end"], 3),
    }
