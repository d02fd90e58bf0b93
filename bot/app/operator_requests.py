"""Requests a person makes with the CLI while the daemon may be running:
`bot models promote` (a new champion in the database), `bot resume` and
`bot train --request` (counters in run_meta). The daemon applies them at
its next firing (live) or when it starts (replay), never in the middle of
a bar step. A requested training is the daemon's own retrain, on its own
history, so the run keeps one writer."""

from __future__ import annotations

import structlog

from bot.app.runtime import Runtime
from bot.domain import Event

log = structlog.get_logger("bot.operator")

RESUME_KEY = "resume_requests"
TRAIN_KEY = "train_requests"
TRAIN_SEEN_KEY = "train_requests_seen"  # written by the daemon only


def follow_operator_requests(rt: Runtime) -> None:
    _follow_promotion(rt)
    _follow_resume(rt)
    _follow_train(rt)


def request_training(store) -> int:
    """Ask the run's daemon to train now; the number of requests so far."""
    count = int(store.get_meta(TRAIN_KEY) or 0) + 1
    store.set_meta(TRAIN_KEY, str(count))
    return count


def _follow_promotion(rt: Runtime) -> None:
    row = rt.store.champion()
    current = rt.engine.predictor
    if row is not None and (current is None or current.version != row.version):
        rt.engine.set_predictor(rt.registry.load(row))
        log.info("champion_reloaded", version=row.version)


def _follow_resume(rt: Runtime) -> None:
    requested = int(rt.store.get_meta(RESUME_KEY) or 0)
    ts = max(rt.engine.last_ts.values(), default=0)
    event = rt.engine.risk.follow_resume_requests(requested, rt.engine.ledger.equity, ts)
    if event is not None:
        rt.store.set_meta("risk_state", rt.engine.risk.state.to_json())
        rt.store.add_event(event)
        log.warning(event.kind, message=event.message)


def _follow_train(rt: Runtime) -> None:
    requested = int(rt.store.get_meta(TRAIN_KEY) or 0)
    seen = int(rt.store.get_meta(TRAIN_SEEN_KEY) or 0)
    run_retrain = rt.bar_job.run_retrain
    if requested <= seen or getattr(run_retrain, "busy", lambda: False)():
        return  # nothing new, or a retrain is running: asked again at the next firing
    rt.store.set_meta(TRAIN_SEEN_KEY, str(requested))
    now = rt.clock.now_ms()
    event = Event(
        max(rt.engine.last_ts.values(), default=now),
        "train_requested",
        "training now, as asked by `bot train --request`",
    )
    rt.store.add_event(event)
    log.info(event.kind, message=event.message)
    run_retrain(now)
