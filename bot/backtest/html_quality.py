"""The model-quality part of the HTML backtest report: the quality table
of every model variant, the calibration of each retrain of the strategy's
model, and the regime the strategy's champion read over the period."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bot.backtest import html_report as page
from bot.backtest.model_report import HIT_RATE_IS_ACCURACY, hit_rate_is_accuracy
from bot.backtest.result import BacktestResult, VariantRun

QUALITY_COLUMNS = (
    ("ic", "IC", "dec3"),
    ("rank_ic", "rank IC", "dec3"),
    ("accuracy_decile", "accuracy, top 10%", "pct"),
    ("hit_rate_decile", "hit rate, top 10%", "pct"),
    ("accuracy_quintile", "accuracy, top 20%", "pct"),
    ("hit_rate_quintile", "hit rate, top 20%", "pct"),
    ("ece_median", "ECE (median)", "dec3"),
    ("timing_p_value", "timing p", "dec3"),
    ("dsr", "DSR", "dec3"),
)
CALIBRATION_COLUMNS = (
    ("n", "n", "int"),
    ("mean_prob", "mean P", "dec3"),
    ("observed_rate", "observed", "dec3"),
    ("brier", "Brier", "dec3"),
    ("ece", "ECE", "dec3"),
)


def quality_sections(result: BacktestResult, variants: list[tuple[str, VariantRun]]) -> list[str]:
    models = [(key, run) for key, run in variants if "ic" in (run.metrics or {})]
    if not models:
        return []
    trials = models[0][1].metrics.get("dsr_trials")
    note = (
        '<p class="note">IC and rank IC: correlation of the expected edge with the target\'s realized '
        "return. Top 10% / 20%: the most confident calls (largest |P - 0.5|): accuracy of the label, and "
        "hit rate, the share whose realized return had the call's sign. ECE: expected calibration error "
        "of each retrain, median across retrains. Timing p: the strategy's entries against random "
        "entries with the same number of trades and holding times (one-sided bootstrap). DSR: deflated "
        f"Sharpe ratio for {page._esc(trials)} variants tried."
        + (" " + page._esc(HIT_RATE_IS_ACCURACY) if hit_rate_is_accuracy([run.metrics for _, run in models]) else "")
        + "</p>"
    )
    sections = [page._section("Model quality", _table(models, QUALITY_COLUMNS) + "\n" + note)]
    calibration = result.strategy.metrics.get("calibration") or []
    if calibration:
        rows = [(c["version"], c) for c in calibration]
        sections.append(
            page._section("Calibration of each retrain (strategy)", _rows_table("version", rows, CALIBRATION_COLUMNS))
        )
    png = regime_figure(result)
    if png is not None:
        sections.append(page._section("Regime", page._img(png, "Close price and the turbulent-regime probability")))
    return sections


def _table(models: list[tuple[str, VariantRun]], columns) -> str:
    rows = [(page._label(key, run), run.metrics) for key, run in models]
    return _rows_table("variant", rows, columns)


def _rows_table(first: str, rows: list[tuple[str, dict]], columns) -> str:
    head = "".join(f"<th>{page._esc(label)}</th>" for _, label, _ in columns)
    body = "\n".join(
        f"<tr><td>{page._esc(name)}</td>"
        + "".join(f"<td>{page.format_metric(values.get(key), kind)}</td>" for key, _, kind in columns)
        + "</tr>"
        for name, values in rows
    )
    return (
        f'<table class="metrics">\n<thead><tr><th>{page._esc(first)}</th>{head}</tr></thead>\n'
        f"<tbody>\n{body}\n</tbody>\n</table>"
    )


def regime_figure(result: BacktestResult) -> bytes | None:
    """The close, shaded where the champion's regime model read turbulence
    (P > 0.5), above the probability itself; None without regime readings."""
    predictions = result.strategy.predictions
    if not len(predictions) or "regime" not in predictions or predictions.regime.isna().all():
        return None
    readings = predictions[["ts", "regime"]].dropna().sort_values("ts")
    prices = result.prices.sort_values("ts")
    fig, (top, bottom) = page.plt.subplots(2, 1, figsize=(11, 5), sharex=True, height_ratios=(3, 1))
    when = page._utc(prices.ts)
    top.plot(when, prices.close.to_numpy(float), color="#444", linewidth=0.9, label="close")
    turbulent = pd.Series(readings.regime.to_numpy(float) > 0.5, index=readings.ts.to_numpy())
    shade = turbulent.reindex(prices.ts.to_numpy(), fill_value=False).to_numpy()
    low, high = float(np.nanmin(prices.close)), float(np.nanmax(prices.close))
    top.fill_between(
        when, low, high, where=shade, color="tab:red", alpha=0.15, step="mid", label="turbulent regime (P > 0.5)"
    )
    top.set_title("Close and the regime read by the strategy's champion")
    top.set_ylabel("price")
    top.legend(loc="upper left", fontsize="small")
    top.grid(True, alpha=0.3)
    bottom.plot(page._utc(readings.ts), readings.regime.to_numpy(float), color="tab:red", linewidth=0.6)
    bottom.set_ylim(0, 1)
    page._finish(fig, bottom, "P(turbulent)")
    return page._png(fig)
