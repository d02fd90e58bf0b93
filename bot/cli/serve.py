"""`bot serve`: the run's ledger over HTTP (JSON API under /api/v1, its
OpenAPI spec at /openapi.json, Prometheus text at /metrics). A process of its own:
it reads the database the daemon writes; its only writes are the
operator requests of its controls, as the CLI's `bot resume` makes them."""

from __future__ import annotations

import errno
import os
import socket
import threading
import time
from typing import Annotated

import typer

from bot.cli.common import (
    DEFAULT_CONFIG,
    ConfigPath,
    UserError,
    err_console,
    exit_now,
    guarded,
    open_existing_store,
    say_error,
)
from bot.config import load_config


@guarded
def serve(
    config: ConfigPath = DEFAULT_CONFIG,
    host: Annotated[str, typer.Option(help="Address to listen on; 127.0.0.1 keeps it on this machine.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8080,
    socket_fd: Annotated[int | None, typer.Option(hidden=True, min=0)] = None,
    parent_pid: Annotated[int | None, typer.Option(hidden=True, min=1)] = None,
) -> None:
    """Serve the run over HTTP: JSON API, health for monitors, /metrics."""
    import uvicorn

    from bot.web.api import make_app
    from bot.web.host_check import is_loopback

    cfg = load_config(config)
    store = open_existing_store(cfg)
    interrupted = False
    try:
        # `bot run` binds api.port before it opens the run and hands the
        # socket down, so nothing can take the port in between.
        listening = socket.socket(fileno=socket_fd) if socket_fd is not None else _bound(host, port)
        port = listening.getsockname()[1]  # the port it holds, said as it is
        err_console.print(
            f"serving {cfg.db_shown} on {http_url(host, port)} (API under /api/v1, its OpenAPI spec at /openapi.json)",
            markup=False,
        )
        app = make_app(store, cfg, loopback_only=is_loopback(host))
        # A request waiting on a locked database (SQLite waits up to 10 s) must not hold a stop past
        # Docker's 10 s grace: requests still running after STOP_GRACE_S are abandoned.
        server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=STOP_GRACE_S)
        )
        if parent_pid is not None:
            _stop_when_orphaned(server, parent_pid)
        try:
            server.run(sockets=[listening])
        except KeyboardInterrupt:
            interrupted = True  # uvicorn raises Ctrl+C again once it has stopped
    finally:
        store.close()
    if interrupted:
        say_error("interrupted; the server stopped")
    exit_now(130 if interrupted else 0)  # an abandoned request's thread must not hold the exit


ORPHAN_CHECK_S = 1.0
STOP_GRACE_S = 2  # seconds, for requests in flight at a stop


def _stop_when_orphaned(server, parent_pid: int) -> None:
    """The server `bot run` started goes when the run goes, even killed:
    it outlived a SIGKILLed run, held api.port, and every restart was
    refused. A child whose parent died is handed to another (init, a
    subreaper), so its parent pid changes."""

    def watch() -> None:
        while not server.should_exit:
            if os.getppid() != parent_pid:
                server.should_exit = True
                return
            time.sleep(ORPHAN_CHECK_S)

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


def _bound(host: str, port: int) -> socket.socket:
    try:
        return listening_socket(host, port)
    except CannotListen as exc:
        if exc.bad_host:
            raise UserError(f"--host {host}: {exc.reason}") from None
        raise UserError(f"cannot listen on {host_port(host, port)}: {exc.reason}; choose another --port") from None


class CannotListen(Exception):
    """Why a socket could not be bound: each caller names its own option
    (`bot serve` its --host and --port, `bot run` its api.host and api.port)."""

    def __init__(self, reason: str, bad_host: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.bad_host = bad_host  # an address this machine does not have; else the port is taken or refused


def listening_socket(host: str, port: int) -> socket.socket:
    """The server's socket, bound before anything says it serves: a port in
    use or an address this machine does not have is one line and exit 1,
    not "serving ..." followed by uvicorn's own error."""
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except OSError as exc:
        raise CannotListen(str(exc.strerror or exc), bad_host=True) from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    # As uvicorn does: a restart may bind while the old socket is in TIME_WAIT.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        # EADDRNOTAVAIL: resolved, but not an address of this machine (it
        # was blamed on the port: "choose another --port").
        raise CannotListen(str(exc.strerror or exc), bad_host=exc.errno == errno.EADDRNOTAVAIL) from None
    return sock


def host_port(host: str, port: int) -> str:
    """host:port as a URL writes it: an IPv6 address in brackets ([::1]:8080)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def http_url(host: str, port: int) -> str:
    """Where the server answers, as a browser takes it."""
    return f"http://{host_port(host, port)}"
