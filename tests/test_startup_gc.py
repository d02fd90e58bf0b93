"""The cyclic collector rests while a command starts (bot/startup_gc.py)
and is on again afterwards, whatever happened in between."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from helpers import write_config

from bot.cli import app
from bot.startup_gc import starting_up


@pytest.fixture(autouse=True)
def _collector_back_on():
    yield
    gc.enable()  # a failing test here must not leave the rest of the suite without it


def test_paused_inside_and_on_again_after() -> None:
    assert gc.isenabled()
    with starting_up():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_on_again_after_an_error() -> None:
    with pytest.raises(ValueError), starting_up():
        raise ValueError("start-up failed")
    assert gc.isenabled()


def test_a_nested_block_leaves_it_to_the_outermost() -> None:
    with starting_up():
        with starting_up():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_off_stays_off() -> None:
    """A caller that had switched the collector off keeps it off."""
    gc.disable()
    with starting_up():
        pass
    assert not gc.isenabled()


def test_what_start_up_made_is_frozen() -> None:
    before = gc.get_freeze_count()
    kept = [[i] for i in range(1_000)]  # noqa: F841 (alive through the block)
    with starting_up():
        made = [[i] for i in range(1_000)]  # noqa: F841
    assert gc.get_freeze_count() >= before + 2_000


def run_in_process(*args: str) -> int:
    """`bot run` called as a function, as an embedding program would; out
    of standalone mode, click returns a deliberate exit's code."""
    code = app(["run", *args], standalone_mode=False)
    return int(code or 0)


def test_bot_run_leaves_the_collector_on(tmp_path: Path) -> None:
    """After a replay, and after a config the bot refuses (exit 2 inside
    the block)."""
    config = write_config(tmp_path)
    assert run_in_process("--config", str(config), "--no-progress", "--max-bars", "5") == 0
    assert gc.isenabled()
    bad = tmp_path / "bad.yaml"
    bad.write_text("mode: replay\ntimeframe: 7x\n")
    assert run_in_process("--config", str(bad)) == 2
    assert gc.isenabled()
