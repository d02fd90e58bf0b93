"""bot/event_kinds.py lists every kind of event the bot writes and every
name notify.events can match: read from bot/'s own source and constants,
so a kind added without its line there fails here (and would otherwise be
refused in notify.events and in the API's ?kind=)."""

from __future__ import annotations

import ast

import pytest
from event_kind_scan import BOT, blocked_entry_rules, event_kinds

from bot.config import DEFAULT_NOTIFY_EVENTS, NotifyConfig
from bot.event_kinds import BLOCK_RULES, EVENT_KINDS, EVERY_OTHER, NOTIFY_NAMES, unknown_name
from bot.risk.manager import BLOCK_RULE, PROTECTIVE_EXITS

# Kinds the scan cannot follow, each traced by a test below. A new one
# fails test_every_event_kind_is_read_from_the_source_or_traced_by_hand:
# trace it, and add a test for its values.
TRACED_BY_HAND = {
    ("bot/risk/manager.py", "after_fills", "reason"),  # test_a_protective_exit_fill_is_a_listed_kind
    ("bot/store/store.py", "_event_of", "row['kind']"),  # an event read back: written by one of the others
}
ENTRY_BLOCK_SOURCES = {("bot/risk/manager.py", "_entry", "*blocked")}  # test_every_entry_block_rule_is_listed


def test_every_event_kind_written_is_listed() -> None:
    assert sorted(event_kinds().names - set(EVENT_KINDS)) == []


def test_every_event_kind_is_read_from_the_source_or_traced_by_hand() -> None:
    assert event_kinds().unresolved == TRACED_BY_HAND


def test_the_scan_follows_kinds_passed_on_and_put_together() -> None:
    """The scan's own reach, on kinds written through helpers: an exchange
    broker's _reject -> _event, a retrain's choice of two, an operator's
    f"{what}_cancelled", screening's imported PRICE_LEVEL_CHANGED."""
    names = event_kinds().names
    assert {"order_refused", "model_trained", "model_rejected", "pause_cancelled", "flatten_cancelled"} <= names
    assert {"bar_rejected", "price_level_changed", "retrain_failed"} <= names


def test_a_protective_exit_fill_is_a_listed_kind() -> None:
    assert set(PROTECTIVE_EXITS) <= set(EVENT_KINDS)


def test_every_notify_default_is_a_name_notify_can_match() -> None:
    assert sorted(set(DEFAULT_NOTIFY_EVENTS) - NOTIFY_NAMES) == []


def test_every_blocked_entry_rule_written_is_listed() -> None:
    found = blocked_entry_rules()
    assert found.unresolved == ENTRY_BLOCK_SOURCES
    assert sorted(found.names - set(BLOCK_RULES)) == []


def test_every_entry_block_rule_is_listed() -> None:
    """The rules `*blocked` carries: the trading states' (BLOCK_RULE) and
    the first of each (rule, why) an entry_block function returns, the risk
    manager's own and the exchange broker's."""
    returned = set(BLOCK_RULE.values())
    for path in BOT.rglob("*.py"):
        for function in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(function, ast.FunctionDef) and function.name.endswith("entry_block"):
                returned |= _first_of_returned_pairs(function)
    assert {"cooldown", "max_open_positions", "credentials_refused"} <= returned  # the scan found them
    assert sorted(returned - set(BLOCK_RULES)) == []


def _first_of_returned_pairs(function: ast.FunctionDef) -> set[str]:
    return {
        node.value.elts[0].value
        for node in ast.walk(function)
        if isinstance(node, ast.Return)
        and isinstance(node.value, ast.Tuple)
        and node.value.elts
        and isinstance(node.value.elts[0], ast.Constant)
    }


def test_every_listed_kind_and_rule_says_what_it_is() -> None:
    assert [name for name, what in {**EVENT_KINDS, **BLOCK_RULES}.items() if not what.strip()] == []


def test_notify_takes_every_kind_every_rule_and_the_rest() -> None:
    events = dict.fromkeys(NOTIFY_NAMES, "info")
    assert NotifyConfig(events=events).events == events
    assert EVERY_OTHER in events and "stale_data" in events and "kill_switch" in events


@pytest.mark.parametrize(("name", "says"), [
    ("kill_swich", "'kill_swich' is no event kind (did you mean 'kill_switch'?)"),
    ("stop_los", "'stop_los' is no event kind (did you mean 'stop_loss'?)"),
    ("zzzz", "'zzzz' is no event kind (the kinds are listed in bot/event_kinds.py)"),
])
def test_an_unknown_name_is_told_with_the_nearest_known_one(name: str, says: str) -> None:
    assert unknown_name(name, NOTIFY_NAMES) == says
