"""Every kind of event the bot writes (to the events table, the log and the
notifications), each with what it means, and the names `notify.events`
can choose among. Names outside them are refused: a misspelt kind in
`notify.events` was accepted and never sent, and `?kind=` with a typo
answered 200 with no events, as if there had been none.

tests/test_event_kinds.py reads bot/ for the kinds written, so a kind
added without its line here fails it. No imports: the CLI reads the
config, and with it this list, before anything heavy is loaded."""

from __future__ import annotations

import difflib

EVENT_KINDS: dict[str, str] = {
    # Trading and risk
    "fill": "an order filled (sent as a notification only; fills have their own table)",
    "stop_loss": "a position's stop-loss filled",
    "take_profit": "a position's take-profit filled",
    "kill_switch": "the drawdown limit was reached: every position flattened, entries halted until `bot resume`",
    "daily_loss_limit": "the day's loss limit was reached: no new entries until the next UTC day",
    "entries_halted": "new entries halted (a failing strategy, an operator's pause or flatten); stops stay",
    "order_blocked": "an entry a rule forbade; notify.events matches it by its rule (see BLOCK_RULES)",
    "paused": "an operator's pause that found trading already halted",
    "pause_cancelled": "an operator's pause not carried out: a resume came after it",
    "flatten_requested": "an operator's flatten: every position closes at the next bar",
    "flatten_cancelled": "an operator's flatten not carried out: a resume came after it",
    "resumed": "trading resumed by `bot resume` (or a resume that found nothing halted)",
    "daily_summary": "the summary sent at the end of each UTC day",
    # Strategy
    "strategy_error": "the strategy failed on a bar (each new fault once); no order on that bar",
    "strategy_recovered": "a symbol's failing strategy works again",
    "strategy_target_clamped": "the strategy asked for a target outside [-1, 1]; clamped",
    # Models
    "model_trained": "a retrain's model became the champion (a promotion)",
    "model_rejected": "a retrain's model was not better than the champion; not promoted",
    "model_recalibrated": "the champion was recalibrated on the newest windows",
    "model_promoted": "an operator promoted a model version",
    "retrain_skipped": "a retrain found too little history, or nothing to learn",
    "retrain_failed": "a retrain raised; the champion stays",
    "train_requested": "a retrain asked for by `bot train --request` started",
    "champion_unreadable": "the champion's files could not be loaded; an earlier version took its place",
    # Market data
    "bar_rejected": "a bar refused as implausible or malformed",
    "bar_conflict": "a duplicate bar with other values; the first kept",
    "extreme_move": "a close-to-close move beyond market.extreme_move_sigmas (kept, flagged)",
    "price_level_changed": "a price taken at a new level after a day of rejections; entries halt with a position open",
    "price_corrected": "a suspicious bar, asked for again, came back with other values, which are used",
    "price_confirmed": "a suspicious bar the exchange served again unchanged, or the next bar confirmed",
    "price_held": "a suspicious bar held back until confirmed",
    "gap_pending": "bars missing: the symbol is held while the hole is asked for again",
    "gap_unfilled": "bars missing for good: the symbol goes on without them",
    "fetch_failed": "fetching bars from the exchange failed",
    "data_stalled": "no new bar stepped for a symbol for several bars",
    "data_resumed": "a stalled symbol steps again",
    "data_ended": "a symbol's replay data ended while other symbols go on",
    # The daemon
    "bar_job_failed": "a firing of the bar job failed (each distinct fault once)",
    "bar_step_stuck": "a bar step has run far beyond its limit",
    "bar_step_unstuck": "a stuck bar step ended",
    "daemon_stopped": "a step could not be committed; the daemon stopped (restart to resume)",
    # The exchange and reconciliation
    "order_refused": "an order under the exchange's minimum amount or notional; not sent",
    "order_rejected": "the exchange refused an order, or sending it failed with an error",
    "order_ack_lost": "no reply to a sent order; looked up by its client id",
    "order_held_back": "an order not sent yet while the exchange asks for quiet",
    "order_expired": "an order held back, or decided before a restart, that went stale; not sent",
    "order_resent": "an order decided before a restart and never sent; sent now",
    "order_found": "an order the exchange did not show at first, found",
    "order_missing": "an acknowledged order the exchange no longer shows",
    "order_never_arrived": "an order not on the exchange after many look-ups; not sent again",
    "fee_other_asset": "a fee paid in an asset outside the ledger",
    "reconcile_failed": "the exchange's balances could not be read",
    "balance_mismatch": "the exchange's balance differs from the ledger's; no entry until they match",
    "balance_matched": "the account matches the ledger again; entries allowed",
    "unknown_order": "an open order on the exchange that this run did not place",
}

# The rule of an `order_blocked` event (its data["rule"]), by which
# notify.events matches it: bot/risk/manager.py and the exchange broker's
# entry_block name them.
BLOCK_RULES: dict[str, str] = {
    "stale_data": "the bar arrived later than risk.max_bar_age_seconds",
    "halted": "trading halted (kill switch, pause, flatten, a failing strategy) until `bot resume`",
    "daily_loss_limit": "the day's loss limit reached",
    "cooldown": "the cooldown after a stop-out",
    "max_open_positions": "risk.max_open_positions already open",
    "min_notional": "the order would be under risk.min_order_notional",
    "unknown_order": "an order whose fate on the exchange is unknown",
    "balance_mismatch": "the account disagrees with the ledger",
    "credentials_refused": "the exchange refused the API keys",
}

EVERY_OTHER = "*"  # in notify.events: every kind not named
NOTIFY_NAMES = frozenset(EVENT_KINDS) | frozenset(BLOCK_RULES) | {EVERY_OTHER}


def unknown_name(name: str, known: frozenset[str] | dict[str, str], shown: str | None = None) -> str | None:
    """None for a known name; else why not, with the nearest known name:
    "'kill_swich' is no event kind (did you mean 'kill_switch'?)". `shown`:
    the name as the message quotes it (a web query's, shortened)."""
    if name in known:
        return None
    nearest = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f"did you mean {nearest[0]!r}?" if nearest else "the kinds are listed in bot/event_kinds.py"
    return f"{shown or repr(name)} is no event kind ({hint})"
