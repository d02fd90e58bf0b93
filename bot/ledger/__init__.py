from bot.ledger.ledger import EquityPoint, Ledger, Position

__all__ = ["EquityPoint", "Ledger", "Position"]
