"""The one sentence at the end of a run names what drove the result and
what to try next, by the rule that applies."""

from __future__ import annotations

import pytest

from bot.report.verdict import verdict

BASE = {"predictions": 900, "trades": 40, "open_trades": 0, "total_return": 0.05, "buy_and_hold_return": 0.02,
        "final_equity": 10_500.0,
        "fees_paid": 100.0, "initial_equity": 10_000.0, "exposure": 0.6, "win_rate": 0.55,
        "decisions": {"enter": 40, "exit": 40, "hold": 300, "abstain": 520}}


def summary(**changes) -> dict:
    return {**BASE, **changes}


@pytest.mark.parametrize(("changes", "halt", "says"), [
    ({"predictions": 0}, None, "No prediction yet"),
    ({"final_equity": None, "total_return": None}, None, "No equity recorded"),
    ({"trades": 0}, None, "abstained on 58% of the bars"),
    ({"trades": 0}, "drawdown 21% reached the 20% limit", "trading is halted (drawdown 21%"),
    ({"total_return": -0.30}, "daily loss limit", "a halt that stopped new entries (daily loss limit)"),
    ({"total_return": -0.12, "fees_paid": 900.0, "trades": 700}, None, "costs: fees of 9.0% of capital over 700"),
    ({"total_return": 0.10, "buy_and_hold_return": 0.80, "exposure": 0.2}, None, "time out of a rising market"),
    # A loss is the trades', however little of the time they took.
    ({"total_return": -0.30, "buy_and_hold_return": 0.40, "exposure": 0.3}, None, "the trades themselves (40 round"),
    ({"fees_paid": 150.0}, None, "the trades themselves (40 round trips, 55% won) and fees of 1.5% of capital"),
    ({"trades": 0, "open_trades": 1, "win_rate": None}, None, "driven by the trades themselves (1 open trade);"),
    ({"trades": 1, "open_trades": 1}, None, "the trades themselves (1 round trip and 1 open trade, 55% won);"),
])
def test_the_rule_that_applies_names_the_driver(changes: dict, halt: str | None, says: str) -> None:
    sentence = verdict(summary(**changes), halt)
    assert says in sentence
    assert sentence.count(". ") == 0 and sentence.endswith(".")  # one sentence
