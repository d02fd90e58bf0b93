"""The live daemon: apscheduler fires the bar job at each bar close plus a
delay, on the system clock. Retraining runs on a worker thread so a bar is
never late because a model is being fit; the champion swap is atomic.
With an exchange broker, reconciliation runs at start and on its own
schedule, never at the same time as a bar job.

SIGINT and SIGTERM stop it within STOP_GRACE_SECONDS whatever the exchange
is doing: no new job is started or scheduled, the job in flight is given
the grace to commit its step, and a retrain to finish. Nothing waits on a
lock the jobs also take (apscheduler's shutdown holds its job-store lock
while it waits for jobs, and a job scheduling its late retry needs that
lock: it is never asked to wait). What is still running after the grace is
abandoned: every bar step is one transaction and a model is written to a
temporary directory and renamed, so an abandoned step or retrain leaves
the last committed state, exactly as a crash would, and is redone after a
restart. `run_live` then returns False."""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime

import structlog
from apscheduler.schedulers.background import BackgroundScheduler

from bot.app.finding_streaks import FindingStreaks
from bot.app.operator_requests import follow_operator_requests
from bot.app.reconcile import reconcile
from bot.app.runtime import Runtime
from bot.app.scheduling import bar_close_trigger, to_datetime
from bot.app.step_watchdog import StepWatchdog
from bot.domain import Event
from bot.error_text import first_line
from bot.logging_setup import log_event
from bot.market.reported_once import ReportedOnce
from bot.secrets import scrub
from bot.step_record import StepNotCommitted
from bot.stop_grace import STOP_GRACE_SECONDS

log = structlog.get_logger("bot.app.daemon")


class BackgroundRetrain:
    """Runs at most one retrain at a time on a worker thread. A daemon
    thread: a stop never waits for a model to finish fitting."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.thread: threading.Thread | None = None
        self.stopping = False

    def __call__(self, now_ms: int) -> None:
        if self.stopping or self.busy():
            return
        self.thread = threading.Thread(target=self._run, args=(now_ms,), name="retrain", daemon=True)
        self.thread.start()

    def busy(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def _run(self, now_ms: int) -> None:
        try:
            self.rt.retrainer.run(now_ms)
        except Exception as exc:  # a failed retrain keeps the champion; the daemon goes on
            log.exception("retrain_failed")
            try:  # and says so where `bot status` and the notifications read
                self.rt.retrainer.failed(now_ms, exc)
            except Exception:
                log.exception("retrain_failed_unrecorded")

    def wait(self, seconds: float) -> bool:
        """True once no retrain runs, waiting at most `seconds`."""
        if self.thread is not None:
            self.thread.join(max(seconds, 0.0))
        return not self.busy()


class SignalFlag:
    """The signal handler: it only sets a flag, and the main thread polls it.
    A handler must take no lock (it runs on the main thread between two
    bytecodes, maybe while that thread holds the very lock, as inside
    `Event.wait`), and a blocking wait on the main thread is not woken when
    the kernel hands the signal to another thread; a short sleep is."""

    POLL_SECONDS = 0.2

    def __init__(self) -> None:
        self.raised = False

    def __call__(self, signum: int, frame: object) -> None:
        self.raised = True

    def wait(self, seconds: float | None) -> None:
        """Until the flag is raised, or `seconds` have passed (None: no limit)."""
        deadline = None if seconds is None else time.monotonic() + seconds
        while not self.raised and (deadline is None or time.monotonic() < deadline):
            time.sleep(self.POLL_SECONDS)


def run_live(rt: Runtime, *, stop_after_seconds: float | None = None) -> bool:
    """Run until SIGINT, SIGTERM or `stop_after_seconds`; True when the stop
    was clean (no step or retrain abandoned). A bar step that could not be
    committed stops the daemon too, and is raised once it has stopped."""
    stop = threading.Event()
    retrain = BackgroundRetrain(rt)
    rt.bar_job.run_retrain = retrain

    firing = threading.Lock()  # the bar job and its late retries never overlap
    asked = SignalFlag()
    not_committed: list[StepNotCommitted] = []

    def stop_on(exc: StepNotCommitted) -> None:
        """Memory is ahead of the database: no further firing may step on
        it. Stop; a restart resumes from the last committed step."""
        log.error("step_not_committed", error=str(exc), cause=repr(exc.__cause__))
        # Stored and notified, so that status and the operator see why it stopped.
        say(Event(rt.clock.now_ms(), "daemon_stopped", f"{exc}; restart to resume", level="error"))
        not_committed.append(exc)
        stop.set()
        asked(0, None)

    failures = ReportedOnce(limit=100)

    def fire() -> None:
        if stop.is_set():
            return
        with firing:
            watchdog.begin()
            try:
                follow_operator_requests(rt)
                rt.bar_job(rt.clock.now_ms())
            except StepNotCommitted as exc:
                stop_on(exc)
            except Exception as exc:  # one bad firing must not kill the daemon
                fault = f"{type(exc).__name__}: {first_line(exc)}"
                # The cause on the console too (it showed the event's name alone, once a firing).
                log.exception("bar_job_failed", error=scrub(fault)[:500])
                # ...nor blind it: each distinct fault once in the events, for status and notifications.
                if failures.first(fault):
                    say(Event(rt.clock.now_ms(), "bar_job_failed", f"a firing failed: {fault}", level="error"))
            finally:
                watchdog.end()

    def say(event: Event) -> None:
        """Logged and notified before it is stored: what failed, or is
        stuck, may be the database."""
        # An exception's text may hold anything, a credential-bearing URL included.
        event = replace(event, message=scrub(event.message)[:500])
        log_event(log, event)
        rt.bar_job.notify(event)
        try:
            rt.store.add_event(event)
        except Exception:  # noqa: S110 (said in the log and the notification already)
            pass

    watchdog = StepWatchdog(rt.config.schedule.stuck_step_seconds, say, rt.clock.now_ms)
    scheduler = BackgroundScheduler(timezone="UTC")
    tf = rt.config.timeframe_ms
    scheduler.add_job(
        watchdog.check,
        "interval",
        seconds=min(30.0, rt.config.schedule.stuck_step_seconds / 4),
        id="step_watchdog",
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        fire,
        bar_close_trigger(tf, rt.config.schedule.bar_delay_seconds),
        id="bars",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=max(1, tf // 2000),
    )
    # Catch up at once instead of waiting for the next close, on the
    # scheduler's thread: the main thread stays free to hear a stop.
    scheduler.add_job(fire, "date", run_date=datetime.now(UTC), id="catch_up", misfire_grace_time=None)

    def retry_at(when_ms: int) -> None:
        if stop.is_set():
            return  # stopping: schedule nothing (and never wait on the scheduler's lock)
        # The same job function, once, at the given time.
        scheduler.add_job(
            fire,
            "date",
            run_date=to_datetime(when_ms),
            id="late_retry",
            replace_existing=True,
            max_instances=1,
            misfire_grace_time=max(1, tf // 2000),
        )

    rt.bar_job.schedule_retry = retry_at
    if rt.config.broker != "paper":
        streaks = FindingStreaks()

        def reconcile_round(at_start: bool = False) -> None:
            cfg, now, notify = rt.config, rt.clock.now_ms(), rt.bar_job.notify
            reconcile(rt.engine, rt.store, cfg.symbols, cfg.paper.initial_cash, now, streaks, notify, at_start)

        def reconcile_now() -> None:
            if stop.is_set():
                return
            with firing:
                try:
                    reconcile_round()
                except StepNotCommitted as exc:  # late fills booked in memory only
                    stop_on(exc)
                except Exception:  # the next round tries again; trading goes on
                    log.exception("reconcile_failed")

        reconcile_round(at_start=True)
        scheduler.add_job(
            reconcile_now,
            "interval",
            seconds=rt.config.schedule.reconcile_seconds,
            id="reconcile",
            max_instances=1,
            coalesce=True,
        )
    previous = {sig: signal.signal(sig, asked) for sig in (signal.SIGINT, signal.SIGTERM)}
    log.info("daemon_started", symbols=rt.config.symbols, timeframe=rt.config.timeframe)
    try:
        scheduler.start()
        asked.wait(stop_after_seconds)
    finally:
        clean = _stop(stop, scheduler, firing, retrain)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not_committed:
        raise not_committed[0]
    return clean


def _stop(
    stop: threading.Event, scheduler: BackgroundScheduler, firing: threading.Lock, retrain: BackgroundRetrain
) -> bool:
    """Stop within STOP_GRACE_SECONDS; True when nothing was abandoned."""
    started = time.monotonic()
    stop.set()
    retrain.stopping = True
    if scheduler.running:
        scheduler.shutdown(wait=False)  # returns at once: it holds its lock only to signal the executor
    step_done = firing.acquire(timeout=STOP_GRACE_SECONDS)
    if step_done:
        firing.release()
    retrain_done = retrain.wait(STOP_GRACE_SECONDS - (time.monotonic() - started))
    if step_done and retrain_done:
        log.info("daemon_stopped")
        return True
    log.warning(
        "daemon_stopped_abandoning",
        bar_step_in_flight=not step_done,
        retrain_in_flight=not retrain_done,
        note="the last committed step is kept; an abandoned step or retrain is redone after a restart",
    )
    return False
