"""How the benches measure: a child process's CPU, wall and peak memory, its
CPU sampled against its progress while it runs, medians of repeated runs,
and the provenance every figure is stored with.

The machines are 2-core and shared, so wall time alone says more about the
neighbours than about the code: every figure comes with CPU time (user +
system) of the process that did the work, descendants included.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from reference import yardstick_ms

LAUNCHER = Path(__file__).resolve().with_name("launch.py")

# Seconds between two samples of a running child: enough for the 10% windows
# of a replay of a few seconds (the no-model replay takes 3 s on a fast
# host, which at one sample a second left too few to tell), cheap enough to
# leave its figures alone (a count of the bars table, read beside the writer).
SAMPLE_EVERY_S = 0.25


@dataclass
class ChildRun:
    cpu_s: float  # user + system, the child and every descendant it waited for
    wall_s: float
    peak_rss_mb: float  # the largest resident set among them
    samples: list[tuple[float, int]] = field(default_factory=list)  # (child CPU s, progress)


class ChildFailed(RuntimeError):
    pass


def run_child(
    cmd: Sequence[str],
    *,
    cwd: Path,
    env: dict[str, str],
    log: Path,
    timeout_s: float,
    progress: Callable[[], int | None] | None = None,
) -> ChildRun:
    """Run cmd to the end and measure it: through bench/launch.py, which
    reports the command's own CPU and peak memory (not this process's, which
    Linux would carry into a child it forks; nor figures of earlier
    children, as RUSAGE_CHILDREN would). With progress, the command's CPU
    is sampled with it every SAMPLE_EVERY_S."""
    used = log.with_name(log.name + ".used.json")
    used.unlink(missing_ok=True)
    launched = [sys.executable, "-S", str(LAUNCHER), str(used), *cmd]
    with log.open("wb") as out:
        start = time.perf_counter()
        # Its own session: a timeout kills the launcher and the command together.
        proc = subprocess.Popen(
            launched, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        samples: list[tuple[float, int]] = []
        status = _wait_sampling(proc, start + timeout_s, progress, samples)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    if proc.returncode != 0 or not used.exists():
        tail = log.read_text(errors="replace")[-2000:]
        raise ChildFailed(f"{' '.join(cmd)} exited {proc.returncode} (see {log}):\n{tail}")
    figures = json.loads(used.read_text())
    # Wall time as the launcher saw it: this loop looks only between samples.
    return ChildRun(round(figures["cpu_s"], 2), round(figures["wall_s"], 2), round(figures["peak_rss_kb"] / 1024, 1),
                    samples)


def _wait_sampling(proc: subprocess.Popen, deadline: float, progress, samples: list) -> int:
    command_pid = None
    while True:
        pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            return status
        if time.perf_counter() > deadline:
            # A bench that hangs must not hold the machine: kill, then report.
            os.killpg(proc.pid, signal.SIGKILL)
            return os.wait4(proc.pid, 0)[1]
        if progress is not None:
            command_pid = command_pid or _only_child(proc.pid)
            if command_pid is not None:
                _sample(command_pid, progress, samples)
        time.sleep(SAMPLE_EVERY_S)


def _only_child(pid: int) -> int | None:
    """The launcher's one child (the command), once it is started."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def _sample(pid: int, progress: Callable[[], int | None], samples: list[tuple[float, int]]) -> None:
    cpu, done = process_cpu_s(pid), progress()
    if cpu is not None and done is not None:
        samples.append((cpu, done))


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU of a running process so far, from /proc (None
    where there is no /proc, or the process is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the command name, which may hold spaces: utime, stime,
    # cutime and cstime are fields 14 to 17 of proc(5), here 11 to 14.
    fields = stat[stat.rindex(")") + 2 :].split()
    ticks = sum(int(v) for v in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def sqlite_row_counter(db: Path, table: str) -> Callable[[], int | None]:
    """Rows committed so far to a table of a database another process
    writes (WAL: this reader never blocks it). None while it cannot tell:
    no file or no table yet, or busy."""

    def count() -> int | None:
        if not db.exists():
            return None
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.2) as conn:
                return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        except sqlite3.Error:
            return None

    return count


# -- figures from samples ------------------------------------------------------


def cpu_per_bar_windows(samples: Sequence[tuple[float, int]], share: float = 0.1, after_bar: int = 0) -> dict | None:
    """CPU ms per bar over the first and the last `share` of a run's bars,
    and over all of its steady part, from (CPU seconds, bars committed)
    samples. Start-up (before the first committed bar, or before after_bar:
    a run that trades only from its first model compares traded bars with
    traded bars) and tear-down (after the last) are left out: only samples
    strictly between them count, so a flat per-bar cost reads as two equal
    windows. None when the samples are too few to tell."""
    points = _steady_points(samples, after_bar)
    if len(points) < 4:
        return None
    bars = np.array([b for _, b in points], dtype=float)
    cpu = np.array([c for c, _ in points])
    first, last = bars[0], bars[-1]
    window = share * (last - first)
    if window <= 0:
        return None

    def ms_per_bar(lo: float, hi: float) -> float:
        return float(np.interp(hi, bars, cpu) - np.interp(lo, bars, cpu)) / (hi - lo) * 1000

    head, tail = ms_per_bar(first, first + window), ms_per_bar(last - window, last)
    return {
        "bars_sampled": int(last - first),
        "samples": len(points),
        "first_window_cpu_ms_per_bar": round(head, 3),
        "last_window_cpu_ms_per_bar": round(tail, 3),
        "last_over_first": round(tail / head, 3) if head > 0 else None,
        "steady_cpu_ms_per_bar": round(ms_per_bar(first, last), 3),
    }


def _steady_points(samples: Sequence[tuple[float, int]], after_bar: int) -> list[tuple[float, int]]:
    """Samples taken while bars were being committed, one per bar count
    (the first: the CPU spent waiting on a grouped commit goes to the bars
    after it), in order of bars."""
    if not samples:
        return []
    end = max(b for _, b in samples)
    points: list[tuple[float, int]] = []
    for cpu, bars in sorted(samples, key=lambda s: (s[1], s[0])):
        if after_bar < bars < end and (not points or bars > points[-1][1]):
            points.append((cpu, bars))
    return points


def medians(runs: Sequence[dict], keys: Sequence[str]) -> dict:
    """The median of each key over the runs that have it."""
    result = {}
    for key in keys:
        values = [r[key] for r in runs if r.get(key) is not None]
        result[key] = round(statistics.median(values), 4) if values else None
    return result


def ratio(ours: float | None, theirs: float | None) -> float | None:
    return round(ours / theirs, 3) if ours is not None and theirs else None


# -- provenance ------------------------------------------------------------------


def provenance(repo: Path) -> dict:
    """What a figure was measured on: the commit (and whether the tree had
    changes on top of it), the machine, when, how busy it was then and how
    fast it was then (bench/reference.py's yardstick, which never changes)."""
    return {
        "commit": _git(repo, "rev-parse", "--short", "HEAD"),
        # The figures file itself does not make the code measured dirty.
        "dirty": bool(_git(repo, "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results.json")),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_at_start": load_average(),
        "yardstick_cpu_ms": yardstick_ms(),
        "machine": machine(),
    }


def machine() -> dict:
    import torch

    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


def cpu_model() -> str | None:
    """The processor's name as Linux reports it: two sessions' hosts differ."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or None
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.processor() or None


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    return done.stdout.strip()


def bench_env(**overrides: str) -> dict[str, str]:
    """The environment of a measured child: this one, less any BOT__ override
    a shell may hold (it would silently change what is measured), plus the
    bench's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT__")}
    return {**env, **overrides}
