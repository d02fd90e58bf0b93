"""Rich tables for the console: the run summary, fills and status."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from bot.price_text import price_text
from bot.printable_text import printable
from bot.timeframes import iso_utc


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _price(value: float | None) -> str:
    return "-" if value is None else price_text(value)


def summary_table(s: dict) -> Table:
    table = Table(title="Run summary", show_header=False, title_justify="left")
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    rows = [
        ("Bars", f"{s['bars']:,}"),
        ("Traded period", f"{s['traded_from'] or '-'} .. {s['traded_to'] or '-'}"),
        ("Predictions", f"{s['predictions']:,}"),
        ("Trades (closed / open)", f"{s['trades']:,} / {s['open_trades']}"),
        ("Total return (buy and hold, before costs)", f"{_pct(s['total_return'])} ({_pct(s['buy_and_hold_return'])})"),
        ("Sharpe, annualised (buy and hold)", f"{_num(s['sharpe'])} ({_num(s['buy_and_hold_sharpe'])})"),
        ("Probabilistic Sharpe ratio vs 0", _num(s["psr"], 3)),
        ("Max drawdown (buy and hold)", f"{_pct(s['max_drawdown'])} ({_pct(s['buy_and_hold_max_drawdown'])})"),
        ("Win rate", _pct(s["win_rate"])),
        ("Exposure", _pct(s["exposure"])),
        ("Fees paid", _num(s["fees_paid"])),
        ("Final equity", _num(s["final_equity"])),
        ("Model versions", str(s["model_versions"])),
        ("Decisions", ", ".join(f"{k} {v:,}" for k, v in sorted(s["decisions"].items(), key=lambda kv: -kv[1])) or "-"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    if s.get("verdict"):
        # Text, not markup: a halt reason is the run's own text.
        table.caption = Text(printable(s["verdict"]), style="bold")  # it may quote a stored halt reason
        table.caption_justify = "left"
    return table


def fills_table(fills, limit: int) -> Table:
    table = Table(title=f"Fills (newest {min(limit, len(fills))} of {len(fills)})", title_justify="left")
    for column in ("time", "symbol", "side", "qty", "price", "fee", "realized PnL", "order"):
        table.add_column(column, justify="right" if column in ("qty", "price", "fee", "realized PnL") else "left")
    for f in fills.tail(limit).itertuples():
        table.add_row(
            iso_utc(f.ts),
            f.symbol,
            f.side,
            f"{f.qty:.6f}",
            _price(f.price),
            _num(f.fee, 4),
            _num(f.realized_pnl),
            f.order_id,
        )
    return table


def trades_table(trips, limit: int) -> Table:
    """The newest `limit` round trips (a frame of bot.report.trade_list.Trade rows)."""
    table = Table(title=f"Round trips (newest {min(limit, len(trips))} of {len(trips)})", title_justify="left")
    for column in (
        "entry",
        "exit",
        "symbol",
        "side",
        "qty",
        "entry price",
        "exit price",
        "fees",
        "PnL",
        "return",
        "bars",
        "exit reason",
    ):
        numeric = column in ("qty", "entry price", "exit price", "fees", "PnL", "return", "bars")
        table.add_column(column, justify="right" if numeric else "left")
    marked = False
    for t in trips.tail(limit).itertuples():
        is_open = not _known(t.exit_ts)
        at_mark = is_open and _known(getattr(t, "open_pnl", None))
        marked = marked or at_mark
        table.add_row(
            iso_utc(int(t.entry_ts)),
            "open" if is_open else iso_utc(int(t.exit_ts)),
            t.symbol,
            t.direction,
            f"{t.qty:.6f}",
            _price(t.entry_price),
            (_price(t.mark_price) + "*" if at_mark else "") if is_open else _price(t.exit_price),
            _num(t.fees, 4),
            _num(t.open_pnl) + "*" if at_mark else _num(t.pnl),
            _pct(t.open_return_pct) + "*" if at_mark else _pct(t.return_pct),
            "" if is_open else str(int(t.bars_held)),
            "" if is_open else str(t.exit_reason),
        )
    if marked:
        table.caption = "* open: the newest close, and what closing there would make before the exit fee"
        table.caption_justify = "left"
    return table


def _known(value) -> bool:
    """Not None, nor NaN (a missing value in a frame)."""
    return value is not None and value == value


def explain_table(bars) -> Table:
    """`bot explain`: one row per bar; run text goes in as Text, never
    markup, its control characters shown as escapes (Text skips the safe
    console's own escaping)."""
    table = Table(title=f"Why the bot did what it did ({len(bars)} bars)", title_justify="left", show_lines=True)
    for column in ("bar", "symbol", "P(up)", "edge", "decision", "reason", "orders, fills, events"):
        table.add_column(column, justify="right" if column in ("P(up)", "edge") else "left")
    for b in bars:
        actions = [*b.orders, *b.fills, *b.events]
        table.add_row(
            iso_utc(b.ts),
            Text(printable(b.symbol)),
            f"{b.prob_up:.3f}",
            "-" if b.expected_edge is None else f"{b.expected_edge:+.3%}",
            b.decision,
            Text(printable(b.reason)),
            Text(printable("\n".join(actions)) if actions else "-"),
        )
    return table
