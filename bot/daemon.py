"""The live daemon: apscheduler fires the bar job at each bar close plus a
delay, on the system clock. Retraining runs on a worker thread so a bar is
never late because a model is being fit; the champion swap is atomic.
With an exchange broker, reconciliation runs at start and on its own
schedule, never at the same time as a bar job. SIGINT and SIGTERM stop it
after the job in flight has committed."""

from __future__ import annotations

import signal
import threading
from concurrent.futures import Future, ThreadPoolExecutor

import structlog
from apscheduler.schedulers.background import BackgroundScheduler

from bot.broker.reconcile import reconcile
from bot.operator_requests import follow_operator_requests
from bot.runtime import Runtime
from bot.scheduling import bar_close_trigger, to_datetime

log = structlog.get_logger("bot.daemon")


class BackgroundRetrain:
    """Runs at most one retrain at a time on a worker thread."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="retrain")
        self.running: Future | None = None

    def __call__(self, now_ms: int) -> None:
        if self.running is not None and not self.running.done():
            return
        self.running = self.pool.submit(self._run, now_ms)

    def _run(self, now_ms: int) -> None:
        try:
            self.rt.retrainer.run(now_ms)
        except Exception:  # a failed retrain keeps the champion; the daemon goes on
            log.exception("retrain_failed")

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True)


def run_live(rt: Runtime, *, stop_after_seconds: float | None = None) -> None:
    stop = threading.Event()
    retrain = BackgroundRetrain(rt)
    rt.bar_job.run_retrain = retrain

    firing = threading.Lock()  # the bar job and its late retries never overlap

    def fire() -> None:
        with firing:
            try:
                follow_operator_requests(rt)
                rt.bar_job(rt.clock.now_ms())
            except Exception:  # one bad firing must not kill the daemon
                log.exception("bar_job_failed")

    scheduler = BackgroundScheduler(timezone="UTC")
    tf = rt.config.timeframe_ms
    scheduler.add_job(fire, bar_close_trigger(tf, rt.config.schedule.bar_delay_seconds), id="bars",
                      max_instances=1, coalesce=True, misfire_grace_time=max(1, tf // 2000))

    def retry_at(when_ms: int) -> None:
        # The same job function, once, at the given time.
        scheduler.add_job(fire, "date", run_date=to_datetime(when_ms), id="late_retry", replace_existing=True,
                          max_instances=1, misfire_grace_time=max(1, tf // 2000))

    rt.bar_job.schedule_retry = retry_at
    if rt.config.broker != "paper":
        def reconcile_now() -> None:
            with firing:
                try:
                    reconcile(rt.engine, rt.store, rt.config.symbols, rt.config.paper.initial_cash,
                              rt.clock.now_ms())
                except Exception:  # the next round tries again; trading goes on
                    log.exception("reconcile_failed")

        reconcile(rt.engine, rt.store, rt.config.symbols, rt.config.paper.initial_cash, rt.clock.now_ms())
        scheduler.add_job(reconcile_now, "interval", seconds=rt.config.schedule.reconcile_seconds, id="reconcile",
                          max_instances=1, coalesce=True)
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    log.info("daemon_started", symbols=rt.config.symbols, timeframe=rt.config.timeframe)
    try:
        fire()  # catch up at once instead of waiting for the next close
        scheduler.start()
        stop.wait(stop_after_seconds)
    finally:
        scheduler.shutdown(wait=True)
        retrain.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("daemon_stopped")
