"""Whether a candle reply that ccxt read as "no candles" really said so.

ccxt drops what it cannot read: entries that are not candle rows, a JSON
object where the candle list should be (a maintenance notice served with
200), timestamps in seconds (filtered out as older than `since`). Each came
back as an empty page, which a download takes for the end of the
exchange's history and a live daemon for "no new bar yet", without a word.

An empty answer holds an empty list somewhere (binance: `[]`; exchanges
that wrap their candles: `{"data": []}`) and no entry left unread. Anything
else that parsed to no candles is a reply this bot cannot read."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bot.brief_text import brief

EARLIEST_MS = 10**11  # 1973-03-03 in milliseconds; a candle time below it is in seconds (or not a time)
DEPTH = 3  # how deep in the reply a candle list may sit (binance 0, okx 1, kraken 2)


def unreadable_reply(reply: Any, parse: Any) -> str | None:
    """Why `reply` (parsed JSON that ccxt turned into no candles) is not an
    empty answer, or None when it is one. `parse(rows)` is the exchange's
    own candle parser (ccxt's parse_ohlcvs for the market)."""
    lists = list(_lists(reply, DEPTH))
    filled = [rows for rows in lists if rows]
    if not lists:
        return f"the reply held no candle list: {_shown(reply)}"
    if not filled:
        return None  # an empty list: no candles there
    for rows in filled:
        times = _candle_times(rows, parse)
        if times and min(times) >= EARLIEST_MS:
            return None  # readable candles, all before `since`: an exchange that ignores it
        if times:
            return f"the reply's candle times are not milliseconds (first {min(times)}): {_shown(reply)}"
    return f"the reply's entries are not candles: {_shown(reply)}"


def _lists(value: Any, depth: int) -> Iterator[list]:
    if isinstance(value, list):
        yield value
    elif isinstance(value, dict) and depth > 0:
        for item in value.values():
            yield from _lists(item, depth - 1)


def _candle_times(rows: list, parse: Any) -> list[int]:
    try:
        candles = parse(rows)
    except Exception:  # noqa: BLE001 - an exchange's parser on what is not a candle may raise anything
        return []
    return [c[0] for c in candles if _whole(c)]


def _whole(candle: Any) -> bool:
    """A time and four prices (ccxt leaves None where an entry had none)."""
    if not isinstance(candle, list | tuple) or len(candle) < 5 or not isinstance(candle[0], int):
        return False
    return all(isinstance(price, int | float) for price in candle[1:5])


def _shown(reply: Any) -> str:
    return brief(repr(reply), 120)
