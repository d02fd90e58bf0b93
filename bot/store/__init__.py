from bot.store.store import StepRecord, Store, sqlite_path

__all__ = ["StepRecord", "Store", "sqlite_path"]
