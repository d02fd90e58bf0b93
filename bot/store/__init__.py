from bot.store.store import StepRecord, Store

__all__ = ["StepRecord", "Store"]
