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

import contextlib
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from types import ModuleType

from bot.stop_grace import Stopped

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
    interrupted = Interrupts()
    restore = _note_interrupts(interrupted)
    try:
        pending = {pool.submit(task, payload): name for name, payload in payloads.items()}
        results = {}
        while pending:
            done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            if interrupted.is_set():
                raise interrupted.stop()
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


class Interrupts:
    """The first SIGINT or SIGTERM, noted by a handler and raised by the
    wait loops between their calls."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def note(self, signum: int, _frame: object = None) -> None:
        self.signum = self.signum or signum

    def is_set(self) -> bool:
        return self.signum is not None

    def stop(self) -> Stopped:
        return Stopped(self.signum or signal.SIGINT)


STOPPING = (signal.SIGINT, signal.SIGTERM)


def _note_interrupts(interrupted: Interrupts) -> Callable[[], None]:
    """Ctrl+C (and SIGTERM: a service manager's stop, `timeout`) sets a flag
    the wait loop reads, instead of raising wherever the main thread happens
    to be: raised inside the pool's own code it could leave a lock held, or
    (a second Ctrl+C) cut the stopping short with the workers still
    running, and the exit then waited on them for ever. SIGTERM, unhandled,
    killed the parent alone: its workers ran on at full CPU, orphaned.
    Returns what puts the previous handlers back (nothing to do off the main
    thread, where handlers cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.signal(sig, interrupted.note) for sig in STOPPING}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)

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
    manager: threading.Thread | None = getattr(pool, "_executor_manager_thread", None)  # shutdown forgets it
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=10)
    # The pool's own thread finds its workers gone and ends them again; a
    # Ctrl+C that lands meanwhile must still find the handler that notes it,
    # not Python's, which raised it at the exit with a traceback.
    if manager is not None:
        manager.join(timeout=10)


def _on_ray(task: Task, payloads: dict[str, str], workers: int, on_done: Done, address: str | None) -> dict[str, str]:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no phoning home
    import ray

    started_here = not ray.is_initialized()
    if started_here and address:
        # Only a connect (to ray:// through the client, or as a driver of a
        # running cluster): Ctrl+C may cut it short, as it always could.
        ray.init(address=address, log_to_driver=False)
    # From here Ctrl+C sets a flag, read between Ray's calls. Raised inside
    # them it could leave Ray half started or half stopped: pressed while a
    # local Ray was starting, the exit crashed (SIGSEGV) at interpreter
    # shutdown, and a run under load once did not exit at all.
    interrupted = Interrupts()
    restore = _note_interrupts(interrupted)
    pending: dict = {}
    try:
        if started_here and not address:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        if interrupted.is_set():  # pressed while Ray started: no task is sent
            raise interrupted.stop()
        remote = ray.remote(num_cpus=1, max_retries=1)(task)
        pending = {remote.remote(payload): name for name, payload in payloads.items()}
        results: dict[str, str] = {}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.2)
            if interrupted.is_set():
                raise interrupted.stop()
            for ref in ready:
                name = pending.pop(ref)
                results[name] = _result(ray, ref)
                on_done(name, results[name])
        return results
    except BaseException:
        _cancel(ray, pending)
        raise
    finally:
        try:
            if started_here:
                ray.shutdown()
        finally:
            restore()


def _result(ray: ModuleType, ref) -> str:
    """A task's result, or the exception the task raised, as the local pool
    gives it: Ray wraps it with the worker's whole traceback, and the CLI's
    one line for a bad setting became thousands of characters."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        if isinstance(exc.cause, Exception):
            raise exc.cause from exc  # the worker's traceback stays in the log, under the one line
        raise


def _cancel(ray: ModuleType, pending: dict) -> None:
    """Ctrl+C, or a task that failed: the tasks not yet done are ended, on a
    cluster as on a local Ray, as the local pool ends its workers."""
    # The newest first: those are the ones still queued, which a CPU freed
    # by cancelling a running one could otherwise start.
    for ref in reversed(list(pending)):
        with contextlib.suppress(Exception):  # a task that ended meanwhile, or a cluster gone
            ray.cancel(ref, force=True)
