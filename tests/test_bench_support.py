"""`make bench` is not part of CI, so this keeps its harness from rotting:
the engine its step figure builds must step bars and score them, and the
arithmetic behind its figures must say what it claims. No timing here."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from helpers import REPO

sys.path.insert(0, str(REPO / "bench"))
try:
    import measure
    import reference
    import replays
    from many_symbols import many_symbols_step
    from support import engine_without_database
finally:
    sys.path.remove(str(REPO / "bench"))


def test_bench_engine_steps_and_predicts(tmp_path: Path) -> None:
    engine, bars = engine_without_database(REPO, tmp_path)
    predicted = 0
    for bar in bars[:50]:
        engine.clock.advance_to(bar.ts + 3_600_000)
        predicted += len(engine.step([bar]).predictions)
    assert predicted == 50


def run_samples(costs_ms: list[float], startup_s: float = 5.0, teardown_s: float = 3.0) -> list[tuple[float, int]]:
    """Samples of a run that spends startup_s before its first bar, then
    100 bars per sample at the given per-bar costs, then teardown_s."""
    samples, cpu, bars = [(0.5, 0)], startup_s, 0
    for cost in costs_ms:
        cpu, bars = cpu + 100 * cost / 1000, bars + 100
        samples.append((cpu, bars))
    samples.append((cpu + teardown_s, bars))
    return samples


def test_the_many_symbols_figure_measures_steps_that_score_every_symbol() -> None:
    figure = many_symbols_step(symbols=3, measured_steps=20, runs=2)
    assert figure["symbols"] == 3 and figure["bars_per_step_median"] == 3
    assert len(figure["runs"]) == 2
    assert figure["steps_measured"] == sum(run["steps_measured"] for run in figure["runs"])
    for run in figure["runs"]:
        assert run["steps_measured"] >= 20
        # Every measured step scored all three: the model's first step is not among them.
        assert run["predictions_stored"] >= 3 * run["steps_measured"]


def test_a_flat_cost_reads_as_equal_windows_without_startup_or_teardown() -> None:
    windows = measure.cpu_per_bar_windows(run_samples([2.0] * 50))
    assert windows is not None
    assert windows["first_window_cpu_ms_per_bar"] == pytest.approx(2.0)
    assert windows["last_window_cpu_ms_per_bar"] == pytest.approx(2.0)
    assert windows["steady_cpu_ms_per_bar"] == pytest.approx(2.0)
    assert windows["last_over_first"] == pytest.approx(1.0)


def test_a_cost_that_grows_shows_in_the_last_window() -> None:
    windows = measure.cpu_per_bar_windows(run_samples([1.0] * 25 + [3.0] * 25))
    assert windows is not None
    assert windows["first_window_cpu_ms_per_bar"] == pytest.approx(1.0)
    assert windows["last_window_cpu_ms_per_bar"] == pytest.approx(3.0)
    assert windows["last_over_first"] == pytest.approx(3.0)


def test_bars_before_the_first_model_can_be_left_out() -> None:
    # 2,000 cheap observed bars, then a costlier traded part that is flat.
    windows = measure.cpu_per_bar_windows(run_samples([0.5] * 20 + [4.0] * 50), after_bar=2_000)
    assert windows is not None
    assert windows["first_window_cpu_ms_per_bar"] == pytest.approx(4.0)
    assert windows["last_over_first"] == pytest.approx(1.0)


def test_too_few_samples_give_no_windows() -> None:
    assert measure.cpu_per_bar_windows([]) is None
    assert measure.cpu_per_bar_windows(run_samples([2.0] * 2)) is None


def test_medians_skip_runs_without_the_figure() -> None:
    runs = [{"cpu_s": 3.0, "wall_s": None}, {"cpu_s": 1.0}, {"cpu_s": 2.0}]
    assert measure.medians(runs, ["cpu_s", "wall_s"]) == {"cpu_s": 2.0, "wall_s": None}


def test_a_running_process_has_cpu_time() -> None:
    sum(i * i for i in range(200_000))
    cpu = measure.process_cpu_s(os.getpid())
    assert cpu is None or cpu > 0


def child(tmp_path: Path, code: str, timeout_s: float = 120) -> measure.ChildRun:
    return measure.run_child([sys.executable, "-c", code], cwd=tmp_path, env=dict(os.environ),
                             log=tmp_path / "child.log", timeout_s=timeout_s)


def test_a_childs_peak_memory_is_its_own_not_the_benchs(tmp_path: Path) -> None:
    """Linux carries a process's peak RSS across execve: forked straight
    from a bench holding 400 MB, a bare interpreter read 400 MB and more."""
    held = bytearray(400 * 2**20)
    held[:: 2**12] = b"x" * len(held[:: 2**12])  # every page resident
    bare = child(tmp_path, "pass")
    grown = child(tmp_path, "b = bytearray(300 * 2**20); b[::4096] = b'y' * len(b[::4096])")
    del held
    assert bare.peak_rss_mb < 100
    assert 300 <= grown.peak_rss_mb < 400
    assert grown.cpu_s > 0


def test_a_child_that_fails_or_hangs_is_reported_and_gone(tmp_path: Path) -> None:
    with pytest.raises(measure.ChildFailed, match="exited 3"):
        child(tmp_path, "raise SystemExit(3)")
    pid_file = tmp_path / "pid"
    with pytest.raises(measure.ChildFailed):
        child(tmp_path, f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(600)",
              timeout_s=10)
    stat = Path(f"/proc/{pid_file.read_text()}/stat")
    for _ in range(100):  # reaped by whoever inherits it, or left a zombie: never still sleeping
        if not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the command outlived its timeout")


def test_the_walk_forward_config_is_the_peer_task(tmp_path: Path) -> None:
    from bot.config import load_config

    cfg = load_config(replays.walk_forward_config(tmp_path))
    observed = cfg.retrain.initial_train_bars
    start = datetime.fromisoformat(cfg.replay.start).replace(tzinfo=replays.TRADE_FROM.tzinfo)
    # The first model is due once the warm-up and 4,320 bars are seen: it trades from 2024-01-01.
    assert start + timedelta(hours=observed) == replays.TRADE_FROM
    assert cfg.retrain.train_window_bars == 4320 and cfg.retrain.every_days == 30
    assert cfg.replay.end == "2025-01-01"
    assert cfg.db_url == f"sqlite:///{tmp_path}/bot.sqlite"


def test_the_peer_summary_figures_lose_their_units() -> None:
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import peer
    finally:
        sys.path.remove(str(REPO / "bench"))
    assert peer.number("21.90s") == 21.9
    assert peer.number(" -82.00%") == -82.0
    assert peer.number("695MiB") == 695.0


def test_the_yardstick_uses_none_of_the_project() -> None:
    """It tells the machine's speed apart from the code's only while no
    commit can change it: importing and running it loads no `bot` module."""
    code = (f"import sys; sys.path.insert(0, {str(REPO / 'bench')!r}); import reference; reference.one_round(); "
            "print(sorted(m for m in sys.modules if m == 'bot' or m.startswith(('bot.', 'strategies'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"


def test_every_figure_names_the_processor_and_the_yardstick() -> None:
    where = measure.provenance(REPO)
    assert where["yardstick_cpu_ms"] > 0
    assert where["machine"]["cpu_model"]
    assert where["machine"]["torch_cpu_capability"]  # the kernels torch trains with: they decide the last bits
    assert reference.yardstick_ms(rounds=1) > 0
