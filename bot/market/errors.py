"""Errors of market data, light to import: the CLI's guard catches them
before any heavy module is loaded."""


class DataFileError(Exception):
    """A data file that cannot be read as OHLCV; the message says why."""
