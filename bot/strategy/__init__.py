from bot.strategy.base import Strategy, StrategyContext
from bot.strategy.loader import load_strategy

__all__ = ["Strategy", "StrategyContext", "load_strategy"]
