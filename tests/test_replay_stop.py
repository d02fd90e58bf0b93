"""A replay whose strategy never returns (it sleeps ten minutes, or swallows
every interrupt) still stops on SIGINT or SIGTERM at once: one line on
stderr, exit 128 + the signal, and the steps before the stuck one kept.
SIGTERM used to kill it silently (exit -15) with the grouped steps
uncommitted, and a strategy that caught the interrupt held Ctrl+C for ever.

What the test waits for is an event (the strategy says it is stuck), never
a time; the timeouts only keep a regression from hanging the suite."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO, rows, wait_until, write_config

STUCK_AT_CALL = 50  # decide() is called once a bar from the first, so 49 steps come before it

STUCK = """
import os
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from bot.domain import Signal
from bot.strategy import Strategy


class Stuck(Strategy):
    class Params(BaseModel):
        model_config = ConfigDict(extra="ignore")  # the test config's threshold parameters

    calls = 0

    def decide(self, ctx):
        Stuck.calls += 1
        if Stuck.calls == {stuck_at}:
            Path(os.environ["STUCK_MARK"]).write_text("stuck")
            while True:
                try:
                    time.sleep(600)
                except BaseException:
                    if not os.environ.get("STUCK_SWALLOWS"):
                        raise
        return Signal(None, "waits")
"""


def start_stuck(tmp_path: Path, swallows: bool) -> tuple[subprocess.Popen, Path]:
    strategies = tmp_path / "strategies"
    strategies.mkdir()
    (strategies / "stuck.py").write_text(STUCK.replace("{stuck_at}", str(STUCK_AT_CALL)))
    config = write_config(tmp_path, {"strategy": {"name": "stuck", "path": str(strategies)}})
    mark = tmp_path / "stuck.mark"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT__")}
    env |= {"STUCK_MARK": str(mark), **({"STUCK_SWALLOWS": "1"} if swallows else {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "-c", str(config), "--no-progress"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    wait_until(mark.exists, timeout_s=300, what="the strategy to get stuck", process=process)
    return process, tmp_path / "bot.sqlite"


@pytest.mark.parametrize(("signum", "swallows"), [
    (signal.SIGTERM, False),
    (signal.SIGINT, False),
    (signal.SIGINT, True),  # Ctrl+C caught by the strategy: the backstop ends the run
])
def test_a_stop_ends_a_replay_stuck_in_its_strategy(tmp_path: Path, signum: int, swallows: bool) -> None:
    process, db = start_stuck(tmp_path, swallows)
    process.send_signal(signum)
    try:
        _, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"still running 60 s after {signum.name}: {process.communicate()[1][-2000:]}")
    assert process.returncode == 128 + signum, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"stopped by {signum.name}"), stderr
    bars = rows(db, "SELECT COUNT(*) FROM bars")[0][0]
    if swallows:  # exited with the steps committed by then, never half of one
        assert "still running" in lines[0] and bars <= STUCK_AT_CALL - 1
    else:  # the steps grouped into the open transaction are committed on the way out
        assert bars == STUCK_AT_CALL - 1
