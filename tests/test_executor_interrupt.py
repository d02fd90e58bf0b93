"""Ctrl+C during `bot backtest --workers 2` (or a sweep) stops every
worker: it printed "interrupted" at once and then ran the variants left
to the end (68 s), or hung for good on a worker interrupted holding a lock,
or on workers a second Ctrl+C left running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO, wait_until

TASKS = '''
import os, sys, time
from pathlib import Path

def slow(payload: str) -> str:
    Path(payload).write_text(str(os.getpid()))
    time.sleep(600)
    return payload
'''

PARENT = '''
import os, signal, sys
import multiprocessing.process
sys.path.insert(0, {here!r})
from slow_tasks import slow
from bot.backtest.executor import run_tasks

def pressed_again_as_the_stopping_starts(terminate):
    def wrapped(self):
        os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl+C, the moment the first one's stopping ends a worker
        terminate(self)
    return wrapped

if __name__ == "__main__":  # spawned workers import this file too
    process = multiprocessing.process.BaseProcess
    process.terminate = pressed_again_as_the_stopping_starts(process.terminate)
    payloads = {{f"v{{i}}": {here!r} + f"/started-{{i}}" for i in range(5)}}
    try:
        run_tasks(slow, payloads, workers=2, on_done=lambda name, result: None, executor={executor!r})
    except KeyboardInterrupt as stopped:
        sys.exit(getattr(stopped, "exit_code", 130))
'''


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def started_parent(tmp_path: Path, executor: str) -> tuple[subprocess.Popen, list[int]]:
    """The parent script in its own process group (as a terminal's
    foreground job), once both workers run a task, and the workers' pids."""
    (tmp_path / "slow_tasks.py").write_text(TASKS)
    script = tmp_path / "parent.py"
    script.write_text(PARENT.format(here=str(tmp_path), executor=executor))
    parent = subprocess.Popen([sys.executable, str(script)], cwd=REPO, start_new_session=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: len(started_tasks(tmp_path)) == 2, timeout_s=120, what="both workers to start a task")
    except BaseException:
        os.killpg(parent.pid, signal.SIGKILL)
        raise
    workers = [int(pid) for pid in subprocess.run(["pgrep", "-g", str(parent.pid)], capture_output=True,
                                                  text=True).stdout.split() if int(pid) != parent.pid]
    return parent, workers


def started_tasks(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.glob("started-*"))


# On a local Ray this hung once in a full-suite run under load, when Ctrl+C raised inside Ray's own
# calls; it now sets a flag there too, read between them.
@pytest.mark.parametrize("executor", ["local", "ray"])
def test_ctrl_c_stops_the_workers_and_starts_no_further_task(tmp_path: Path, executor: str) -> None:
    parent, workers = started_parent(tmp_path, executor)
    try:
        # SIGINT to the group, as Ctrl+C sends it. Pressed twice, as people do (the parent presses the
        # second itself, inside the stopping): a second one there cut the stopping short, the workers left
        # running and the exit waiting on them for ever.
        os.killpg(parent.pid, signal.SIGINT)
        output, _ = parent.communicate(timeout=120)  # the limit only catches the hang this test is about
    finally:
        if parent.poll() is None:
            os.killpg(parent.pid, signal.SIGKILL)
    assert parent.returncode == 130, output
    assert len(started_tasks(tmp_path)) == 2  # no task started after the interrupt
    # The workers (and multiprocessing's resource tracker, which goes once its parent has) all end.
    assert workers
    wait_until(lambda: not [pid for pid in workers if alive(pid)], timeout_s=60, what="the workers to end")
    assert "Traceback" not in output, output


def test_sigterm_to_the_parent_alone_stops_the_workers_too(tmp_path: Path) -> None:
    """A service manager's stop (or `timeout`) sends SIGTERM to the parent
    only: it died at once, and its two workers ran on at full CPU, orphaned."""
    parent, workers = started_parent(tmp_path, "local")
    try:
        parent.send_signal(signal.SIGTERM)
        output, _ = parent.communicate(timeout=120)  # the limit only catches a hang
    finally:
        if parent.poll() is None:
            os.killpg(parent.pid, signal.SIGKILL)
    assert parent.returncode == 128 + signal.SIGTERM, output
    assert len(started_tasks(tmp_path)) == 2  # no task started after the stop
    assert workers
    try:
        wait_until(lambda: not [pid for pid in workers if alive(pid)], timeout_s=60, what="the workers to end")
    finally:
        for pid in workers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert "Traceback" not in output, output


def test_the_stopping_returns_with_nothing_of_the_pool_left_running() -> None:
    """The pool's own thread ends the workers again once it finds them
    gone. Still running when the stopping returned, a Ctrl+C it met (or
    one pressed then) found Python's handler back in place and ended the
    run's exit in a traceback."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from bot.backtest.executor import _stop_now

    pool = ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn"))
    running = [pool.submit(time.sleep, 600) for _ in range(2)]
    wait_until(lambda: len(pool._processes or {}) == 2, timeout_s=120, what="both workers to start")
    manager = pool._executor_manager_thread
    assert manager is not None and manager.is_alive()
    _stop_now(pool)
    assert not manager.is_alive()
    assert all(future.done() for future in running)


ON_A_CLUSTER = '''
import os, signal, sys, time
sys.path.insert(0, {here!r})
from slow_tasks import slow
import ray
from bot.backtest.executor import run_tasks

if __name__ == "__main__":
    # A Ray this run did not start (as a cluster given by --ray-address is): it outlives the run,
    # and so would any task the run left behind.
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    payloads = {{f"v{{i}}": {here!r} + f"/started-{{i}}" for i in range(5)}}
    try:
        run_tasks(slow, payloads, workers=2, on_done=lambda name, result: None, executor="ray")
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        time.sleep(600)  # Ray stays up until the test has looked at the tasks' processes
'''


def test_ctrl_c_ends_the_tasks_on_a_ray_the_run_did_not_start(tmp_path: Path) -> None:
    """On a Ray cluster the run only connects to, Ctrl+C ended the run and
    left its tasks running there (each variant to its end, holding the
    cluster's CPUs): they are cancelled now."""
    (tmp_path / "slow_tasks.py").write_text(TASKS)
    script = tmp_path / "parent.py"
    script.write_text(ON_A_CLUSTER.format(here=str(tmp_path)))
    log = tmp_path / "parent.log"
    with log.open("w") as out:
        parent = subprocess.Popen([sys.executable, str(script)], cwd=REPO, start_new_session=True,
                                  stdout=out, stderr=subprocess.STDOUT)
    try:
        started = lambda: sorted(tmp_path.glob("started-*"))  # noqa: E731
        wait_until(lambda: len(started()) == 2 and all(p.read_text() for p in started()), timeout_s=120,
                   what="both tasks to start", process=parent, output=log)
        tasks = [int(p.read_text()) for p in started()]
        os.kill(parent.pid, signal.SIGINT)  # the run only: the cluster is not in its terminal
        wait_until(lambda: "interrupted" in log.read_text(), timeout_s=120, what="the run to stop",
                   process=parent, output=log)
        wait_until(lambda: not [pid for pid in tasks if alive(pid)], timeout_s=60, what="the tasks to end")
        assert len(started()) == 2  # and none started after the interrupt
    finally:
        os.killpg(parent.pid, signal.SIGKILL)
        parent.wait()
