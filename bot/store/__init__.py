from bot.store.store import PositionState, StepRecord, Store, sqlite_path

__all__ = ["PositionState", "StepRecord", "Store", "sqlite_path"]
