"""The tests' one polling loop: it returns what the condition found, fails
naming what it waited for, and gives up early, with the output, on a
process that exited."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import WaitTimedOut, wait_until

DIES = "import sys; print('loading the model'); print('boom: no such table', file=sys.stderr); sys.exit(3)"


def test_returns_what_the_condition_found_once_it_holds() -> None:
    answers = iter([None, [], ["model_trained"]])
    assert wait_until(lambda: next(answers), timeout_s=10, what="an event", poll_s=0.01) == ["model_trained"]


def test_times_out_naming_what_it_waited_for() -> None:
    started = time.monotonic()
    with pytest.raises(WaitTimedOut, match=r"timed out after 0.2 s waiting for the first model$"):
        wait_until(lambda: False, timeout_s=0.2, what="the first model", poll_s=0.05)
    assert time.monotonic() - started >= 0.2


def test_an_exited_process_fails_at_once_with_its_piped_output() -> None:
    process = subprocess.Popen([sys.executable, "-c", DIES], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.wait(timeout=60)
    with pytest.raises(AssertionError, match=r"waiting for 12 live predictions: .* exited with code 3") as failed:
        wait_until(lambda: False, timeout_s=600, what="12 live predictions", process=process)
    assert not isinstance(failed.value, WaitTimedOut)
    assert "loading the model" in str(failed.value) and "boom: no such table" in str(failed.value)


def test_an_exited_process_fails_with_the_end_of_the_file_it_wrote(tmp_path: Path) -> None:
    console = tmp_path / "console.txt"
    with console.open("w") as out:
        process = subprocess.Popen([sys.executable, "-c", DIES], stdout=out, stderr=out, text=True)
        process.wait(timeout=60)
    with pytest.raises(AssertionError, match="boom: no such table"):
        wait_until(lambda: False, timeout_s=600, what="the first order", process=process, output=console)


def test_a_condition_met_while_the_process_runs_is_returned() -> None:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert wait_until(lambda: 7, timeout_s=10, what="seven", process=process) == 7
    finally:
        process.kill()
        process.wait(timeout=10)
