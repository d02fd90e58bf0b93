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


def files_of(models: Path) -> dict[str, bytes]:
    return {str(p.relative_to(models)): p.read_bytes() for p in sorted(models.rglob("*")) if p.is_file()}


def test_fresh_never_takes_the_models_of_another_run(tmp_path: Path) -> None:
    """Two runs given one storage.models_dir. The second was refused with
    advice to `bot run --fresh`; that replaced the first run's version
    directories (the same training dates, the same names) and its RUN_ID,
    and the first could no longer resume, its weights gone."""
    models = tmp_path / "models"
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    a, b = (write_config(tmp_path / name, {"storage": {"models_dir": str(models)}}) for name in ("a", "b"))
    trained = run_bot("run", "-c", str(a), "--max-bars", "900", "--no-progress", timeout=600)
    assert trained.returncode == 0, trained.stderr
    run_a = (models / "RUN_ID").read_text().strip()
    before = files_of(models)
    assert any(name.startswith("v0001-") for name in before)
    # A new run beside them: refused, with no advice that would take them.
    plain = run_bot("run", "-c", str(b), "--max-bars", "5", "--no-progress")
    assert_refused(plain, "storage.models_dir")
    assert "start over on purpose" not in plain.stderr and "a storage.models_dir of its own" in plain.stderr
    fresh = run_bot("run", "-c", str(b), "--max-bars", "5", "--no-progress", "--fresh")
    assert_refused(fresh, "storage.models_dir")
    assert f"holds the models of run {run_a}" in fresh.stderr and "a storage.models_dir of its own" in fresh.stderr
    assert files_of(models) == before and not (tmp_path / "b" / "bot.sqlite").exists()
    # A run of its own (its database has an id) pointed at them: the same.
    own = {"BOT__STORAGE__MODELS_DIR": str(tmp_path / "b" / "models")}
    assert run_bot("run", "-c", str(b), "--max-bars", "5", "--no-progress", env=own).returncode == 0
    db_b = (tmp_path / "b" / "bot.sqlite").read_bytes()
    for extra in ([], ["--fresh"]):
        refused = run_bot("run", "-c", str(b), "--max-bars", "5", "--no-progress", *extra)
        assert_refused(refused, "storage.models_dir")
        assert f"holds the models of run {run_a}" in refused.stderr and "start over" not in refused.stderr
    assert files_of(models) == before and (tmp_path / "b" / "bot.sqlite").read_bytes() == db_b
    # Versions no RUN_ID names (a run from before ids) are taken only by the database that lists them.
    (models / "RUN_ID").unlink()
    for extra in ([], ["--fresh"]):
        refused = run_bot("run", "-c", str(b), "--max-bars", "5", "--no-progress", *extra)
        assert_refused(refused, "storage.models_dir")
        assert "holds model versions this run's database does not list (v0001-" in refused.stderr, refused.stderr
    assert files_of(models) == {k: v for k, v in before.items() if k != "RUN_ID"}
    # The first run resumes on its own models, and claims them again.
    resumed = run_bot("run", "-c", str(a), "--max-bars", "905", "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    assert (models / "RUN_ID").read_text().strip() == run_a
    assert {k: v for k, v in files_of(models).items() if k in before} == before
    # Its database gone, its RUN_ID is an orphan no database can prove its
    # own: even the run's own config leaves the models to be removed by hand.
    (tmp_path / "a" / "bot.sqlite").unlink()
    orphaned = run_bot("run", "-c", str(a), "--max-bars", "5", "--no-progress", "--fresh")
    assert_refused(orphaned, "storage.models_dir")
    assert f"holds the models of run {run_a}" in orphaned.stderr and "by hand" in orphaned.stderr
    assert {k: v for k, v in files_of(models).items() if k in before} == before
    shutil.rmtree(models)
    assert run_bot("run", "-c", str(a), "--max-bars", "5", "--no-progress", "--fresh").returncode == 0


def test_fresh_takes_the_runs_own_models_and_nothing_else(tiny_run: Path, tmp_path: Path) -> None:
    """The ordinary case: its own RUN_ID, or (a run from before ids) no
    RUN_ID and only versions its database lists; a version directory its
    database does not list, beside no RUN_ID, stops it."""
    config = copy_of(tiny_run, tmp_path, tmp_path / "models")
    versions = sorted(p.name for p in (tmp_path / "models").iterdir() if p.name.startswith("v0"))
    assert versions
    (tmp_path / "models" / "RUN_ID").unlink()
    (tmp_path / "models" / "v0099-20250101T0000").mkdir()  # no row of this run names it
    refused = run_bot("run", "-c", str(config), "--fresh", "--max-bars", "5", "--no-progress")
    assert_refused(refused, "storage.models_dir")
    assert "does not list (v0099-20250101T0000)" in refused.stderr
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [*versions, "v0099-20250101T0000"]
    (tmp_path / "models" / "v0099-20250101T0000").rmdir()
    done = run_bot("run", "-c", str(config), "--fresh", "--max-bars", "5", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert not [p for p in (tmp_path / "models").iterdir() if p.name in versions]
