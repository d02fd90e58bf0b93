"""Errors of market data, light to import: the CLI's guard and the bar job
catch them without loading ccxt or pandas, which cost a second of startup
that a replay never needs."""


class DataFileError(Exception):
    """A data file that cannot be read as OHLCV; the message says why."""


class MarketDataError(Exception):
    """A fetch that failed; the message is fit for a person and a log line."""
