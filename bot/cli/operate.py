"""`bot resume`: clear a kill-switch halt, by a person's decision."""

from __future__ import annotations

from bot.cli.common import DEFAULT_CONFIG, ConfigPath, err_console, guarded, open_existing_store
from bot.config import load_config


@guarded
def resume(config: ConfigPath = DEFAULT_CONFIG) -> None:
    """Clear a kill-switch halt: now in the stored state, and in a running
    daemon at its next bar."""
    cfg = load_config(config)
    from bot.app.operator_requests import request_resume

    store = open_existing_store(cfg)
    try:
        was = request_resume(store, cfg, "`bot resume`")
    finally:
        store.close()
    err_console.print(f"halt cleared (it was: {was})" if was else "not halted; nothing to clear")
