from bot.step_record import StepRecord
from bot.store.store import PositionState, Store, sqlite_path

__all__ = ["PositionState", "StepRecord", "Store", "sqlite_path"]
