"""CSV files people open in a spreadsheet: a text cell that starts like a
formula (=, +, -, @, or a tab or carriage return before one) is run as one
by Excel and LibreOffice, so an exported name such as
`=WEBSERVICE(...)/USDT` (a replay's symbol is any name the config gives)
would call out when the file is opened. Such text gets a leading
apostrophe, the spreadsheet's own mark for "this is text"; numbers are
left as they are."""

from __future__ import annotations

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells cannot be read as formulas."""
    safe = frame.copy()
    for column in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[column]):  # object or str columns (pandas 3 has both)
            safe[column] = [_as_text(value) for value in safe[column]]
    return safe


def _as_text(value: object) -> object:
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value
