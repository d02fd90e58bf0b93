"""Everything the dashboard draws, in one JSON object: served live at
/api/v1/dashboard and embedded in the file `bot report --html` writes, so
the page and the report are one renderer over one payload.

The headline figures are `bot report --json`'s summary itself, so the page
can only show what the API and the CLI show."""

from __future__ import annotations

from dataclasses import asdict

from bot.config import Config
from bot.model.targets import Target
from bot.model.version import ModelVersion
from bot.report import run_charts
from bot.report.data_quality import DATA_QUALITY
from bot.report.run_frames import RunFrames
from bot.report.summary import build_summary
from bot.report.trade_list import marks_of, trade_list
from bot.store import Store
from bot.timeframes import bars_per_year, iso_utc
from bot.web.run_status import run_status

RECENT_TRADES = 50
RECENT_EVENTS = 50


def dashboard_payload(store: Store, cfg: Config, now_ms: int) -> dict:
    frames = RunFrames(store)
    summary = build_summary(store, cfg, frames)
    equity, bars, orders = frames.equity, frames.bars, store.orders_frame()
    trades = trade_list(frames.fills, orders, cfg.timeframe_ms, marks_of(store.latest_positions()))
    start = frames.first_prediction_ts
    scored = run_charts.prediction_outcomes(frames.predictions, bars, Target.of(cfg))
    return {
        "generated": iso_utc(now_ms),
        "title": f"{', '.join(cfg.symbols)} {cfg.timeframe} \u2013 {cfg.mode}",
        "summary": summary,
        "status": run_status(store, cfg),
        "equity": run_charts.equity_series(equity, bars, start, bars_per_year(cfg.timeframe)),
        "monthly_returns": run_charts.monthly_returns(equity[equity.ts >= start] if start is not None else equity),
        "prices": [run_charts.price_series(bars, orders, trades, s) for s in cfg.symbols],
        "model": run_charts.model_series(scored),
        "models": [_version(v) for v in store.model_versions()],
        "timeline": _timeline(store),
        "trades": [asdict(t) for t in reversed(trades[-RECENT_TRADES:])],
        "exit_reasons": run_charts.exit_reasons(trades),
        "events": _recent_events(store),
        "data_quality": _data_quality(store),
    }


def _version(v: ModelVersion) -> dict:
    metrics = v.metrics()
    return {
        "version": v.version,
        "created_ts": v.created_ts,
        "status": v.status,
        "kind": v.kind,
        "val_auc": metrics.get("val_auc"),
        "val_accuracy": metrics.get("val_accuracy"),
        "gate": metrics.get("gate_reason"),
        "live_n": v.live_n,
        "live_accuracy": v.live_accuracy,
        "live_auc": v.live_auc,
    }


def _timeline(store: Store) -> list[dict]:
    """Retrains, recalibrations, rejections and promotions, oldest first."""
    events = store.events_frame()
    events = events[events.kind.str.startswith("model_")]
    return [
        {"ts": int(e.ts), "kind": e.kind, "message": e.message}
        for e in events[["ts", "kind", "message"]].itertuples(index=False)
    ]


def _recent_events(store: Store) -> list[dict]:
    return [
        {"ts": e.ts, "level": e.level, "kind": e.kind, "symbol": e.symbol, "message": e.message}
        for e in store.recent_events(RECENT_EVENTS)
    ]


def _data_quality(store: Store) -> list[dict]:
    counts = store.event_counts()
    return [{"kind": kind, "label": label, "count": counts.get(kind, 0)} for kind, label in DATA_QUALITY]
