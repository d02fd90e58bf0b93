"""Telling an empty candle reply from one this bot cannot read, across the
shapes exchanges use: a bare list (binance), a list in an object (okx,
kucoin), a list two levels down beside an empty error list (kraken)."""

from __future__ import annotations

import ccxt
import pytest

from bot.market.reply_shape import unreadable_reply

BINANCE = ccxt.binance()


def parse(rows: list) -> list:
    return BINANCE.parse_ohlcvs(rows, None, "1h")


ROW = [1_672_531_200_000, "16541.77", "16545.70", "16508.39", "16529.67", "4364.8", 0, "0", 1, "0", "0", "0"]


@pytest.mark.parametrize("reply", [
    [],
    {"code": "0", "msg": "", "data": []},
    {"error": [], "result": {"XXBTZUSD": [], "last": 1_672_531_200}},
    [ROW],  # readable candles that ccxt left out as older than `since`: an exchange that ignores it
    {"error": [], "result": {"XXBTZUSD": [ROW]}},
])
def test_an_empty_answer_in_any_wrapping_is_no_candles(reply) -> None:
    assert unreadable_reply(reply, parse) is None


@pytest.mark.parametrize(("reply", "says"), [
    ({"code": 0, "msg": "system maintenance"}, "no candle list"),
    ("maintenance", "no candle list"),
    ({"data": {"items": {"deeper": {"still": []}}}}, "no candle list"),  # deeper than any exchange wraps
    ([["a", "b"]], "not candles"),
    ([[ROW[0], None, None, None, None, None]], "not candles"),
    ([[ROW[0] // 1000, *ROW[1:]]], "not milliseconds (first 1672531200)"),
    ({"error": ["EService:Unavailable"], "result": {}}, "not candles"),
])
def test_a_reply_that_holds_no_readable_candles_says_why(reply, says) -> None:
    problem = unreadable_reply(reply, parse)
    assert problem is not None and says in problem


def test_a_parser_that_raises_on_junk_is_a_reply_not_read() -> None:
    def fussy(rows: list) -> list:
        raise KeyError(0)
    assert "not candles" in (unreadable_reply([{"t": 1}], fussy) or "")
