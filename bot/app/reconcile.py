"""Reconciliation of an exchange account with the database, at start-up
and every `schedule.reconcile_seconds`:

1. Our open orders are looked up by client id. Found: adopted, their fills
   booked, their status followed. Not found and never acknowledged (written
   ahead of a crash): sent now if decided within the last bar, else expired.
2. Open orders on the exchange for our symbols that are not ours are
   reported (`unknown_order`) and left alone: someone else placed them.
3. Balances: each asset the bot trades is expected at its amount when the
   run began plus what our fills moved; a difference is reported
   (`balance_mismatch`), never "corrected": the ledger follows our fills.
   A difference beyond dust (the exchange's smallest tradable amount for a
   base asset, a hundredth of a percent of the cash) blocks new entries
   until a later round finds the account and the ledger agreeing again;
   the block is saved in the run's metadata for `bot status`.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import ccxt
import structlog

from bot.app.finding_streaks import FindingStreaks
from bot.broker.exchange import ExchangeBroker
from bot.config import ConfigError
from bot.domain import Event
from bot.engine import Engine
from bot.logging_setup import log_event
from bot.market.ccxt_feed import network_reason
from bot.secrets import credential_names
from bot.store import Store

log = structlog.get_logger("bot.app.reconcile")

BASELINE_KEY = "balance_baseline"
BALANCE_PROBLEM_KEY = "balance_problem"  # "" when the account matches the ledger
QUOTE_DUST = 1e-4  # of the expected cash balance


def reconcile(
    engine: Engine,
    store: Store,
    symbols: list[str],
    initial_cash: float,
    now_ms: int,
    streaks: FindingStreaks | None = None,
    notify: Callable[[Event], None] | None = None,
    at_start: bool = False,
) -> None:
    """One round. `streaks`: the daemon's memory of the rounds before, so a
    finding is reported once while it lasts (without: every finding);
    `notify`: where the events go besides the database and the log (they
    reached no notification); `at_start`: the round before the daemon
    starts, where credentials the exchange refuses stop it (exit 2): it
    ran on, rejected an order at every entry bar, and said so each time."""
    broker = engine.broker
    if not isinstance(broker, ExchangeBroker):
        return
    broker.poll(now_ms)
    engine.book_late_fills()
    events = _foreign_orders(broker, symbols, now_ms)
    try:
        balances = broker.client.balances()
    except ccxt.AuthenticationError as exc:  # PermissionDenied and AccountSuspended among them
        if at_start:
            raise ConfigError(
                f"{', '.join(credential_names(broker.client.exchange))}: the exchange refused them "
                f"({network_reason(exc)}); check the keys, their permissions and the exchange "
                "(a testnet's keys are its own)"
            ) from None
        broker.credentials_refused = network_reason(exc)  # revoked while running: no entry until taken again
        events.append(
            Event(now_ms, "reconcile_failed", f"balances unavailable: {network_reason(exc)}", level="warning")
        )
        balances = None
    except ccxt.BaseError as exc:
        events.append(
            Event(now_ms, "reconcile_failed", f"balances unavailable: {network_reason(exc)}", level="warning")
        )
        balances = None
    if balances is not None:
        broker.credentials_refused = None  # a signed request answered: the keys are taken
        found = _compare_balances(engine, store, symbols, initial_cash, balances, now_ms)
        events.extend(found)
        _follow_balance_problem(broker, store, symbols, found, now_ms, events)
    problems = len(events)
    for e in streaks.new(events) if streaks is not None else events:
        store.add_event(e)
        log_event(log, e)
        if notify is not None:
            notify(e)
    log.info("reconciled", open_orders=len(broker.open_orders), problems=problems)


def _foreign_orders(broker: ExchangeBroker, symbols: list[str], now_ms: int) -> list[Event]:
    ours = {broker.client_id(o) for o in broker.open_orders.values()}
    events = []
    for symbol in symbols:
        try:
            listed = broker.client.open_orders(symbol)
        except ccxt.BaseError as exc:
            events.append(
                Event(
                    now_ms,
                    "reconcile_failed",
                    f"open orders unavailable: {network_reason(exc)}",
                    level="warning",
                    symbol=symbol,
                )
            )
            continue
        for order in listed:
            if order.get("clientOrderId") not in ours:
                events.append(
                    Event(
                        now_ms,
                        "unknown_order",
                        "an open order on the exchange that this run did not place; left alone",
                        level="warning",
                        symbol=symbol,
                        data={
                            "exchange_order_id": order.get("id"),
                            "side": order.get("side"),
                            "amount": order.get("amount"),
                        },
                    )
                )
    return events


def _compare_balances(
    engine: Engine, store: Store, symbols: list[str], initial_cash: float, balances: dict[str, float], now_ms: int
) -> list[Event]:
    assets = _assets(symbols)
    raw = store.get_meta(BASELINE_KEY)
    if raw is None:
        quote = assets[-1]
        if balances.get(quote, 0.0) < initial_cash:
            raise ConfigError(
                f"paper.initial_cash: {initial_cash:,.2f} is more than the account's "
                f"{balances.get(quote, 0.0):,.2f} {quote}"
            )
        store.set_meta(BASELINE_KEY, json.dumps({a: balances.get(a, 0.0) for a in assets}))
        return []
    baseline = json.loads(raw)
    expected = _expected(engine, symbols, initial_cash, baseline)
    events = []
    for asset, amount in expected.items():
        actual = balances.get(asset, 0.0)
        if abs(actual - amount) > 1e-8 * max(1.0, abs(amount)):
            events.append(
                Event(
                    now_ms,
                    "balance_mismatch",
                    f"{asset}: exchange {actual:.8f}, ledger expects {amount:.8f}",
                    level="warning",
                    data={"asset": asset, "exchange": actual, "expected": amount, "difference": actual - amount},
                )
            )
    return events


def _follow_balance_problem(
    broker: ExchangeBroker, store: Store, symbols: list[str], mismatches: list[Event], now_ms: int, events: list[Event]
) -> None:
    """Block entries while a mismatch is beyond dust; lift the block (with
    an event) once the account agrees again."""
    dust = {s.split("/")[0]: broker.dust_qty(s) for s in symbols}
    serious = [
        e
        for e in mismatches
        if e.data is not None  # every mismatch event carries its numbers
        and abs(e.data["difference"]) > dust.get(e.data["asset"], QUOTE_DUST * max(1.0, abs(e.data["expected"])))
    ]
    for e in mismatches:  # a difference that grows past dust blocks entries: news again (finding_streaks)
        assert e.data is not None
        e.data["blocks_entries"] = any(e is blocking for blocking in serious)
    problem = "; ".join(e.message for e in serious) or None
    if broker.balance_problem and not problem:
        events.append(Event(now_ms, "balance_matched", "the account matches the ledger again; entries allowed"))
    broker.balance_problem = problem
    store.set_meta(BALANCE_PROBLEM_KEY, problem or "")


def _assets(symbols: list[str]) -> list[str]:
    """Base assets, then the quote assets (the last one is the cash)."""
    bases = [s.split("/")[0] for s in symbols]
    quotes = sorted({s.split("/")[1] for s in symbols})
    return [*bases, *quotes]


def _expected(engine: Engine, symbols: list[str], initial_cash: float, baseline: dict) -> dict[str, float]:
    ledger = engine.ledger
    out = {}
    for symbol in symbols:
        base = symbol.split("/")[0]
        out[base] = baseline.get(base, 0.0) + ledger.position(symbol).qty
    quote = symbols[0].split("/")[1]
    out[quote] = baseline.get(quote, 0.0) + ledger.cash - initial_cash
    return out
