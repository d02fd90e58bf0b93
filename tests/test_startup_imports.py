"""A replay that has no model yet must not load the libraries only
training, the baselines or an exchange need: torch alone is two seconds of
startup, and together they were most of a no-model replay's CPU and
two thirds of its memory (bench/results.json: real_replay). Counted as
modules loaded, not as seconds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import REPO, rows, write_config

HEAVY = ("torch", "scipy.special", "scipy.stats", "sklearn", "lightgbm", "ccxt", "onnxruntime", "hmmlearn")

PROBE = """
import atexit, sys
heavy = {heavy!r}
atexit.register(lambda: print("LOADED", sorted(m for m in heavy if m in sys.modules)))
from bot.cli import app
app(["run", "--config", {config!r}, "--no-progress", "--max-bars", "300"])
"""


def test_a_replay_without_a_model_loads_no_training_or_exchange_library(tmp_path: Path) -> None:
    config = write_config(tmp_path)  # its first model is due after 800 bars: none in these 300
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY, config=str(config))],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    loaded = [line for line in done.stdout.splitlines() if line.startswith("LOADED")]
    assert loaded, done.stdout[-2000:] + done.stderr[-2000:]
    assert loaded[-1] == "LOADED []", loaded[-1]
    assert rows(tmp_path / "bot.sqlite", "SELECT COUNT(*) FROM bars")[0][0] >= 300  # it did run the bars


CLI_PROBE = """
import sys
from typer.testing import CliRunner
from bot.cli import app
result = CliRunner().invoke(app, ["run", "--config", {config!r}])
print("EXIT", result.exit_code)
print("LOADED", sorted(m for m in {heavy!r} if m in sys.modules))
"""


def test_the_command_line_and_its_config_check_load_no_data_library(tmp_path: Path) -> None:
    """`bot --help` and a config error answer before pandas, numpy or
    SQLAlchemy load (bot/cli/__init__.py): the config once reached pandas
    through the feature package, a third of a second on every command."""
    config = tmp_path / "config.yaml"
    config.write_text("mode: replay\nsymbols: [BTC/USDT]\ntimeframe: 7x\n")
    heavy = ("pandas", "numpy", "sqlalchemy", *HEAVY)
    done = subprocess.run(
        [sys.executable, "-c", CLI_PROBE.format(heavy=heavy, config=str(config))],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert "EXIT 2" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
    assert "LOADED []" in done.stdout, done.stdout[-2000:]
