"""Ctrl+C during `bot backtest --workers 2` (or a sweep) stops every
worker: it printed "interrupted" at once and then ran the variants left
to the end (68 s), or hung for good on a worker interrupted holding a lock,
or on workers a second Ctrl+C left running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO, wait_until

TASKS = '''
import sys, time
from pathlib import Path

def slow(payload: str) -> str:
    Path(payload).write_text("started")
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
    except KeyboardInterrupt:
        sys.exit(130)
'''


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# Ray is not here: the same test on a local Ray hung once in a full-suite run under load (no exit
# 120 s after Ctrl+C; its raylet and GCS are in the terminal's process group and take the SIGINT
# too). That hang is open, not hidden: see the closing note of 2026-12-05.
@pytest.mark.parametrize("executor", ["local"])
def test_ctrl_c_stops_the_workers_and_starts_no_further_task(tmp_path: Path, executor: str) -> None:
    (tmp_path / "slow_tasks.py").write_text(TASKS)
    script = tmp_path / "parent.py"
    script.write_text(PARENT.format(here=str(tmp_path), executor=executor))
    # Its own process group, as a terminal's foreground job; SIGINT to the group, as Ctrl+C sends it.
    parent = subprocess.Popen([sys.executable, str(script)], cwd=REPO, start_new_session=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        started = lambda: sorted(p.name for p in tmp_path.glob("started-*"))  # noqa: E731
        wait_until(lambda: len(started()) == 2, timeout_s=120, what="both workers to start a task")
        workers = [int(pid) for pid in subprocess.run(["pgrep", "-g", str(parent.pid)], capture_output=True,
                                                      text=True).stdout.split() if int(pid) != parent.pid]
        # Pressed twice, as people do (the parent presses the second itself, inside the stopping): a second
        # one there cut the stopping short, the workers left running and the exit waiting on them for ever.
        os.killpg(parent.pid, signal.SIGINT)
        output, _ = parent.communicate(timeout=120)  # the limit only catches the hang this test is about
    finally:
        if parent.poll() is None:
            os.killpg(parent.pid, signal.SIGKILL)
    assert parent.returncode == 130, output
    assert len(started()) == 2  # no task started after the interrupt
    # The workers (and multiprocessing's resource tracker, which goes once its parent has) all end.
    assert workers
    wait_until(lambda: not [pid for pid in workers if alive(pid)], timeout_s=60, what="the workers to end")
    assert "Traceback" not in output, output
