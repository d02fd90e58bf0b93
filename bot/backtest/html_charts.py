"""The interactive charts of the backtest report: plotly figures written as
JSON, drawn in the page by plotly's own JavaScript inlined once (no CDN).

Each figure is a plain {"data": [...], "layout": {...}} dict; every string
from the data (variant names, symbols, exit reasons) is HTML-escaped first,
since plotly reads a few tags in labels. Long curves are thinned to
run_charts.MAX_POINTS points; the trade markers are all kept, and zooming
in separates them however many there are."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from bot.backtest.result import VariantRun
from bot.report import run_charts
from bot.report.calibration_bins import calibration_bins
from bot.report.trade_list import Trade

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def plain(text) -> str:
    return html.escape(str(text), quote=False)


def _times(ts) -> list[str]:
    """Epoch ms as ISO strings plotly reads as dates (UTC)."""
    return [pd.Timestamp(int(t), unit="ms").isoformat() for t in ts]


def _layout(title: str, **extra) -> dict:
    return {
        "title": {"text": plain(title), "font": {"size": 14}},
        "margin": {"l": 60, "r": 20, "t": 40, "b": 40},
        "height": 360,
        "legend": {"orientation": "h", "y": -0.15},
        "hovermode": "x unified",
        **extra,
    }


def _line(ts, values, name: str, position: int, strong: bool = False, **extra) -> dict:
    index = run_charts.thinned(len(values))
    return {
        "type": "scatter",
        "mode": "lines",
        "x": _times(np.asarray(ts)[index]),
        "y": run_charts.finite(np.asarray(values, dtype=float)[index]),
        "name": plain(name),
        "line": {"color": PALETTE[position % len(PALETTE)], "width": 2.2 if strong else 1.2},
        **extra,
    }


def equity_chart(variants: list[tuple[str, str, VariantRun]]) -> dict:
    traces = [
        _line(run.equity.index, run.equity.to_numpy(), label, i, key == "strategy")
        for i, (key, label, run) in enumerate(variants)
        if len(run.equity.dropna())
    ]
    return {"data": traces, "layout": _layout("Equity of every variant", height=420)}


def drawdown_chart(variants: list[tuple[str, str, VariantRun]]) -> dict:
    traces = []
    for i, (key, label, run) in enumerate(variants):
        equity = run.equity.dropna().astype(float)
        if len(equity):
            drawdown = -(1 - equity / equity.cummax())
            traces.append(_line(drawdown.index, drawdown.to_numpy(), label, i, key == "strategy"))
    return {"data": traces, "layout": _layout("Drawdown from the running peak", yaxis={"tickformat": ".0%"})}


def price_chart(prices: pd.DataFrame, trades: list[Trade], symbol: str) -> dict:
    """The close, every entry and every exit (hover: price, PnL, reason)."""
    closes = prices.sort_values("ts")
    exits = [t for t in trades if t.exit_ts is not None]
    return {
        "data": [
            {**_line(closes.ts, closes.close.to_numpy(), f"{symbol} close", 7), "line": {"color": "#444", "width": 1}},
            _markers(
                [t.entry_ts for t in trades],
                [t.entry_price for t in trades],
                "entry",
                "#2ca02c",
                "triangle-up",
                [f"entry ({plain(t.entry_reason)})" for t in trades],
            ),
            _markers(
                [t.exit_ts for t in exits],
                [t.exit_price for t in exits],
                "exit",
                "#d62728",
                "triangle-down",
                [f"{plain(t.exit_reason or '')}: PnL {t.pnl:,.2f} ({t.return_pct:+.2%})" for t in exits],
            ),
        ],
        "layout": _layout(f"{symbol}: close with the strategy's entries and exits", height=420, hovermode="closest"),
    }


def _markers(ts, price, name: str, color: str, symbol: str, text: list[str]) -> dict:
    return {
        "type": "scatter",
        "mode": "markers",
        "x": _times(ts),
        "y": [float(p) for p in price],
        "name": name,
        "text": text,
        "marker": {"color": color, "symbol": symbol, "size": 8, "line": {"width": 1, "color": "#fff"}},
    }


def monthly_chart(equity: pd.Series) -> dict:
    frame = pd.DataFrame({"ts": equity.index.astype("int64"), "equity": equity.to_numpy(dtype=float)})
    months = run_charts.monthly_returns(frame)
    years = sorted({m["year"] for m in months})
    by_month = {(m["year"], m["month"]): m["return"] for m in months}
    grid = [[by_month.get((y, k + 1)) for k in range(12)] for y in years]
    heatmap = {
        "type": "heatmap",
        "z": grid,
        "x": list(MONTHS),
        "y": [str(y) for y in years],
        "zmid": 0,
        "colorscale": [[0, "#c62828"], [0.5, "#f7f7f7"], [1, "#2e7d32"]],
        "texttemplate": "%{z:.1%}",
        "hovertemplate": "%{y} %{x}: %{z:.2%}<extra></extra>",
    }
    layout = _layout("Monthly returns of the strategy", hovermode="closest", yaxis={"type": "category"})
    return {"data": [heatmap], "layout": layout}


def rolling_chart(run: VariantRun, periods_per_year: float) -> dict:
    equity = run.equity.astype(float)
    frame = pd.DataFrame({"ts": equity.index, "equity": equity.to_numpy(), "position_value": run.position_value})
    series = run_charts.equity_series(frame, pd.DataFrame(), None, periods_per_year)
    sharpe = _line(series["ts"], series["rolling_sharpe"], "rolling 30-day Sharpe", 0)
    exposure = _line(series["ts"], series["exposure"], "exposure", 1, yaxis="y2", fill="tozeroy")
    layout = _layout(
        "The strategy's rolling Sharpe and exposure",
        yaxis={"title": {"text": "Sharpe"}, "domain": [0.4, 1]},
        yaxis2={"title": {"text": "exposure"}, "domain": [0, 0.32], "tickformat": ".0%"},
    )
    return {"data": [sharpe, exposure], "layout": layout}


def exit_reasons_chart(trades: list[Trade]) -> dict:
    counts = run_charts.exit_reasons(trades)
    bars = {"type": "bar", "x": [plain(r) for r in counts], "y": list(counts.values()), "name": "round trips"}
    return {"data": [bars], "layout": _layout("Why the strategy's round trips ended", hovermode="closest")}


def calibration_chart(curves: list[tuple[str, np.ndarray, np.ndarray]]) -> dict:
    traces: list[dict] = [
        {
            "type": "scatter",
            "mode": "lines",
            "x": [0, 1],
            "y": [0, 1],
            "name": "perfect calibration",
            "line": {"color": "#999", "dash": "dash", "width": 1},
        }
    ]
    for i, (label, prob, outcome) in enumerate(curves):
        points = calibration_bins(prob, outcome)
        if points:
            traces.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "x": [p for p, _, _ in points],
                    "y": [o for _, o, _ in points],
                    "text": [f"{n} predictions" for _, _, n in points],
                    "name": plain(label),
                    "line": {"color": PALETTE[i % len(PALETTE)]},
                }
            )
    layout = _layout(
        "Calibration: mean P(up) against the observed frequency",
        hovermode="closest",
        height=420,
        xaxis={"range": [0, 1], "title": {"text": "mean predicted probability"}},
        yaxis={"range": [0, 1], "title": {"text": "observed frequency"}},
    )
    return {"data": traces, "layout": layout}
