"""The retrain job: when due, train a challenger on the newest history,
judge it against the champion on the same newest validation windows, and
register it as the new champion or as rejected. With the challenger come
its edge map (what a probability is worth in return), optional Platt
calibration, and its companions: a volatility forecast and a regime model
fitted on the same history.

Due means: no model yet and enough history, or the retrain cadence
(`retrain.every_days` or `retrain.cron`) has come round since the last
version. The check reads only the clock and the registry, so a restarted
run finds exactly the retrains an uninterrupted one would do.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import structlog
from apscheduler.triggers.cron import CronTrigger

from bot.app.scheduling import to_datetime, to_ms
from bot.config import Config, ModelConfig
from bot.domain import Event
from bot.features.spec import feature_columns
from bot.model.dataset import SymbolSeries, TrainingSet, build_training_set
from bot.model.factory import new_model
from bot.model.metrics import average_ranks, classification_metrics, regression_metrics
from bot.model.predictor import EdgeMap, Predictor, edge_level_error
from bot.model.promotion import judge
from bot.model.regime import RegimeModel
from bot.model.registry import Candidate, ModelRegistry
from bot.model.targets import Target
from bot.model.version import ModelVersion
from bot.model.volatility import VolatilityModel
from bot.ports import ChampionSeat, TrainingData

log = structlog.get_logger("bot.retrain")

DAY_MS = 86_400_000


class Retrainer:
    def __init__(self, config: Config, data: TrainingData, seat: ChampionSeat, registry: ModelRegistry) -> None:
        self.config = config
        self.data = data  # the engine's rolling feature history, read-only
        self.seat = seat
        self.registry = registry
        r = config.retrain
        self._cron = CronTrigger.from_crontab(r.cron, timezone="UTC") if r.cron else None
        # When the next retrain is due, kept in memory: read from the store
        # once, and again after each retrain (which may add versions), never
        # per bar, so a long run's bars cost what its first bars cost.
        self._schedule_known = False
        self._has_versions = False
        self._due_ms: int | None = None
        # A retrain skipped for its data (every label the same) is tried
        # again at the next due time, not at every bar: a flat market made
        # a training set and a warning at each of 401 bars.
        self._skipped_until_ms: int | None = None
        # Told before each training starts: minutes of silence otherwise.
        self.on_start: Callable[[str], None] | None = None
        # Told how it ended, in a line: which version is the champion now and why.
        self.on_done: Callable[[str], None] | None = None
        # Its events go to the store, and here (the notifier's queue) too.
        self.notify: Callable[[Event], None] | None = None

    # -- when ----------------------------------------------------------------

    def next_due_ms(self, last_created_ms: int) -> int | None:
        if self._cron is not None:
            after = to_datetime(last_created_ms + 1)
            following = self._cron.get_next_fire_time(None, after)
            return to_ms(following) if following else None
        every = self.config.retrain.every_days
        return last_created_ms + round(every * DAY_MS) if every else None

    def is_due(self, now_ms: int) -> bool:
        if self._skipped_until_ms is not None and now_ms < self._skipped_until_ms:
            return False
        if not self._schedule_known:
            versions = self.registry.store.model_versions()
            self._has_versions = bool(versions)
            self._due_ms = self.next_due_ms(versions[-1].created_ts) if versions else None
            self._schedule_known = True
        if not self._has_versions:
            return self.data.bars_seen() >= self.config.retrain.initial_train_bars
        return self._due_ms is not None and now_ms >= self._due_ms

    def run(self, now_ms: int) -> ModelVersion | None:
        """Train, judge and register a version now (when due, or when asked)."""
        try:
            return self._run(now_ms)
        finally:
            self._schedule_known = False  # read once more: this run may have added versions

    # -- what ----------------------------------------------------------------

    def _run(self, now_ms: int) -> ModelVersion | None:
        cfg = self.config
        columns = feature_columns(cfg.model.features)
        window = cfg.retrain.train_window_bars if cfg.retrain.window == "rolling" else None
        series = self.data.training_series(window)
        data = build_training_set(
            series,
            cfg.model.seq_len,
            cfg.model.val_fraction,
            columns,
            Target.of(cfg),
            cfg.model.mirror,
            per_symbol=cfg.model.scaling == "per_symbol",
        )
        if data is None:
            self._event(now_ms, "retrain_skipped", "too little history for a train/validation split", "warning")
            return None
        if not data.target.regression and len(np.unique(data.y_train)) < 2:
            # A flat or one-way market (a pegged pair, a halted or forward-filled
            # feed): logistic regression and the random forest raised, and a
            # restarted run crashed at the same retrain every time.
            label = int(data.y_train[0])
            self._event(
                now_ms, "retrain_skipped", f"every training window's label is {label}: nothing to learn", "warning"
            )
            self._skipped_until_ms = self.next_due_ms(now_ms) or now_ms + DAY_MS
            return None
        self._skipped_until_ms = None
        version = self.registry.version_name(now_ms)
        # A different but reproducible seed per version.
        seed = (cfg.model.seed if cfg.model.seed is not None else cfg.seed) + self.registry.store.model_version_count()
        self._announce(version, data)
        candidate = self._train(data, series, version, seed)
        champion = self.seat.predictor  # one read: the worker must not see a swap mid-judgement
        champion_row = self._row(champion.version) if champion else None
        verdict = judge(
            candidate.predictor,
            champion,
            champion_row.train_to_ts if champion_row else None,
            data,
            cfg.retrain.promotion,
            seed,
        )
        candidate.metrics.update(verdict.as_dict())
        row = self.registry.register(
            candidate, created_ts=now_ms, config_hash=cfg.decision_hash(), champion=verdict.promote
        )
        m = candidate.metrics
        outcome = "champion" if verdict.promote else "rejected"
        self._event(
            now_ms,
            "model_trained" if verdict.promote else "model_rejected",
            f"{version} {outcome}: {verdict.reason}; val accuracy {m['val_accuracy']:.3f}",
            "info",
            {"version": version, **m},
        )
        if verdict.promote:
            self._tell_done(f"model {version} trained, now the champion")
        else:
            # judge() promotes whenever there is no champion; the champion is a registered version.
            assert champion is not None and champion_row is not None
            row = self._refresh_champion(champion, champion_row, data, candidate, now_ms)
            self._tell_done(
                f"model {version} rejected ({verdict.reason}); "
                f"{row.version}, {champion.version} recalibrated, is the champion"
            )
        self.seat.set_predictor(self.registry.load(row))
        return row

    def _tell_done(self, text: str) -> None:
        if self.on_done is not None:
            self.on_done(text)

    def _announce(self, version: str, data: TrainingSet) -> None:
        first = self.registry.store.model_version_count() == 0
        what = "the first model" if first else "a challenger"
        text = (
            f"training {what}, {version}, on {data.real_windows:,} windows "
            f"({self.config.model.epochs} epochs at most)" + ("; this can take minutes" if first else "")
        )
        log.info("retrain_started", version=version, windows=data.real_windows, first=first)
        if self.on_start is not None:
            self.on_start(text)

    def _refresh_champion(
        self, champion: Predictor, champion_row: ModelVersion, data: TrainingSet, challenger: Candidate, now_ms: int
    ) -> ModelVersion:
        """The champion keeps its ranking model but reads its scores anew:
        calibration, edge map (or return spread) and the volatility and
        regime companions are refitted on the newest history, registered as
        a new champion version. A market's base rate moves faster than a
        model's ranking skill; without this a champion that no challenger
        beats significantly would trade on the levels of a bygone year."""
        version = self.registry.version_name(now_ms)
        fresh, form = recalibrate(champion, data, self.config.model, version)
        fresh.volatility, fresh.regime = challenger.predictor.volatility, challenger.predictor.regime
        metrics = _reading_metrics(fresh, data)
        metrics.update(_calibration_metrics(fresh, form))
        metrics.update({k: v for k, v in challenger.metrics.items() if k.startswith(("vol_", "regime_"))})
        ranking = champion_row.metrics().get("ranking_version", champion.version)
        metrics.update(
            recalibrated_from=champion.version,
            ranking_version=ranking,
            kind=champion_row.kind,
            n_train=champion_row.n_train,
            n_val=len(data.y_val),
            target=data.target.kind,
            head=self.config.model.head,
            horizon_bars=data.target.horizon_bars,
            gate_reason=f"recalibrated {ranking}: no challenger significantly better",
        )
        candidate = Candidate(fresh, self.config.model, metrics, champion_row.train_from_ts, champion_row.train_to_ts)
        row = self.registry.register(
            candidate, created_ts=now_ms, config_hash=self.config.decision_hash(), champion=True
        )
        self._event(
            now_ms,
            "model_recalibrated",
            f"{version} champion: {champion.version} recalibrated on the newest {len(data.y_val)} windows",
            "info",
            {"version": version, **metrics},
        )
        return row

    def _train(self, data: TrainingSet, series: list[SymbolSeries], version: str, seed: int) -> Candidate:
        cfg = self.config.model
        model = new_model(cfg, len(data.columns))
        fit = model.fit(data, seed)
        predictor = Predictor(
            model, data.scaler, data.columns, cfg.seq_len, version, data.target, symbol_scalers=data.symbol_scalers
        )
        raw = model.score(data.x_val)
        if data.target.regression:
            scores = regression_metrics(raw, np.log1p(data.r_val), data.y_val)
            predictor.return_rmse = scores["val_rmse"]
        else:
            scores = classification_metrics(raw, data.y_val)
            predictor.edge_map = EdgeMap.fit(data.y_train, data.r_train)
        # The same dict: the scores, then the calibration form and the training facts (any JSON value).
        metrics: dict[str, Any] = scores
        predictor.edge_error = edge_level_error(data)
        if cfg.calibrate:
            form = predictor.calibrate(
                predictor.predict(data.x_val_raw, data.val_symbols),
                data.y_val,
                cfg.calibration,
                data.target.lookahead_bars,
                drift_free_calls=data.mirrored,
            )
            metrics.update(_calibration_metrics(predictor, form))
        scored = predictor.score(data.x_val_raw, data.val_symbols)
        metrics.update({f"val_prob_{k}": v for k, v in _spread(scored.prob).items()})
        metrics.update(_edge_quality(scored.edge, data.r_val))
        predictor.volatility = self._companion(
            VolatilityModel.fit([s.close for s in series], data.target.horizon_bars), metrics
        )
        predictor.regime = self._companion(RegimeModel.fit([s.close for s in series], seed), metrics)
        metrics.update(
            fit,
            n_train=data.real_windows,
            n_val=len(data.x_val),
            kind=cfg.kind,
            target=data.target.kind,
            head=cfg.head,
            horizon_bars=data.target.horizon_bars,
        )
        if data.mirrored:
            metrics["n_train_mirrored"] = len(data.x_train) - data.real_windows
        return Candidate(predictor, cfg, metrics, data.from_ts, data.to_ts)

    @staticmethod
    def _companion(fitted, metrics: dict):
        """A companion model (volatility, regime), its metrics recorded; None
        when the history was too short for it."""
        if fitted is None:
            return None
        model, its_metrics = fitted
        metrics.update(its_metrics)
        return model

    def _row(self, version: str) -> ModelVersion | None:
        return self.registry.store.model_version(version)

    def failed(self, now_ms: int, exc: Exception) -> None:
        """A retrain that raised (on the live daemon's worker thread): an
        event, since the log alone is where nobody looks."""
        self._event(now_ms, "retrain_failed", f"{type(exc).__name__}: {exc}; the champion stays", "error")

    def _event(self, ts: int, kind: str, message: str, level: str, data: dict | None = None) -> None:
        event = Event(ts, kind, message, level=level, data=data)
        self.registry.store.add_event(event)
        getattr(log, level)(kind, message=message)
        if self.notify is not None:
            self.notify(event)


def _calibration_metrics(predictor: Predictor, form: str | None) -> dict:
    """The form the edge was calibrated in, and the calls' where they
    differ (a mirror-trained model reads them without the base rate)."""
    metrics: dict[str, Any] = {"calibration": form}
    if predictor.call_calibration is not None:
        metrics["calls_calibration"] = "temperature"
    return metrics


def recalibrate(champion: Predictor, data: TrainingSet, cfg: ModelConfig, version: str) -> tuple[Predictor, str | None]:
    """A copy of `champion` whose scores are read through a calibration,
    edge map or return spread fitted on `data`: its newest windows and
    labels, none of which the champion's ranking model trained on; and the
    calibration form used."""
    fresh = dataclasses.replace(champion, version=version, calibration=None, call_calibration=None)
    if data.target.regression:
        error = fresh.raw_scores(data.x_val_raw, data.val_symbols) - np.log1p(data.r_val)
        fresh.return_rmse = float(np.sqrt(np.mean(error**2))) or champion.return_rmse
    else:
        fresh.edge_map = EdgeMap.fit(data.y_train, data.r_train)
    fresh.edge_error = edge_level_error(data)
    form = None
    if cfg.calibrate:
        form = fresh.calibrate(
            fresh.predict(data.x_val_raw, data.val_symbols),
            data.y_val,
            cfg.calibration,
            data.target.lookahead_bars,
            drift_free_calls=data.mirrored,
        )
    return fresh, form


def _reading_metrics(predictor: Predictor, data: TrainingSet) -> dict:
    """Validation metrics of a predictor on the newest windows."""
    scored = predictor.score(data.x_val_raw, data.val_symbols)
    metrics = classification_metrics(scored.prob, data.y_val)
    metrics.update({f"val_prob_{k}": v for k, v in _spread(scored.prob).items()})
    metrics.update(_edge_quality(scored.edge, data.r_val))
    return metrics


def _edge_quality(edge: np.ndarray, realized: np.ndarray) -> dict[str, float | None]:
    """How well the expected edge ranks the realized returns on validation."""
    if len(edge) < 3 or np.ptp(edge) == 0 or np.ptp(realized) == 0:
        return {"val_edge_rank_ic": None, "val_edge_mean": float(np.mean(edge)) if len(edge) else None}
    # Spearman's correlation, as Pearson's of the average ranks: scipy.stats
    # would cost a retrain a second of startup and tens of MB for this one number.
    rank_ic = np.corrcoef(average_ranks(edge), average_ranks(realized))[0, 1]
    return {"val_edge_rank_ic": float(rank_ic), "val_edge_mean": float(np.mean(edge))}


def _spread(prob: np.ndarray) -> dict[str, float]:
    """How far the probabilities stray from 0.5: a model that never leaves
    it never crosses the strategy's thresholds."""
    return {
        "mean": float(prob.mean()),
        "p05": float(np.quantile(prob, 0.05)),
        "p95": float(np.quantile(prob, 0.95)),
        "max": float(prob.max()),
    }
