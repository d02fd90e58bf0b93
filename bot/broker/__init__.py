from bot.broker.book import OrderBook
from bot.broker.paper import PaperBroker

__all__ = ["OrderBook", "PaperBroker"]
