"""The replay daemon: the live loop on a simulated clock, over CSV bars.

The bar job and the retrain check are the very functions live mode runs;
the simulated scheduler fires them at the same bar-close times apscheduler
would, only without waiting. A second run resumes after the last committed
bar step.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from bot.app.early_ends import EarlyEnds
from bot.app.operator_requests import follow_operator_requests
from bot.app.runtime import Runtime, build_runtime
from bot.app.scheduling import SimulatedScheduler, bar_close_trigger
from bot.clock import SimulatedClock
from bot.config import Config, ConfigError
from bot.domain import Bar
from bot.market.csv_format import DataFileError
from bot.market.replay_feed import ReplayFeed
from bot.strategy import Strategy
from bot.timeframes import iso_utc


@runtime_checkable
class ReplayData(Protocol):
    """What a replay reads of its feed besides the bars: how far the data
    reaches (a ReplayFeed; a live feed has no end)."""

    def first_ts(self) -> int | None: ...

    def last_ts(self) -> int | None: ...

    def bar_count(self) -> int: ...

    def ends(self) -> dict[str, int]: ...


@dataclass(frozen=True)
class ReplayOutcome:
    bars_this_run: int
    finished: bool  # reached the end of the data


def open_replay(cfg: Config, strategy: Strategy | None = None, feed: ReplayFeed | None = None) -> Runtime:
    """The runtime of a replay: CSV feed, simulated clock, restored state."""
    feed = feed or replay_feed(cfg)
    rt = build_runtime(cfg, clock=SimulatedClock(), feed=feed, strategy=strategy)
    try:
        _refuse_changed_data(rt, feed)
    except ConfigError:
        rt.close()
        raise
    follow_operator_requests(rt)  # a `bot resume` or promotion made while it was stopped
    return rt


# Stored bars compared with the file's at a resume, per symbol, spread over
# what the run has read: the newest alone let a file whose earlier rows had
# changed (all of them 1.5 times as large) resume without a word, its stored
# history and its file disagreeing from then on.
RESUME_SAMPLES = 32


def _refuse_changed_data(rt: Runtime, feed: ReplayFeed) -> None:
    """A resumed replay reads on from where the file left off: ConfigError
    when the file no longer holds the bars the run stored (the newest, and
    a sample of the rest). Other bars at the same path (SOL's in ETH's
    file) were read on as the same market, a day of them rejected and the
    rest taken at SOL's price. (replay.data, start and end are decision
    settings: they cannot have moved instead.)"""
    for symbol, last in rt.engine.last_ts.items():
        for ts in [last, *feed.sampled_times(symbol, last, RESUME_SAMPLES)]:
            _refuse_a_changed_bar(rt, feed, symbol, ts)


def _refuse_a_changed_bar(rt: Runtime, feed: ReplayFeed, symbol: str, ts: int) -> None:
    stored = rt.store.bar_at(symbol, ts)
    if stored is None:
        return  # never stored (rejected, or before the run began): nothing to compare
    tf = rt.config.timeframe_ms
    in_file = feed.fetch_range(symbol, ts, ts + tf, ts + tf) if feed.covers(symbol, ts) else []
    if stored in in_file:
        return
    raise ConfigError(
        f"replay.data: {rt.config.replay_csv(symbol)}: its {symbol} bar of {iso_utc(ts)} is not the one this "
        f"run stored ({_difference(stored, in_file)}): the file changed since the run began; restore it, or "
        "start over with `bot run --fresh`"
    )


def _difference(stored: Bar, in_file: list[Bar]) -> str:
    """What the file holds instead of the stored bar, exactly."""
    if not in_file:
        return "the file has no bar at that time"
    found = in_file[0]
    fields = ("open", "high", "low", "close", "volume")
    differ = [
        f"{name} {getattr(found, name)!r} where it stored {getattr(stored, name)!r}"
        for name in fields
        if getattr(found, name) != getattr(stored, name)
    ]
    return ", ".join(differ[:2])


@dataclass(frozen=True)
class ReplayNames:
    """What a refusal calls the data and its bounds: the config's fields,
    or the options `bot backtest` set them from."""

    data: str = "replay.data"
    start: str = "replay.start"
    end: str = "replay.end"


def replay_feed(cfg: Config, names: ReplayNames = ReplayNames()) -> ReplayFeed:
    """The replay's bars, read and checked before any state is touched:
    ConfigError when they cannot be read or cannot train a first model."""
    try:
        feed = ReplayFeed(
            {s: cfg.replay_csv(s) for s in cfg.symbols}, cfg.timeframe_ms, cfg.replay.start_ms, cfg.replay.end_ms
        )
    except DataFileError as exc:
        raise ConfigError(f"{names.data}: {exc}") from None
    _refuse_too_short(cfg, feed, names)
    return feed


def _refuse_too_short(cfg: Config, feed: ReplayFeed, names: ReplayNames) -> None:
    """A replay that can never train its first model would run to "replay
    complete" having done nothing; say how much history it needs. The first
    model is due once the symbol with the most bars has seen
    retrain.initial_train_bars (warm-up included); one more bar to trade."""
    needed = cfg.retrain.initial_train_bars + 1
    counts = feed.bar_counts()
    symbol, have = max(counts.items(), key=lambda item: item[1])
    if have >= needed:
        return
    whose = f"{symbol}, the symbol with the most bars, has" if len(counts) > 1 else "it has"
    where = _bounds(cfg, names)
    if have == 0:
        raise ConfigError(f"{names.data}: {whose} no bars{where}; the data covers {_coverage(cfg)}")
    raise ConfigError(
        f"{names.data}: {whose} {have:,} bar{'s' if have != 1 else ''}{where}, but the first model needs {needed:,} "
        f"(retrain.initial_train_bars {cfg.retrain.initial_train_bars:,}, then one to trade); "
        "give it more history or lower retrain.initial_train_bars"
    )


def _bounds(cfg: Config, names: ReplayNames) -> str:
    start, end = cfg.replay.start, cfg.replay.end
    if start is None and end is None:
        return ""
    parts = ([f"from {names.start} {start}"] if start is not None else []) + (
        [f"before {names.end} {end}"] if end is not None else []
    )
    return " " + " ".join(parts)


def _coverage(cfg: Config) -> str:
    """The span of the whole files, bounds aside."""
    whole = ReplayFeed({s: cfg.replay_csv(s) for s in cfg.symbols}, cfg.timeframe_ms)
    first, last = whole.first_ts(), whole.last_ts()
    return f"{iso_utc(first)} to {iso_utc(last)}" if first is not None and last is not None else "no bars"


def resume_clock(rt: Runtime) -> None:
    """Set the simulated clock where the stored run left off (or at the
    start of the data for a new run)."""
    delay_ms = round(rt.config.schedule.bar_delay_seconds * 1000)
    start = _start_ms(rt, delay_ms)
    if start is not None:
        assert isinstance(rt.clock, SimulatedClock), "replay needs a simulated clock"
        rt.clock.advance_to(max(rt.clock.now_ms(), start))


def _start_ms(rt: Runtime, delay_ms: int) -> int | None:
    tf = rt.config.timeframe_ms
    if rt.engine.last_ts:
        # The firing that committed the newest stored bar: firing it again is
        # a no-op for bars, and completes a retrain the crash may have cut off.
        return max(rt.engine.last_ts.values()) + tf + delay_ms
    assert isinstance(rt.feed, ReplayData), "replay needs a replay feed"
    return rt.feed.first_ts()


def run_replay(rt: Runtime, *, max_bars: int | None, console: Console, progress: bool = True) -> ReplayOutcome:
    clock = rt.clock
    assert isinstance(clock, SimulatedClock), "replay needs a simulated clock"
    feed = rt.feed
    assert isinstance(feed, ReplayData), "replay needs a replay feed"
    delay_ms = round(rt.config.schedule.bar_delay_seconds * 1000)
    first, last = feed.first_ts(), feed.last_ts()
    if first is None or last is None:  # both None together: no bars at all
        return ReplayOutcome(0, True)
    end_ms = last + rt.config.timeframe_ms + delay_ms
    resume_clock(rt)
    job = rt.bar_job
    stop = (lambda: job.bars_processed >= max_bars) if max_bars is not None else (lambda: False)
    with _progress(console, progress) as bars:
        task = bars.add_task("replay", total=feed.bar_count(), completed=rt.resumed_bars)
        job.retrainer.on_start = lambda text: bars.console.print(text, style="dim", markup=False)
        job.retrainer.on_done = lambda text: bars.console.print(text, style="cyan", markup=False)

        ended = EarlyEnds(feed.ends(), last, rt, since_ms=clock.now_ms())

        def fire(now_ms: int) -> None:
            stepped = job(now_ms)
            if progress:  # a disabled bar still costs an update per bar
                bars.update(task, advance=stepped)
            ended.report(now_ms)

        scheduler = SimulatedScheduler(clock)
        scheduler.add_job(fire, bar_close_trigger(rt.config.timeframe_ms, rt.config.schedule.bar_delay_seconds))
        # What is loaded by now (modules, config, history) lives as long as
        # the run: out of the collector's sight, its full passes stay cheap.
        gc.freeze()
        finished = scheduler.run(end_ms, stop)
    return ReplayOutcome(job.bars_processed, finished)


def _progress(console: Console, enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("bars"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
        transient=False,
    )
