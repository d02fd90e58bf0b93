"""Requests a person makes while the daemon may be running, with the CLI
or the HTTP API (`bot serve`): a promotion (a new champion in the
database), resume, pause, flatten and a training (counters in run_meta,
with the origin of the newest). The daemon applies them at its next firing
(live) or when it starts (replay), never in the middle of a bar step; a
flatten is carried out inside the next step, so it commits with it. A
requested training is the daemon's own retrain, on its own history, so the
run keeps one writer."""

from __future__ import annotations

import threading
import time
from typing import Any, NamedTuple

import structlog

from bot.app.runtime import Runtime
from bot.domain import Event

log = structlog.get_logger("bot.operator")

RESUME_KEY = "resume_requests"
PAUSE_KEY = "pause_requests"
FLATTEN_KEY = "flatten_requests"
TRAIN_KEY = "train_requests"
TRAIN_SEEN_KEY = "train_requests_seen"  # written by the daemon only
# Every request is numbered in the order it was made, whatever its kind:
# a resume made after a pause or a flatten the daemon has not acted on yet
# cancels it (the daemon reads the kinds one after another, not in order).
ORDER_KEY = "operator_requests_made"


def follow_operator_requests(rt: Runtime) -> None:
    _follow_promotion(rt)
    _follow_resume(rt)
    _follow_pause(rt)
    _follow_flatten(rt)
    _follow_train(rt)


def request(store, key: str, origin: str) -> int:
    """Count one more request of a kind, remember who made it and when
    among all requests; the number of requests of that kind so far."""
    return store.add_request(key, ORDER_KEY, origin)


def cancelled_by_resume(store, key: str) -> bool:
    """The newest request of this kind came before the newest resume."""
    return int(store.get_meta(f"{key}_order") or 0) < int(store.get_meta(f"{RESUME_KEY}_order") or 0)


def pending(store, risk_state) -> list[str]:
    """The pause and flatten requests a daemon has not acted on yet and no
    later resume cancelled: what `bot status` shows beside the trading state."""
    waiting = []
    for key, seen, what in (
        (PAUSE_KEY, risk_state.pauses_seen, "pause"),
        (FLATTEN_KEY, risk_state.flattens_seen, "flatten"),
    ):
        if int(store.get_meta(key) or 0) > seen and not cancelled_by_resume(store, key):
            waiting.append(f"{what} (from {origin_of(store, key, 'the operator')})")
    return waiting


def resume_waiting(store, risk_state) -> str | None:
    """A resume made while a daemon held the run, not acted on yet (it is
    at the daemon's next bar, or a replay's next start): `bot status` said
    "HALTED ... `bot resume` clears it" as if none had been made."""
    if int(store.get_meta(RESUME_KEY) or 0) <= risk_state.resumes_seen:
        return None
    return f"resume (from {origin_of(store, RESUME_KEY, '`bot resume`')})"


def request_training(store) -> int:
    """Ask the run's daemon to train now; the number of requests so far."""
    return request(store, TRAIN_KEY, "`bot train --request`")


def origin_of(store, key: str, default: str) -> str:
    return store.get_meta(f"{key}_origin") or default


def _follow_promotion(rt: Runtime) -> None:
    row = rt.store.champion()
    current = rt.engine.predictor
    if row is not None and (current is None or current.version != row.version):
        rt.engine.set_predictor(rt.registry.load(row))
        log.info("champion_reloaded", version=row.version)


def _follow_resume(rt: Runtime) -> None:
    requested = int(rt.store.get_meta(RESUME_KEY) or 0)
    ts = max(rt.engine.last_ts.values(), default=0)
    origin = origin_of(rt.store, RESUME_KEY, "`bot resume`")
    _record(rt, rt.engine.risk.follow_resume_requests(requested, rt.engine.ledger.equity, ts, origin))


def _follow_pause(rt: Runtime) -> None:
    requested = int(rt.store.get_meta(PAUSE_KEY) or 0)
    if _cancelled(rt, "pause", PAUSE_KEY, requested):
        return
    ts = max(rt.engine.last_ts.values(), default=0)
    _record(rt, rt.engine.risk.follow_pause_requests(requested, ts, origin_of(rt.store, PAUSE_KEY, "the operator")))


def _follow_flatten(rt: Runtime) -> None:
    requested = int(rt.store.get_meta(FLATTEN_KEY) or 0)
    if _cancelled(rt, "flatten", FLATTEN_KEY, requested):
        return
    if requested > rt.engine.risk.state.flattens_seen:
        rt.engine.flatten_request = (requested, origin_of(rt.store, FLATTEN_KEY, "the operator"))


def _cancelled(rt: Runtime, what: str, key: str, requested: int) -> bool:
    """A new request of `what` ("pause" or "flatten") that a later resume
    cancelled: marked seen, not acted on, and said so."""
    seen = f"{what}s_seen"  # the risk state's counter of this kind
    state = rt.engine.risk.state
    if requested <= getattr(state, seen) or not cancelled_by_resume(rt.store, key):
        return False
    setattr(state, seen, requested)
    event = Event(
        max(rt.engine.last_ts.values(), default=0),
        f"{what}_cancelled",
        f"{what} from {origin_of(rt.store, key, 'the operator')} not carried out: "
        f"{origin_of(rt.store, RESUME_KEY, '`bot resume`')} came after it",
        level="warning",
    )
    _record(rt, event)
    return True


def _record(rt: Runtime, event: Event | None) -> None:
    """A request acted on: the risk state it changed and its event, now."""
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


# -- made by a person: the CLI and the HTTP API share these ---------------------


class Resumed(NamedTuple):
    was_halted: str | None  # the halt's reason it clears
    cancelled: list[str]  # the pause and flatten requests not yet acted on, which it cancels
    now: bool = True  # cleared in the stored state now; False: by the running daemon (`when`)
    when: str = "now"  # when the halt clears: now, at the running daemon's next bar, or at a replay's next start


_RESUMING = threading.Lock()  # the API's resumes, one at a time: each reads and writes the risk state


# How long a resume waits for a short command holding the run (another
# resume at the same moment) before it says who holds it, and how often it
# asks (on PostgreSQL each ask is a connection).
RESUME_WAIT_S = 5.0
RESUME_ASK_EVERY_S = 0.25


def _resume_lease(cfg, origin: str) -> tuple[Any, str | None]:
    """(the run's lease, or when the daemon holding the run instead clears
    the halt: at a live daemon's next bar, a replay's next start; a replay
    had been told "at the running daemon's next bar", and never read it
    mid-run). Any other holder was taken for a daemon: a
    resume beside `bot train` or another resume said "at the daemon's next
    bar" with no daemon to act, and the halt stayed. A short holder is
    waited for; a long one refuses the resume (LeaseHeld, naming it)."""
    from bot.writer_lease import LeaseHeld, take_lease

    deadline = time.monotonic() + RESUME_WAIT_S
    while True:
        try:
            return take_lease(cfg.db_url, f"a resume from {origin}", int(time.time() * 1000)), None
        except LeaseHeld as held:
            if held.by_a_replay:
                return None, "at the running replay's next start (`bot run`)"
            if held.by_a_daemon:
                return None, "at the running daemon's next bar"
            if time.monotonic() >= deadline:
                raise
        time.sleep(RESUME_ASK_EVERY_S)


def request_resume(store, cfg, origin: str) -> Resumed:
    """Clear a halt. A pause or a flatten requested before and not yet
    acted on is cancelled too, and said: "nothing to clear" after a flatten
    left its positions open without a word.

    With the run's daemon running (it holds the run's lease) the resume is
    a request only: the daemon clears its halt at its next firing and
    records the event. The resume wrote the stored risk state itself
    beside the daemon, from a copy it had read (a step committed meanwhile
    was written over), and recorded a second event when the daemon acted.
    With no daemon, the resume holds the lease while it clears the stored
    state, so two resumes at once count as two."""
    from bot.risk import RiskManager
    from bot.risk.state import RiskState

    with _RESUMING:
        lease, daemon_clears = _resume_lease(cfg, origin)
        try:
            state = RiskState.from_json(store.get_meta("risk_state"))
            cancelled = pending(store, state)
            requested = request(store, RESUME_KEY, origin)
            if daemon_clears is not None:
                return Resumed(state.halt_reason, cancelled, now=False, when=daemon_clears)
            risk = RiskManager(cfg.risk, cfg.paper, cfg.timeframe, state)
            equity = store.latest_equity()
            was = risk.state.halt_reason
            event = risk.follow_resume_requests(
                requested, equity.equity if equity else cfg.paper.initial_cash, equity.ts if equity else 0, origin
            )
            store.set_meta("risk_state", risk.state.to_json())
            if event is not None:
                store.add_event(event)
            return Resumed(was, cancelled)
        finally:
            if lease is not None:
                lease.release()


class Promotion(NamedTuple):
    previous: str | None  # the champion it replaced
    gate_rejected: bool  # the promotion gate had turned this version down
    already: bool = False  # it was the champion: nothing changed


def promote_version(store, models_dir, version: str, origin: str) -> Promotion:
    """Make `version` the champion (a running daemon loads it at its next
    firing). KeyError: no such version; OSError or ValueError: its files
    cannot be loaded. A version the gate rejected may be promoted (a person
    may know better), but the event and the caller say so."""
    from bot.model.registry import ModelRegistry
    from bot.store.integrity import verify_run_identity

    # Another run's models directory would mix that run's versions into this one (ConfigError).
    verify_run_identity(store, models_dir)
    registry = ModelRegistry(store, models_dir)
    previous = store.champion()
    if previous is not None and previous.version == version:
        registry.load(previous)  # damaged files are said so, as for any version
        return Promotion(version, False, already=True)  # no event: nothing was done
    promoted = registry.promote(version)
    rejected = promoted.status == "rejected"
    ts = max((v.created_ts for v in store.model_versions()), default=0)
    store.add_event(
        Event(
            ts,
            "model_promoted",
            f"{version} promoted by {origin}" + (", over the promotion gate's rejection" if rejected else ""),
            level="warning" if rejected else "info",
            data={
                "version": version,
                "previous": previous.version if previous else None,
                "origin": origin,
                "gate_rejected": rejected,
            },
        )
    )
    return Promotion(previous.version if previous else None, rejected)
