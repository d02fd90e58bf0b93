"""`bot run --fresh`: forget a run, and only what the run itself made.

A person reaches for --fresh after changing settings, so two things must
hold. Nothing is forgotten before the new settings are known to run (the
caller checks the data, the device and the exchange first). And the wipe
removes the run's database and the model versions the registry wrote, not
the directory storage.models_dir happens to name: pointed at `.` or at
the state directory, a whole-directory removal took the config, the data,
the log and the writer lease's own lock file with it.

Nor does it remove the versions of another run that shares the directory:
it refuses (exit 2) unless the models there are provably this run's
(bot/store/integrity.py, foreign_models). Two runs given one models_dir
write the same version names (v0001-<date>) for the same training dates; a
--fresh of the second replaced the first run's weights and its RUN_ID, and
the first could no longer resume."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.config import Config, ConfigError
from bot.store import Store, sqlite_path
from bot.store.integrity import (
    MODEL_VERSION_DIR,
    RUN_ID_FILE,
    RUN_ID_KEY,
    foreign_models,
    model_version_entries,
    own_models_dir,
    sqlite_run_ownership,
)

__all__ = ["MODEL_VERSION_DIR", "refuse_foreign_models", "remove_model_versions", "remove_sqlite_file", "wipe_state"]


def remove_sqlite_file(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def wipe_state(config: Config, who: str = "`bot run --fresh`") -> None:
    """Forget the run in this config's database and model directory;
    ConfigError, with nothing removed, when the models directory holds
    models that are not provably this run's. The models go first: cut
    short after them, the database still names the run, so the next
    --fresh may finish (the other way round, its RUN_ID would be orphaned)."""
    models_dir = config.path(config.storage.models_dir)
    refuse_foreign_models(config, who)
    remove_model_versions(models_dir)
    db = sqlite_path(config.db_url)
    if db is not None:
        remove_sqlite_file(db)
    else:
        store = Store(config.db_url)
        store.reset()
        store.close()


def refuse_foreign_models(config: Config, who: str = "`bot run --fresh`") -> None:
    """ConfigError naming storage.models_dir when a wipe of this run would
    remove models that are not provably its own."""
    models_dir = config.path(config.storage.models_dir)
    if not models_dir.is_dir():
        return
    run_id, listed = run_ownership(config)
    foreign = foreign_models(models_dir, run_id, listed)
    if foreign is None:
        return
    if run_id is None:
        foreign += f", and this run's database ({config.db_shown}) names no run of its own"
    raise ConfigError(
        f"storage.models_dir: {models_dir} {foreign}; {who} removes only this run's own models: "
        + own_models_dir(models_dir, fresh_note=False)
    )


def run_ownership(config: Config) -> tuple[str | None, set[str]]:
    """This run's id and the versions its database lists (None, set() when
    the database holds no run)."""
    db = sqlite_path(config.db_url)
    if db is not None:
        return sqlite_run_ownership(db)
    from sqlalchemy.exc import SQLAlchemyError

    store = Store(config.db_url, reader=True)
    try:
        run_id = store.get_meta(RUN_ID_KEY)
        return run_id, {v.version for v in store.model_versions()}
    except SQLAlchemyError:
        return None, set()  # no tables yet: no run
    finally:
        store.close()


def remove_model_versions(models_dir: Path) -> None:
    """The registry's own entries; anything else there is left as it was,
    and the directory goes only once it is empty."""
    if not models_dir.is_dir():
        return
    for name in model_version_entries(models_dir):
        shutil.rmtree(models_dir / name)
    (models_dir / RUN_ID_FILE).unlink(missing_ok=True)
    try:
        models_dir.rmdir()
    except OSError:
        pass  # not empty: what is left is someone else's
