from bot.risk.manager import RiskManager

__all__ = ["RiskManager"]
