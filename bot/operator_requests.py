"""Requests a person makes with the CLI while the daemon may be running:
`bot models promote` (a new champion in the database) and `bot resume`
(a counter in run_meta). The daemon applies them at its next firing (live)
or when it starts (replay), never in the middle of a bar step."""

from __future__ import annotations

import structlog

from bot.runtime import Runtime

log = structlog.get_logger("bot.operator")

RESUME_KEY = "resume_requests"


def follow_operator_requests(rt: Runtime) -> None:
    _follow_promotion(rt)
    _follow_resume(rt)


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
