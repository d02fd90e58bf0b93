"""`bot report`, `bot trades`, `bot status`: reviewing a run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import JustifyMethod
from rich.table import Table
from rich.text import Text

from bot import json_values
from bot.cli.common import DEFAULT_CONFIG, ConfigPath, UserError, console, err_console, guarded, open_existing_store
from bot.cli.output_paths import check_output_path
from bot.config import Config, ConfigError, load_config
from bot.domain import OrderStatus
from bot.price_text import price_text
from bot.printable_text import printable
from bot.report.data_quality import data_quality_line
from bot.timeframes import iso_utc
from bot.whole_file import write_text_whole, write_whole


@guarded
def report(
    config: ConfigPath = DEFAULT_CONFIG,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write the interactive report, one self-contained file.")
    ] = None,
) -> None:
    """Summary of the run: return, Sharpe, drawdown, win rate, models;
    with --html, the dashboard's charts and tables as one offline file."""
    from bot.report.render import summary_table
    from bot.report.summary import build_summary

    cfg = load_config(config)
    if html is not None:
        check_output_path(html, "--html", cfg, config)
    store = open_existing_store(cfg)
    try:
        summary = build_summary(store, cfg)
        if html is not None:
            _write_html_report(store, cfg, html)
    finally:
        store.close()
    if as_json:
        sys.stdout.write(json_values.dumps(summary) + "\n")
    else:
        console.print(summary_table(summary))


def _write_html_report(store, cfg: Config, path: Path) -> None:
    import time

    from bot.json_values import clean
    from bot.web.dashboard_data import dashboard_payload
    from bot.web.page import report_page

    err_console.print("building the HTML report...")
    page = report_page(clean(dashboard_payload(store, cfg, int(time.time() * 1000))))
    try:
        write_text_whole(path, page)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or type(exc).__name__}") from None
    err_console.print(f"report written to {path}", markup=False)


@guarded
def trades(
    config: ConfigPath = DEFAULT_CONFIG,
    csv: Annotated[Path | None, typer.Option(help="Write every row to this CSV file.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Rows shown on the console.")] = 20,
    fills: Annotated[bool, typer.Option("--fills", help="The fills, not the round trips.")] = False,
) -> None:
    """The run's round trips (entry, exit, prices, fees, PnL, why each ended),
    or with --fills its fills: on the console, or all of them as CSV."""
    from dataclasses import asdict

    import pandas as pd

    from bot.report.render import fills_table, trades_table
    from bot.report.spreadsheet_cells import spreadsheet_safe
    from bot.report.trade_list import marks_of, trade_list

    cfg = load_config(config)
    if csv is not None:
        check_output_path(csv, "--csv", cfg, config)
    store = open_existing_store(cfg)
    try:
        frame = store.fills_frame()
        if not fills:
            trips = trade_list(frame, store.orders_frame(), cfg.timeframe_ms, marks_of(store.latest_positions()))
            frame = pd.DataFrame([asdict(t) for t in trips], columns=_trade_fields())
    finally:
        store.close()
    what = "fills" if fills else "round trips"
    if csv is None:
        console.print(fills_table(frame, limit) if fills else trades_table(frame, limit))
        return
    # Counts and bar times stay whole numbers where an open trip has none
    # (exit_ts 1736424005000.0 and bars_held 4.0 beside an empty cell).
    for column in ("ts", "entry_ts", "exit_ts", "bars_held"):
        if column in frame:
            frame[column] = frame[column].astype("Int64")
    # A readable time beside each bar time (an open trip has no exit).
    for column, name in (("ts", "time"), ("entry_ts", "entry_time"), ("exit_ts", "exit_time")):
        if column in frame:
            times = [iso_utc(int(t)) if pd.notna(t) else "" for t in frame[column]]
            frame.insert(frame.columns.get_loc(column) + 1, name, times)
    try:
        cells = spreadsheet_safe(frame)
        write_whole(csv, lambda temporary: cells.to_csv(temporary, index=False))
    except OSError as exc:
        raise UserError(f"cannot write {csv}: {exc.strerror or type(exc).__name__}") from None
    err_console.print(f"{len(frame)} {what} written to {csv}")


def _trade_fields() -> list[str]:
    from dataclasses import fields

    from bot.report.trade_list import Trade

    return [f.name for f in fields(Trade)]


@guarded
def explain(
    config: ConfigPath = DEFAULT_CONFIG,
    start: Annotated[str | None, typer.Option("--from", help="First bar, an ISO date or time (UTC).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last bar, an ISO date or time (UTC).")] = None,
    symbol: Annotated[str | None, typer.Option(help="One symbol only.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="The newest this many bars of the range.")] = 48,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per bar, a line each.")] = False,
) -> None:
    """Bar by bar: P(up), the strategy's decision and its reason, and what
    the risk manager and the broker did (orders, fills, events)."""
    from dataclasses import asdict

    from bot.report.explain import explain as explain_bars
    from bot.report.render import explain_table

    cfg = load_config(config)
    start_ms, end_ms = _iso_or_none(start, "--from"), _iso_or_none(end, "--to")
    if start_ms is not None and end_ms is not None and end_ms < start_ms:
        raise ConfigError(f"--to: {end} is before --from {start}: no bar lies between them")
    if symbol is not None and symbol not in cfg.symbols:
        raise ConfigError(f"--symbol: {symbol} is not among the run's symbols ({', '.join(cfg.symbols)})")
    store = open_existing_store(cfg)
    try:
        bars = explain_bars(store, cfg, symbol, start_ms, end_ms, limit)
        span = None if bars else _predicted_span(store)
    finally:
        store.close()
    if as_json:
        sys.stdout.write("".join(json_values.dumps({**asdict(b), "time": iso_utc(b.ts)}) + "\n" for b in bars))
    elif bars:
        console.print(explain_table(bars))
    else:
        err_console.print(
            f"no predicted bar in that range; the run's predictions cover {span[0]} .. {span[1]}"
            if span
            else "no predicted bar yet (the first model trains after retrain.initial_train_bars)",
            markup=False,
        )


def _predicted_span(store) -> tuple[str, str] | None:
    """The first and newest bar times with a prediction, or None."""
    first = store.first_prediction_ts()
    newest = max((p.ts for p in store.latest_decisions()), default=None)
    return (iso_utc(first), iso_utc(newest)) if first is not None and newest is not None else None


def _iso_or_none(value: str | None, option: str) -> int | None:
    from bot.timeframes import parse_iso_ms

    if value is None:
        return None
    try:
        return parse_iso_ms(value)
    except ValueError:
        raise ConfigError(f"{option}: '{value}' is not an ISO date or time like 2024-01-31T12:00") from None


@guarded
def status(config: ConfigPath = DEFAULT_CONFIG) -> None:
    """Where the run stands: last bars, positions, model, recent events."""
    cfg = load_config(config)
    store = open_existing_store(cfg)
    try:
        console.print(_status_table(cfg, store))
        console.print(_decisions_table(store))
        console.print(_events_table(store))
    finally:
        store.close()


def _status_table(cfg: Config, store) -> Table:
    table = Table(title=f"Status ({cfg.mode}, {cfg.timeframe})", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")
    _config_row(table, cfg, store)
    for symbol in cfg.symbols:
        last = store.last_bar_ts(symbol)
        table.add_row(f"{symbol} last bar", iso_utc(last) if last is not None else "-")
    equity = store.latest_equity()
    if equity is not None:
        table.add_row("Equity / cash", f"{equity.equity:,.2f} / {equity.cash:,.2f}")
    _risk_rows(table, store)
    open_orders = store.open_orders()
    _venue_rows(table, store, open_orders)
    for pos in store.latest_positions():
        if pos.qty != 0:
            protection = ", ".join(
                f"{o.reason.replace('_', ' ')} {price_text(o.resting_price)}"
                for o in open_orders
                if o.symbol == pos.symbol and o.kind.protective
            )
            table.add_row(
                f"{pos.symbol} position",
                f"{pos.qty:+.6f} @ {price_text(pos.avg_entry)}"
                + _guard(protection, abs(pos.qty) * pos.mark, cfg.risk.min_order_notional),
            )
    champion = store.champion()
    table.add_row("Champion model", champion.version if champion else "none yet")
    for p in store.latest_decisions():
        edge = f", edge {p.expected_edge:+.3%}" if p.expected_edge is not None else ""
        table.add_row(f"{p.symbol} last decision", f"{iso_utc(p.ts)} {p.decision}{edge}: {p.reason}")
    counts = store.event_counts()
    table.add_row("Data quality", data_quality_line(counts))
    table.add_row("Events", ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "none")
    return table


def _config_row(table: Table, cfg: Config, store) -> None:
    """A config whose decision settings are not the run's (another symbol
    list, a BOT__ variable forgotten in the shell) was shown beside the
    run's rows without a word: its symbols' "last bar -" next to the run's
    decisions. `bot run` refuses such a config; status says so."""
    from bot.app.changed_settings import DECISION_SETTINGS_KEY, changed_settings

    changed = changed_settings(store.get_meta(DECISION_SETTINGS_KEY), cfg.decision_json())
    if changed:
        table.add_row(
            "Config",
            Text(f"not the run's{changed}; `bot run` would refuse it, and rows by symbol follow it", "bold red"),
        )


def _guard(protection: str, worth: float, smallest_order: float) -> str:
    """What guards a position. Fee dust (a base-asset fee leaves some) has
    no stop and needs none, and was shown as a bare "(unprotected)" beside
    a flat book. The venue's smallest amount, which the engine calls dust,
    is not stored; a position worth less than the smallest entry is most
    likely dust, but may be one that shrank, so it is still said unprotected."""
    if protection:
        return f" ({protection})"
    if worth < smallest_order:
        return f" (unprotected; worth {worth:,.2f}, under risk.min_order_notional: likely fee dust)"
    return " (unprotected)"


def _risk_rows(table: Table, store) -> None:
    from bot.risk.state import RiskState

    state = RiskState.from_json(store.get_meta("risk_state"))
    table.add_row(
        "Trading",
        Text.assemble(("HALTED", "bold red"), f": {printable(state.halt_reason or '')}; `bot resume` clears it")
        if state.halted
        else "active",
    )
    from bot.app.operator_requests import pending, resume_waiting

    waiting = pending(store, state)
    if waiting:  # made, not acted on yet: a daemon carries them out at its next bar (or start)
        table.add_row("Requested", f"{', '.join(waiting)}: at the daemon's next bar; `bot resume` cancels")
    resume = resume_waiting(store, state)
    if resume is not None:
        table.add_row("Requested", f"{resume}: at the daemon's next bar (a replay's next start)")
    if state.day_blocked is not None and state.day_blocked == state.day:
        table.add_row("Daily loss limit", "reached: no new entries until the next UTC day")
    cooling = {s: n for s, n in state.cooldown.items() if n > 0}
    if cooling:
        table.add_row("Cooldown", ", ".join(f"{s}: {n} bars" for s, n in sorted(cooling.items())))


def _venue_rows(table: Table, store, open_orders) -> None:
    """What the exchange has not settled: orders without an answer and an
    account that disagrees with the ledger both hold new entries back."""
    unknown = [o for o in open_orders if o.status is OrderStatus.UNKNOWN]
    for order in unknown:
        table.add_row(
            "Order unknown",
            f"{order.id} ({order.side.value} {order.qty:g} {order.symbol}, sent "
            f"{iso_utc(order.created_ts)}): no reply yet, asked after at every reconciliation",
        )
    problem = store.get_meta("balance_problem")
    if problem:
        table.add_row("Balance mismatch", problem)
    if unknown or problem:
        table.add_row(
            "Entries",
            Text.assemble(("BLOCKED", "bold red"), " until the exchange answers and the account matches the ledger"),
        )


def _decisions_table(store, limit: int = 8) -> Table:
    """Why the bot did or did not trade: predictions by decision and reason."""
    table = Table(title="Decisions since the first prediction", title_justify="left")
    columns: tuple[tuple[str, JustifyMethod], ...] = (("decision", "left"), ("reason", "left"), ("bars", "right"))
    for column, justify in columns:
        table.add_column(column, justify=justify)
    for decision, reason, count in store.decision_counts()[:limit]:
        table.add_row(decision, reason, f"{count:,}")
    return table


def _events_table(store) -> Table:
    table = Table(title="Last events", title_justify="left")
    for column in ("time", "level", "kind", "symbol", "message"):
        table.add_column(column)
    for e in reversed(store.recent_events(10)):
        table.add_row(iso_utc(e.ts), e.level, e.kind, e.symbol or "", e.message)
    return table
