"""One sentence at the end of a run: what drove the result, and what to try
next. Read off the run summary (bot/report/summary.py) by plain rules, in
order: no prediction yet, no equity recorded, no trade, a halt, costs, time out of a rising
market, and otherwise the trades themselves."""

from __future__ import annotations

COSTLY = 0.5  # fees above this share of the return's size drove it
LOW_EXPOSURE = 0.5


def verdict(summary: dict, halt_reason: str | None) -> str:
    if not summary["predictions"]:
        return (
            "No prediction yet: the first model trains once retrain.initial_train_bars bars are stored; run for longer."
        )
    if summary["final_equity"] is None:
        return (
            "No equity recorded: the run's equity table is empty while it holds predictions or fills, "
            "so its return cannot be told; restore the database from a backup."
        )
    trips = summary["trades"] + summary["open_trades"]
    if trips == 0:
        return _no_trade(summary, halt_reason)
    ret, hold = summary["total_return"], summary["buy_and_hold_return"]
    opening = f"Return {ret:+.1%}" + (f" against buy and hold {hold:+.1%}" if hold is not None else "")
    driver, advice = _driver(summary, halt_reason, trips)
    return f"{opening}, driven by {driver}; next, {advice}."


def _no_trade(summary: dict, halt_reason: str | None) -> str:
    if halt_reason:
        return f"No trade: trading is halted ({halt_reason}); `bot resume` clears it."
    decisions = summary["decisions"]
    abstained = decisions.get("abstain", 0) / max(1, sum(decisions.values()))
    return (
        f"No trade: the strategy abstained on {abstained:.0%} of the bars it was asked about; "
        "`bot explain` shows each bar's reason, and a smaller strategy margin or a longer "
        "model.horizon_bars lets a weaker edge trade."
    )


def _driver(summary: dict, halt_reason: str | None, trips: int) -> tuple[str, str]:
    ret, hold = summary["total_return"], summary["buy_and_hold_return"]
    fees = summary["fees_paid"] / summary["initial_equity"]
    if halt_reason:
        return (
            f"a halt that stopped new entries ({halt_reason})",
            "read the events that led to it (`bot status`), then `bot resume` or loosen the risk limit",
        )
    if fees > 0.01 and fees >= COSTLY * abs(ret):
        return (
            f"costs: fees of {fees:.1%} of capital over {_trades(summary)}",
            "trade less: a larger strategy margin or a longer minimum hold",
        )
    # Only a run that gained can owe its shortfall to time out of the market:
    # a loss was made in the trades it did take (-99.9% had read "time out
    # of a rising market ... accept the lower risk it bought").
    if hold is not None and hold > ret >= 0 and summary["exposure"] < LOW_EXPOSURE:
        return (
            f"time out of a rising market (in it {summary['exposure']:.0%} of the time)",
            "compare with a longer model.horizon_bars, or accept the lower risk it bought",
        )
    wins = summary["win_rate"]
    won = f", {wins:.0%} won" if wins is not None and summary["trades"] else ""
    paid = f" and fees of {fees:.1%} of capital" if fees > 0.01 else ""
    return (
        f"the trades themselves ({_trades(summary)}{won}){paid}",
        "check that the edge holds on later data (`bot backtest`) before trusting it",
    )


def _trades(summary: dict) -> str:
    """'40 round trips', '1 open trade', '3 round trips and 1 open trade':
    a trade still open is no round trip yet."""
    counted = [(summary["trades"], "round trip"), (summary["open_trades"], "open trade")]
    return " and ".join(f"{n} {name}{'' if n == 1 else 's'}" for n, name in counted if n)
