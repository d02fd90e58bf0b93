from bot.strategy.base import Strategy, StrategyContext
from bot.strategy.loader import load_strategy, load_strategy_of

__all__ = ["Strategy", "StrategyContext", "load_strategy", "load_strategy_of"]
