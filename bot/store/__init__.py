from bot.step_record import StepRecord
from bot.store.store import Store, sqlite_path

__all__ = ["StepRecord", "Store", "sqlite_path"]
