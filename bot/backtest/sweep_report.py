"""The sweep's HTML page: a heat map of each cell's Sharpe ratio (the
settings down, symbol and period across; hover: return, trades, deflated
Sharpe ratio) and the table of every cell. One file, plotly inlined."""

from __future__ import annotations

import html
import json

from bot.web.page import embedded_json, inline_script, plotly_js, static_text

COLUMNS = (("total_return", "return", "{:.2%}"), ("buy_and_hold_total_return", "buy and hold", "{:.2%}"),
           ("sharpe", "Sharpe", "{:.2f}"), ("buy_and_hold_sharpe", "hold Sharpe", "{:.2f}"),
           ("max_drawdown", "max DD", "{:.2%}"), ("buy_and_hold_max_drawdown", "hold max DD", "{:.2%}"),
           ("trades", "trades", "{:.0f}"), ("psr", "PSR", "{:.3f}"), ("dsr", "DSR", "{:.3f}"))  # fmt: skip


def _setting(cell: dict) -> str:
    return " ".join(f"{k}={json.dumps(v)}" for k, v in cell["overrides"].items()) or "as configured"


def _where(cell: dict) -> str:
    return f"{cell['symbol']} {cell['start'] or '..'}..{cell['end'] or '..'}"


def _cell_text(value, pattern: str) -> str:
    return "\u2013" if value is None else pattern.format(value)


def sweep_html(cells: list[dict]) -> str:
    rows = list(dict.fromkeys(_setting(c) for c in cells))
    cols = list(dict.fromkeys(_where(c) for c in cells))
    by_place = {(_setting(c), _where(c)): c["metrics"] for c in cells}
    z = [[by_place.get((r, c), {}).get("sharpe") for c in cols] for r in rows]
    hover = [
        [" ".join(f"{label} {_cell_text(by_place.get((r, c), {}).get(k), p)}" for k, label, p in COLUMNS) for c in cols]
        for r in rows
    ]
    figure = {
        "data": [{"type": "heatmap", "z": z, "x": [html.escape(c) for c in cols], "y": [html.escape(r) for r in rows],
                  "text": hover, "hovertemplate": "%{y}<br>%{x}<br>%{text}<extra></extra>", "zmid": 0,
                  "colorscale": [[0, "#c62828"], [0.5, "#f7f7f7"], [1, "#2e7d32"]], "texttemplate": "%{z:.2f}"}],
        "layout": {"title": {"text": "Sharpe ratio of each cell"}, "height": 160 + 40 * len(rows),
                   "margin": {"l": 260, "r": 20, "t": 50, "b": 80}},
    }  # fmt: skip
    head = "".join(f"<th>{h}</th>" for h in ("setting", "symbol and period", *(label for _, label, _ in COLUMNS)))
    body = "\n".join(
        "<tr>"
        + f"<td>{html.escape(_setting(c))}</td><td>{html.escape(_where(c))}</td>"
        + "".join(f"<td>{_cell_text(c['metrics'].get(k), p)}</td>" for k, _, p in COLUMNS)
        + "</tr>"
        for c in cells
    )
    trials = len(cells)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Sweep</title>\n'
        "<style>body{font-family:sans-serif;max-width:1200px;margin:1em auto;padding:0 1em}"
        "table{border-collapse:collapse;font-size:.85em}td,th{padding:.25em .6em;border-bottom:1px solid #eee;"
        "text-align:right}td:first-child,td:nth-child(2){text-align:left}</style>\n"
        f"<script>{inline_script(plotly_js())}</script>\n<script>{inline_script(static_text('figures.js'))}</script>\n"
        "</head>\n<body>\n"
        f"<h1>Sweep: {trials} cells</h1>\n<p>Walk-forward backtests of the strategy; the deflated Sharpe ratio "
        f"counts all {trials} cells as trials.</p>\n"
        '<div id="figure-1"></div>\n'
        f'<script type="application/json" class="figure" data-for="figure-1">{embedded_json(figure)}</script>\n'
        f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>\n</body>\n</html>\n"
    )
