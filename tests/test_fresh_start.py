"""`bot run --fresh` forgets a run only once the new settings are known to
run, and forgets only what the run made. It used to delete the database
and the models before the data check refused the new settings (one typo
lost the previous run), and to remove storage.models_dir as a whole: set
to `.` or to the state directory, that took the config, the data, the log
and the lease's lock file with it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import write_config
from test_config_errors import assert_refused, run_bot
from test_state_integrity import listing

from bot.app.fresh_start import remove_model_versions


def copy_of(run: Path, into: Path, models_dir: Path) -> Path:
    shutil.copy(run / "bot.sqlite", into / "bot.sqlite")
    shutil.copytree(run / "models", models_dir, dirs_exist_ok=True)
    return write_config(into, {"storage": {"models_dir": str(models_dir)}})


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("BOT__TIMEFRAME", "30m", "replay.data"),  # the data's bars are an hour apart
        ("BOT__REPLAY__START", "2023-03-20", "replay.data"),  # too few bars left to train on
        ("BOT__RETRAIN__INITIAL_TRAIN_BARS", "50000", "replay.data"),  # more history than the data holds
    ],
)
def test_settings_that_cannot_run_are_refused_before_the_old_run_is_forgotten(
    tiny_run: Path, tmp_path: Path, variable: str, value: str, field: str
) -> None:
    config = copy_of(tiny_run, tmp_path, tmp_path / "models")
    before, models = (tmp_path / "bot.sqlite").read_bytes(), listing(tmp_path / "models")
    refused = run_bot("run", "-c", str(config), "--fresh", "--no-progress", env={variable: value})
    assert_refused(refused, field)
    assert (tmp_path / "bot.sqlite").read_bytes() == before
    assert listing(tmp_path / "models") == models


def test_a_models_dir_shared_with_other_files_loses_only_the_model_versions(tiny_run: Path, tmp_path: Path) -> None:
    """storage.models_dir set to the state directory itself, beside the
    database, the log and a file of the user's."""
    config = copy_of(tiny_run, tmp_path, tmp_path)
    (tmp_path / "backup-2026.sqlite").write_text("the user's own")
    versions = [p.name for p in tmp_path.iterdir() if p.is_dir() and p.name.startswith("v0")]
    assert versions
    done = run_bot("run", "-c", str(config), "--fresh", "--max-bars", "5", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "backup-2026.sqlite").read_text() == "the user's own"
    assert (tmp_path / "config.yaml").exists() and (tmp_path / "bot.jsonl").exists()
    assert not [p for p in tmp_path.iterdir() if p.name in versions]  # five bars train no model: all gone


def test_only_the_registrys_own_entries_go(tmp_path: Path) -> None:
    models = tmp_path / "models"
    for name in ("v0001-20240101T0000", "v0123-20241231T2300", ".v0124-20250101T0000.tmp"):
        (models / name).mkdir(parents=True)
        (models / name / "model.onnx").write_bytes(b"weights")
    (models / "RUN_ID").write_text("abc")
    kept = {"notes.txt": "mine", "v0001-20240101T0000.txt": "a file, not a version", "vacation": "a directory"}
    for name, text in kept.items():
        (models / name).write_text(text) if "." in name else (models / name).mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious").write_text("x")
    (models / "v0002-20240101T0000").symlink_to(elsewhere)  # a link is followed by nobody
    remove_model_versions(models)
    assert sorted(p.name for p in models.iterdir()) == sorted([*kept, "v0002-20240101T0000"])
    assert (elsewhere / "precious").read_text() == "x"
    only_ours = tmp_path / "only_ours"
    (only_ours / "v0001-20240101T0000").mkdir(parents=True)
    remove_model_versions(only_ours)
    assert not only_ours.exists()  # emptied, so removed
