"""`bot run`: the daemon, in replay (simulated clock) or live mode."""

from __future__ import annotations

import faulthandler
import os
import signal
import socket
import subprocess
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.common import (
    DEFAULT_CONFIG,
    ConfigPath,
    console,
    err_console,
    exit_now,
    guarded,
    hold_the_run,
    say_error,
    start_logging,
)
from bot.config import Config, ConfigError, load_config
from bot.startup_gc import starting_up

if TYPE_CHECKING:
    from bot.app.runtime import Runtime


@guarded
def run(
    config: ConfigPath = DEFAULT_CONFIG,
    max_bars: Annotated[
        int | None,
        typer.Option(
            min=1, help="Stop after the step that reaches this many bars (replay; a step holds one bar per symbol)."
        ),
    ] = None,
    fresh: Annotated[bool, typer.Option(help="Forget the stored run and start over.")] = False,
    progress: Annotated[bool, typer.Option(help="Show the replay progress bar.")] = True,
) -> None:
    """Run the daemon: replay of bundled data by default, live with mode: live."""
    with starting_up():
        cfg = load_config(config)
        # Refuse a bad strategy before the slow imports (torch) and any state.
        from bot.strategy import load_strategy_of

        strategy = load_strategy_of(cfg)
        if cfg.mode == "replay":
            cfg.require_replay_data()
        from bot.app.fresh_start import wipe_state
        from bot.writer_lease import daemon_command

        # Before anything is written or wiped: a run has one writer.
        replay = cfg.mode == "replay"
        lease = hold_the_run(cfg, daemon_command(fresh, replay))  # noqa: F841 (held until exit)
        # Replay shows a progress bar, so only warnings reach the console.
        start_logging(cfg, console_level="WARNING" if replay else cfg.logging.level)
        # Everything that can refuse these settings, before --fresh forgets
        # the run they replace: the data, the exchange, the device, the notification URLs.
        feed = _replay_feed(cfg) if replay else _live_feed(cfg)
        api_socket = _check_host(cfg)
        if fresh:
            wipe_state(cfg)
        # `kill -USR2 <pid>` writes every thread's stack to stderr: the way to
        # see what a daemon that seems stuck is doing, even if Python is blocked.
        faulthandler.register(signal.SIGUSR2, all_threads=True)
        rt = _open_replay(cfg, strategy, feed) if replay else _open_live(cfg, strategy, feed)
    if replay:
        _run_replay(cfg, rt, max_bars, progress, config, api_socket)
    else:
        _run_live(cfg, rt, config, api_socket)


def _replay_feed(cfg: Config):
    from bot.app.replay import replay_feed

    return replay_feed(cfg)


def _check_host(cfg: Config) -> socket.socket | None:
    """What this machine must offer the settings: the device, the
    notification URLs' services, and api.port free to listen on (the
    socket, bound and held for the server, with api.enabled)."""
    from bot.app.notify import urls_from_env
    from bot.model.device import check_device

    check_device(cfg.model.device)
    urls_from_env()  # BOT_NOTIFY_URLS, checked like the config
    return _api_socket(cfg) if cfg.api.enabled else None


def _api_socket(cfg: Config) -> socket.socket:
    """api.port bound now and kept for the server. A port in use used to be
    found by the server alone, after this process had said it started: the
    run went on without its API. Binding to check and letting go left the
    same fault to whoever took the port while the state was opened."""
    from bot.cli.serve import CannotListen, host_port, listening_socket

    host, port = cfg.api.host, cfg.api.port
    try:
        return listening_socket(host, port)
    except CannotListen as exc:
        if exc.bad_host:
            raise ConfigError(f"api.host: {host}: {exc.reason}") from None
        raise ConfigError(
            f"api.port: cannot listen on {host_port(host, port)}: {exc.reason}; "
            "choose another api.port or stop what listens there"
        ) from None


def _open_replay(cfg: Config, strategy, feed) -> Runtime:
    from bot.app.replay import open_replay

    return open_replay(cfg, strategy, feed)


def _run_replay(
    cfg: Config, rt: Runtime, max_bars: int | None, progress: bool, config_path, api_socket: socket.socket | None
) -> None:
    from bot.app.replay import run_replay
    from bot.cli.stop_signals import stopped_by_signals
    from bot.report.render import summary_table
    from bot.report.summary import build_summary
    from bot.step_record import StepNotCommitted

    server = _start_server(cfg, config_path, api_socket)  # once the database exists
    # A strategy stuck for ever must not hold a stop; the closing commit is
    # covered too, so that a second Ctrl+C cannot cut it short.
    with stopped_by_signals():
        try:
            try:
                outcome = run_replay(rt, max_bars=max_bars, console=err_console, progress=progress)
            except StepNotCommitted as exc:
                _say_not_committed(exc, logged=False)
                raise typer.Exit(1) from None
            note = "replay complete" if outcome.finished else f"stopped after {outcome.bars_this_run} bars"
            err_console.print(f"{note}; state in {cfg.db_shown}")
            console.print(summary_table(build_summary(rt.store, cfg)))
        finally:
            _stop_server(server)
            rt.close()
    if rt.notifier is not None and rt.notifier.sending:
        # apprise's worker threads are joined at interpreter exit: a receiver
        # that never answers would hold the finished run until it times out.
        exit_now()


def _start_server(cfg: Config, config_path, api_socket: socket.socket | None) -> subprocess.Popen | None:
    """`bot serve` for this run in a process of its own, with api.enabled,
    serving on the socket the preflight bound (this process lets go of its
    copy once the server holds one)."""
    from bot.cli.serve import http_url

    if api_socket is None:
        return None
    cmd = [sys.executable, "-m", "bot", "serve", "-c", str(config_path), "--host", cfg.api.host]
    fd = api_socket.fileno()
    try:
        handed = ["--socket-fd", str(fd), "--parent-pid", str(os.getpid())]
        server = subprocess.Popen([*cmd, "--port", str(cfg.api.port), *handed], pass_fds=[fd])
    finally:
        api_socket.close()
    err_console.print(f"bot serve started on {http_url(cfg.api.host, cfg.api.port)} (pid {server.pid})", markup=False)
    return server


def _stop_server(server: subprocess.Popen | None) -> None:
    if server is None or server.poll() is not None:
        return
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()


def _live_feed(cfg: Config):
    if cfg.broker != "paper":
        from bot.app.broker_factory import authenticated_exchange

        authenticated_exchange(cfg)  # missing credentials: refuse before any state is touched
    from bot.market.listed_symbols import listed_feed

    return listed_feed(cfg, cfg.symbols, cfg.live_history_bars)


def _open_live(cfg: Config, strategy, feed) -> Runtime:
    from bot.app.runtime import build_runtime
    from bot.clock import SystemClock

    return build_runtime(cfg, clock=SystemClock(), feed=feed, strategy=strategy)


def _run_live(cfg: Config, rt: Runtime, config_path, api_socket: socket.socket | None) -> None:
    from bot.app.daemon import run_live
    from bot.step_record import StepNotCommitted

    server = _start_server(cfg, config_path, api_socket)
    code = 0
    try:
        if run_live(rt):
            rt.close()
    except StepNotCommitted as exc:
        _say_not_committed(exc, logged=True)  # run_live logged it when it stopped
        code = 1
    finally:
        _stop_server(server)  # before the hard exit below
    # Exit now, without the interpreter's teardown: it joins every worker
    # thread (a step or retrain abandoned after the grace would hold it for
    # minutes) and unloads torch, seconds on a busy machine. What matters is
    # committed: each bar step is one transaction.
    exit_now(code)


def _say_not_committed(exc: Exception, *, logged: bool) -> None:
    """A step the database refused: the run stops there, live or replay,
    and says so in one line; a restart resumes from the last committed step."""
    from bot.secrets import scrub

    if not logged:
        import structlog

        from bot.logging_setup import file_only

        with file_only():  # the console gets the one line below
            structlog.get_logger("bot.cli").error("step_not_committed", error=str(exc), cause=repr(exc.__cause__))
    say_error(scrub(f"error: {exc}; stopped so that a restart resumes from the last committed step"))
