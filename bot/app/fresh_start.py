"""`bot run --fresh`: forget a run, and only what the run itself made.

A person reaches for --fresh after changing settings, so two things must
hold. Nothing is forgotten before the new settings are known to run (the
caller checks the data, the device and the exchange first). And the wipe
removes the run's database and the model versions the registry wrote, not
the directory storage.models_dir happens to name: pointed at `.` or at
the state directory, a whole-directory removal took the config, the data,
the log and the writer lease's own lock file with it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from bot.config import Config
from bot.store import Store, sqlite_path
from bot.store.integrity import RUN_ID_FILE

# What the registry writes in the models directory: one directory per
# version (v0001-20240101T0000), and its temporary twin while it is written.
MODEL_VERSION_DIR = re.compile(r"\.?v\d{4,}-\d{8}T\d{4}(\.tmp)?")


def remove_sqlite_file(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def wipe_state(config: Config) -> None:
    """Forget the run in this config's database and model directory."""
    db = sqlite_path(config.db_url)
    if db is not None:
        remove_sqlite_file(db)
    else:
        store = Store(config.db_url)
        store.reset()
        store.close()
    remove_model_versions(config.path(config.storage.models_dir))


def remove_model_versions(models_dir: Path) -> None:
    """The registry's own entries; anything else there is left as it was,
    and the directory goes only once it is empty."""
    if not models_dir.is_dir():
        return
    for entry in models_dir.iterdir():
        if entry.is_dir() and not entry.is_symlink() and MODEL_VERSION_DIR.fullmatch(entry.name):
            shutil.rmtree(entry)
    (models_dir / RUN_ID_FILE).unlink(missing_ok=True)
    try:
        models_dir.rmdir()
    except OSError:
        pass  # not empty: what is left is someone else's
