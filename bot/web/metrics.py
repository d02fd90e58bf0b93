"""/metrics in the Prometheus text format, made fresh from the store at
each scrape (a registry of its own, so nothing is kept between scrapes
and nothing of the process's own is mixed in)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from bot.config import Config
from bot.report.data_quality import DATA_QUALITY
from bot.store import Store
from bot.web.health import health


def metrics_text(store: Store, cfg: Config, now_ms: int) -> str:
    registry = CollectorRegistry()

    def gauge(name: str, doc: str, value: float | None, **labels: str) -> None:
        if value is None:
            return
        g = Gauge(name, doc, list(labels), registry=registry)
        (g.labels(**labels) if labels else g).set(value)

    equity = store.equity_frame()
    if len(equity):
        curve = equity.equity
        gauge("bot_equity", "Account equity, quote currency", float(curve.iloc[-1]))
        gauge("bot_drawdown", "Drawdown from the equity peak, a fraction", float(1 - curve.iloc[-1] / curve.max()))
        # Gross: a short's value is negative in the equity row, and a long in
        # one symbol beside a short in another read as no exposure at all.
        gauge(
            "bot_open_exposure",
            "Value of the open positions, shorts counted as positive, quote currency",
            gross_exposure(store),
        )
        gauge(
            "bot_net_exposure",
            "Value of the open positions, longs less shorts, quote currency",
            float(equity.position_value.iloc[-1]),
        )
    gauge("bot_bars_processed", "Bars stepped and stored", float(store.bar_count()))
    state = health(store, cfg, now_ms)
    gauge(
        "bot_seconds_since_bar_close",
        "Seconds since the newest stored bar closed, of the symbol whose newest bar is oldest",
        state.seconds_since_bar_close,
    )
    gauge("bot_healthy", "1 while the daemon steps bars on time", 1.0 if state.healthy else 0.0)
    counts = store.event_counts()
    faults = Gauge("bot_data_faults", "Data-quality events so far, by kind", ["kind"], registry=registry)
    for kind, _ in DATA_QUALITY:
        faults.labels(kind=kind).set(counts.get(kind, 0))
    versions = store.model_versions()
    gauge("bot_model_versions", "Model versions trained so far", float(len(versions)))
    # Recalibrated versions were not trained: the newest that was.
    trained = [s for v in versions if isinstance(s := v.metrics().get("train_seconds"), int | float)]
    if trained:
        gauge("bot_last_retrain_seconds", "Training time of the newest trained model version", trained[-1])
    champion = store.champion()
    if champion is not None:
        gauge(
            "bot_champion_live_auc",
            "Rolling live ROC AUC of the champion model",
            champion.live_auc,
            version=champion.version,
        )
        gauge(
            "bot_champion_live_scored",
            "Predictions of the champion scored live",
            float(champion.live_n),
            version=champion.version,
        )
    return generate_latest(registry).decode()


def gross_exposure(store: Store) -> float:
    """The newest position of each symbol at its mark, longs and shorts alike."""
    return float(sum(abs(p.qty * p.mark) for p in store.latest_positions()))
