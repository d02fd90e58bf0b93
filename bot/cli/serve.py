"""`bot serve`: the run's ledger over HTTP (JSON API under /api/v1, its
OpenAPI page at /docs, Prometheus text at /metrics). A process of its own:
it reads the database the daemon writes; its only writes are the
operator requests of its controls, as the CLI's `bot resume` makes them."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.common import DEFAULT_CONFIG, ConfigPath, err_console, guarded, open_existing_store
from bot.config import load_config


@guarded
def serve(
    config: ConfigPath = DEFAULT_CONFIG,
    host: Annotated[str, typer.Option(help="Address to listen on; 127.0.0.1 keeps it on this machine.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8080,
) -> None:
    """Serve the run over HTTP: JSON API, health for monitors, /metrics."""
    import uvicorn

    from bot.web.api import make_app

    cfg = load_config(config)
    store = open_existing_store(cfg)
    err_console.print(
        f"serving {cfg.db_shown} on http://{host}:{port} (API under /api/v1, docs at /docs)", markup=False
    )
    try:
        uvicorn.run(make_app(store, cfg), host=host, port=port, log_level="warning")
    finally:
        store.close()
