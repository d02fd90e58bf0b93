"""Ctrl+C while the `bot` command is still loading its modules."""

from __future__ import annotations

import subprocess
import sys

from helpers import REPO

PRESSED_WHILE_LOADING = """
import os, signal, sys

class PressCtrlC:
    # Ctrl+C the moment the CLI's backtest module starts to load.
    def find_spec(self, name, path=None, target=None):
        if name == "bot.cli.backtest":
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, PressCtrlC())
sys.argv = ["bot", "--help"]
from bot.entry import main
main()
"""


def test_ctrl_c_while_the_command_loads_exits_130_without_a_traceback() -> None:
    done = subprocess.run([sys.executable, "-c", PRESSED_WHILE_LOADING], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr and "KeyboardInterrupt" not in done.stderr, done.stderr
    assert "Usage" not in done.stdout  # it stopped there, and ran no command
