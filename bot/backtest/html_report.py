"""A self-contained HTML report of a walk-forward backtest.

One file, no external references: the charts are interactive plotly
figures (zoom, hover) stored as JSON in the page and drawn by plotly's own
JavaScript, inlined once from the installed Python package; the regime
chart is a PNG drawn with matplotlib's Agg backend, inlined as a data URI;
the styling is an inline <style> block. Every string that comes from the
data or the config is HTML-escaped, in the page and in the figures' JSON.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bot.backtest.result import BacktestResult, VariantRun  # noqa: E402
from bot.report.data_quality import data_quality_line  # noqa: E402
from bot.whole_file import write_text_whole  # noqa: E402

BASELINE_ORDER = ("buy_and_hold", "flat", "logistic", "random_forest", "gru", "lightgbm")

# (metric key, column label, kind); kind picks the formatting.
METRIC_COLUMNS = (
    ("accuracy", "accuracy", "dec3"),
    ("roc_auc", "ROC AUC", "dec3"),
    ("total_return", "total return", "pct"),
    ("cagr", "CAGR", "pct"),
    ("sharpe", "Sharpe", "dec2"),
    ("sortino", "Sortino", "dec2"),
    ("max_drawdown", "max drawdown", "pct"),
    ("calmar", "Calmar", "dec2"),
    ("win_rate", "win rate", "pct"),
    ("profit_factor", "profit factor", "dec2"),
    ("trades", "trades", "int"),
    ("exposure", "exposure", "pct"),
    ("fees_paid", "fees paid", "dec2"),
    ("psr", "PSR", "dec3"),
)

MISSING = "\u2013"  # en dash, shown for None / NaN / missing metrics

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: .2em; }
h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; font-size: .85em; }
th, td { padding: .3em .6em; border-bottom: 1px solid #e5e5e5; }
th { background: #f5f5f5; text-align: right; }
td { text-align: right; font-variant-numeric: tabular-nums; }
th:first-child, td:first-child { text-align: left; }
tr.strategy td { font-weight: bold; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: .2em 1em; }
dl.facts dt { font-weight: bold; }
dl.facts dd { margin: 0; }
img { max-width: 100%; height: auto; }
.chart { min-height: 360px; }
.scroll { max-height: 420px; overflow-y: auto; }
table.trades th { position: sticky; top: 0; }
p.note { color: #555; }
pre { background: #f7f7f7; padding: .8em; overflow-x: auto; font-size: .8em; }
"""


# -- public helpers -------------------------------------------------------------


def write_html_report(result: BacktestResult, path: Path) -> None:
    """Write the report of `result` to `path` as one self-contained HTML file."""
    from bot.backtest.html_quality import quality_sections  # it builds on this module's helpers

    variants = ordered_variants(result)
    figures = _Figures()
    sections = [
        _header(result),
        _section("Metrics", _metrics_table(variants)),
        *_chart_sections(result, variants, figures),
        *quality_sections(result, variants),
        _section("Configuration", f"<pre>{_esc(_config_text(result.config))}</pre>"),
    ]
    title = f"Backtest report \u2013 {_esc(result.data.get('symbol', ''))}"
    document = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n<style>{_CSS}</style>\n{figures.scripts()}</head>\n<body>\n"
        + "\n".join(sections)
        + "\n</body>\n</html>\n"
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_whole(path, document)


class _Figures:
    """The report's plotly figures: a <div> where each goes, its JSON beside
    it, and plotly's JavaScript inlined once in the head."""

    def __init__(self) -> None:
        self.count = 0

    def place(self, figure: dict, css: str = "chart") -> str:
        from bot.web.page import embedded_json

        self.count += 1
        ident = f"figure-{self.count}"
        return (
            f'<div id="{ident}" class="{css}"></div>\n'
            f'<script type="application/json" class="figure" data-for="{ident}">{embedded_json(figure)}</script>'
        )

    def scripts(self) -> str:
        from bot.web.page import inline_script, plotly_js, static_text

        if not self.count:
            return ""
        scripts = (plotly_js(), static_text("figures.js"))
        return "".join(f"<script>{inline_script(script)}</script>\n" for script in scripts)


def _chart_sections(result: BacktestResult, variants: list[tuple[str, VariantRun]], figures: _Figures) -> list[str]:
    from bot.backtest import html_charts as charts
    from bot.report.trade_list import trade_list

    labelled = [(key, _label(key, run), run) for key, run in variants]
    symbol = str((result.data or {}).get("symbol") or "")
    strategy = result.strategy
    bar_ms = _bar_ms(result.prices)
    marks = _newest_closes(_for_symbol(result.prices, symbol or None))
    trades = trade_list(_for_symbol(strategy.fills, symbol or None), strategy.orders, bar_ms, marks) if bar_ms else []
    periods = 365 * 86_400_000 / bar_ms if bar_ms else 8_760.0
    curves = [(label, *_outcomes(run)) for _, label, run in labelled]
    curves = [(label, prob, outcome) for label, prob, outcome in curves if len(prob)]
    calibration = (
        figures.place(charts.calibration_chart(curves))
        + '\n<p class="note">prob_up in 10 equal-width bins over [0, 1]; bins with fewer '
        "than 20 predictions with a known outcome are left out.</p>"
        if curves
        else '<p class="note">No variant has predictions with known outcomes.</p>'
    )
    return [
        _section("Equity", figures.place(charts.equity_chart(labelled))),
        _section("Drawdown", figures.place(charts.drawdown_chart(labelled))),
        _section(
            "Price, entries and exits",
            figures.place(charts.price_chart(_for_symbol(result.prices, symbol or None), trades, symbol)),
        ),
        _section(
            "Round trips of the strategy", _trades_table(trades) + figures.place(charts.exit_reasons_chart(trades))
        ),
        _section(
            "Returns and risk",
            figures.place(charts.monthly_chart(strategy.equity))
            + figures.place(charts.rolling_chart(strategy, periods)),
        ),
        _section("Calibration", calibration),
    ]


TRADES_SHOWN = 500
TRADE_COLUMNS = (
    "entry (UTC)",
    "exit (UTC)",
    "entry price",
    "exit price",
    "bars",
    "PnL",
    "return",
    "fees",
    "exit reason",
)


def _newest_closes(prices) -> dict[str, float]:
    """Each symbol's last close of the traded period: an open trade's mark."""
    if prices is None or not len(prices):
        return {}
    newest = prices.sort_values("ts").groupby("symbol").tail(1)
    return dict(zip(newest.symbol, newest.close.astype(float), strict=True))


def _trades_table(trades: list) -> str:
    if not trades:
        return '<p class="note">The strategy made no trade.</p>'
    shown = trades[-TRADES_SHOWN:][::-1]
    head = "".join(f"<th>{h}</th>" for h in TRADE_COLUMNS)
    rows = []
    for t in shown:
        marked = t.open_pnl is not None
        cells = [
            _esc(_iso_minute(t.entry_ts)),
            _esc(_iso_minute(t.exit_ts)),
            format_metric(t.entry_price, "dec2"),
            format_metric(t.mark_price if marked else t.exit_price, "dec2") + ("*" if marked else ""),
            format_metric(t.bars_held, "int"),
            format_metric(t.open_pnl if marked else t.pnl, "dec2") + ("*" if marked else ""),
            format_metric(t.open_return_pct if marked else t.return_pct, "pct") + ("*" if marked else ""),
            format_metric(t.fees, "dec2"),
            _esc(t.exit_reason or "open"),
        ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    note = f'<p class="note">The newest {len(shown)} of {len(trades)} round trips, newest first.</p>'
    if any(t.open_pnl is not None for t in shown):
        note += (
            '<p class="note">* open at the end: the last close, and what closing there would make '
            "before the exit fee.</p>"
        )
    return f'{note}<div class="scroll"><table class="trades">\n<thead><tr>{head}</tr></thead>\n<tbody>\n' + (
        "\n".join(rows) + "\n</tbody>\n</table></div>\n"
    )


def _iso_minute(ts) -> str:
    return MISSING if ts is None else datetime.fromtimestamp(ts / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _bar_ms(prices: pd.DataFrame) -> int | None:
    """The bar length, read off the prices' open times."""
    steps = np.diff(np.unique(prices["ts"].to_numpy(dtype="int64"))) if len(prices) else np.array([])
    return int(steps.min()) if len(steps) else None


def ordered_variants(result: BacktestResult) -> list[tuple[str, VariantRun]]:
    """The strategy first, then the known baselines in a fixed order, then any others by name."""
    known = [name for name in BASELINE_ORDER if name in result.baselines]
    others = sorted(name for name in result.baselines if name not in BASELINE_ORDER)
    return [("strategy", result.strategy)] + [(name, result.baselines[name]) for name in known + others]


# -- formatting -------------------------------------------------------------------


def _esc(value) -> str:
    return html.escape(str(value), quote=True)


def format_metric(value, kind: str) -> str:
    """A metric value as table text: '–' for None/NaN, percent, integer or decimals."""
    if value is None or isinstance(value, bool):
        return MISSING if value is None else _esc(value)
    if not isinstance(value, (int, float, np.integer, np.floating)):
        return _esc(value)
    value = float(value)
    if math.isnan(value):
        return MISSING
    if math.isinf(value):
        return "\u221e" if value > 0 else "-\u221e"
    if kind == "pct":
        return f"{value * 100:.2f}%"
    if kind == "int":
        return f"{value:,.0f}"
    return f"{value:,.{3 if kind == 'dec3' else 2}f}"


def _iso_date(value) -> str:
    """A date for the header from epoch ms, a datetime or an ISO string."""
    if value is None:
        return MISSING
    try:
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
            moment = datetime.fromtimestamp(float(value) / 1000, tz=UTC)
        else:
            moment = pd.Timestamp(value).to_pydatetime()
        return moment.date().isoformat()
    except (ValueError, TypeError, OverflowError):
        return str(value)


def _duration(seconds) -> str:
    if seconds is None:
        return MISSING
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min {rest:02d} s" if hours else f"{minutes} min {rest:02d} s"


def _config_text(config: dict) -> str:
    try:
        return json.dumps(config, indent=2, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(config)


def _label(key: str, run: VariantRun) -> str:
    return key if not run.name or run.name == key else f"{key} ({run.name})"


def _plot_label(key: str, run: VariantRun) -> str:
    """A legend label matplotlib shows verbatim ('$' would start mathtext)."""
    return _label(key, run).replace("$", r"\$")


# -- HTML pieces --------------------------------------------------------------------


def _section(title: str, body: str) -> str:
    return f"<section>\n<h2>{_esc(title)}</h2>\n{body}\n</section>"


def _header(result: BacktestResult) -> str:
    data = result.data or {}
    bars = data.get("bars")
    bars_text = f"{bars:,}" if isinstance(bars, (int, np.integer)) else (MISSING if bars is None else bars)
    facts = [
        ("Symbol", _esc(data.get("symbol", MISSING))),
        ("Period", f"{_esc(_iso_date(data.get('from')))} to {_esc(_iso_date(data.get('to')))} (UTC)"),
        ("Bars", _esc(bars_text)),
        ("Wall time", _esc(_duration(result.wall_seconds))),
    ]
    if "data_quality" in data:  # a result saved before it was counted has none
        facts.insert(3, ("Data quality", _esc(data_quality_line(data["data_quality"]))))
    items = "\n".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in facts)
    return (
        f"<header>\n<h1>Walk-forward backtest: {_esc(data.get('symbol', ''))}</h1>\n"
        '<p class="note">Out-of-sample, walk-forward backtest: the models are retrained on past '
        "bars only and every decision is taken by the same engine, strategy and risk manager as "
        "the paper-trading daemon, with simulated fills and fees. Baselines run over the same "
        "period for comparison.</p>\n"
        f'<dl class="facts">\n{items}\n</dl>\n{_short_window(result, bars)}</header>'
    )


def _short_window(result: BacktestResult, bars) -> str:
    from bot.backtest.short_window import short_window_note
    from bot.report.metrics import traded_span_ms

    trades = (result.strategy.metrics or {}).get("trades")
    known = int(bars) if isinstance(bars, (int, np.integer)) else None
    span = traded_span_ms(result.strategy.equity)
    note = short_window_note(known, (result.config or {}).get("timeframe"), trades, span)
    return f'<p class="note warning">{_esc(note)}</p>\n' if note else ""


def _metrics_table(variants: list[tuple[str, VariantRun]]) -> str:
    head = "".join(f'<th title="{_esc(key)}">{_esc(label)}</th>' for key, label, _ in METRIC_COLUMNS)
    rows = []
    for key, run in variants:
        metrics = run.metrics or {}
        cells = "".join(f"<td>{format_metric(metrics.get(m), kind)}</td>" for m, _, kind in METRIC_COLUMNS)
        css = ' class="strategy"' if key == "strategy" else ""
        rows.append(f"<tr{css}><td>{_esc(_label(key, run))}</td>{cells}</tr>")
    return (
        f'<table class="metrics">\n<thead><tr><th>variant</th>{head}</tr></thead>\n'
        "<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>"
    )


def _img(png: bytes, alt: str) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return f'<img alt="{_esc(alt)}" src="data:image/png;base64,{encoded}">'


# -- figures (one per function, each returns PNG bytes) -------------------------------


def _png(fig) -> bytes:
    """Render and close `fig`. The metadata is dropped so the PNG names no URL."""
    try:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
        return buffer.getvalue()
    finally:
        plt.close(fig)


def _utc(index) -> pd.DatetimeIndex:
    """Bar open times in epoch ms as naive UTC datetimes."""
    return pd.to_datetime(np.asarray(index, dtype="int64"), unit="ms")


def _style(key: str, position: int) -> dict:
    color = plt.get_cmap("tab10")(position % 10)
    return {"color": color, "linewidth": 2.0 if key == "strategy" else 1.1}


def _finish(fig, ax, ylabel: str) -> None:
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize="small")
    fig.autofmt_xdate()


def drawdown_series(equity: pd.Series) -> pd.Series:
    """1 - equity / running peak, in percent (0 at a new high)."""
    equity = equity.dropna().astype(float)
    peaks = equity.cummax()
    return (1.0 - equity / peaks.where(peaks > 0)) * 100.0


def _for_symbol(frame: pd.DataFrame, symbol) -> pd.DataFrame:
    if symbol is None or "symbol" not in frame.columns:
        return frame
    return frame[frame["symbol"] == symbol]


def _outcomes(run: VariantRun) -> tuple[np.ndarray, np.ndarray]:
    predictions = run.predictions
    if predictions is None or not len(predictions) or not {"prob_up", "outcome"} <= set(predictions.columns):
        return np.array([]), np.array([])
    return (predictions["prob_up"].to_numpy(dtype=float), predictions["outcome"].to_numpy(dtype=float))
