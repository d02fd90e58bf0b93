"""Where independent replays run: the variants of `bot backtest` and the
cells of `bot sweep`. Each task is a function of one JSON string returning
one string, so it can cross a process or a machine.

- `local`: a pool of spawned processes on this machine (spawned, not
  forked: a fork of a process holding torch threads can hang);
- `ray`: Ray tasks, on a local Ray started here (`ray.init()`) or on an
  existing cluster (`address`, e.g. ray://head:10001), whose nodes need
  this package installed.

Results come back as they finish; `on_done(name, result)` is told each."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed

Task = Callable[[str], str]
Done = Callable[[str, str], None]


def run_tasks(
    task: Task,
    payloads: dict[str, str],
    workers: int,
    on_done: Done,
    executor: str = "local",
    address: str | None = None,
) -> dict[str, str]:
    if executor == "ray":
        return _on_ray(task, payloads, workers, on_done, address)
    if workers <= 1 or len(payloads) <= 1:
        results = {}
        for name, payload in payloads.items():
            results[name] = task(payload)
            on_done(name, results[name])
        return results
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(task, payload): name for name, payload in payloads.items()}
        results = {}
        for future in as_completed(futures):
            name = futures[future]
            results[name] = future.result()
            on_done(name, results[name])
        return results


def _on_ray(task: Task, payloads: dict[str, str], workers: int, on_done: Done, address: str | None) -> dict[str, str]:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no phoning home
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        remote = ray.remote(num_cpus=1, max_retries=1)(task)
        pending = {remote.remote(payload): name for name, payload in payloads.items()}
        results = {}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            name = pending.pop(ready[0])
            results[name] = ray.get(ready[0])
            on_done(name, results[name])
        return results
    finally:
        if started_here:
            ray.shutdown()
