from bot.broker.paper import PaperBroker

__all__ = ["PaperBroker"]
