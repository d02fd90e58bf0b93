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
import signal
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

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
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_leave_interrupts_to_the_parent)
    interrupted = threading.Event()
    restore = _note_interrupts(interrupted)
    try:
        pending = {pool.submit(task, payload): name for name, payload in payloads.items()}
        results = {}
        while pending:
            done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            if interrupted.is_set():
                raise KeyboardInterrupt
            for future in [f for f in pending if f in done]:  # in the order submitted
                name = pending.pop(future)
                results[name] = future.result()
                on_done(name, results[name])
    except BaseException:
        _stop_now(pool)
        raise
    finally:
        restore()
    pool.shutdown(wait=True)
    return results


def _note_interrupts(interrupted: threading.Event) -> Callable[[], None]:
    """Ctrl+C sets a flag the wait loop reads, instead of raising wherever
    the main thread happens to be: raised inside the pool's own code it
    could leave a lock held, or (a second Ctrl+C) cut the stopping short
    with the workers still running, and the exit then waited on them for
    ever. Returns what puts the previous handler back (nothing to do off
    the main thread, where handlers cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.signal(signal.SIGINT, lambda _signum, _frame: interrupted.set())

    def restore() -> None:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)

    return restore


def _leave_interrupts_to_the_parent() -> None:
    """Ctrl+C reaches every process of the terminal's group. A worker took
    it as its task's exception and went on to the next task, so the pool's
    shutdown waited for every variant left (68 s, or for ever when a worker
    was interrupted holding a lock). The parent stops the workers instead."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop_now(pool: ProcessPoolExecutor) -> None:
    """Ctrl+C, or a task that failed: no task is started after it, and the
    running ones are ended (each variant's database is crash-safe; a rerun
    into the same --out-dir starts each variant over, as every run does)."""
    processes = list((pool._processes or {}).values())  # no public way to end a running task
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=10)


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
