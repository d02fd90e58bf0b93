"""`bot resume`, `bot pause`, `bot flatten`: a person's decisions about a
run, made while its daemon may be running. Each is an operator request
(bot/app/operator_requests.py), the path `bot serve`'s controls take too;
the daemon acts on it at its next bar."""

from __future__ import annotations

from bot.cli.common import DEFAULT_CONFIG, ConfigPath, err_console, guarded, open_existing_store
from bot.config import load_config


@guarded
def resume(config: ConfigPath = DEFAULT_CONFIG) -> None:
    """Clear a halt (kill switch, pause, flatten): now in the stored state,
    and in a running daemon at its next bar."""
    cfg = load_config(config)
    from bot.app.operator_requests import request_resume

    store = open_existing_store(cfg)
    try:
        resumed = request_resume(store, cfg, "`bot resume`")
    finally:
        store.close()
    err_console.print(_resumed_text(resumed))


def _resumed_text(resumed) -> str:
    if resumed.was_halted:
        cleared = "halt cleared" if resumed.now else f"halt clears {resumed.when}"
        said = [f"{cleared} (it was: {resumed.was_halted})"]
    else:
        said = []
    if resumed.cancelled:
        said.append(f"cancelled before the daemon acted on it: {', '.join(resumed.cancelled)}")
        if any(c.startswith("flatten") for c in resumed.cancelled):
            said.append("open positions stay open")
    if said:
        return "; ".join(said)
    return "not halted; nothing to clear" if resumed.now else f"not halted; the request is read {resumed.when}"


@guarded
def pause(config: ConfigPath = DEFAULT_CONFIG) -> None:
    """No new entries from the next bar until `bot resume`; open positions
    keep their stops."""
    from bot.app.operator_requests import PAUSE_KEY

    _request(config, PAUSE_KEY, "`bot pause`", "paused from the next bar; `bot resume` ends it")


@guarded
def flatten(config: ConfigPath = DEFAULT_CONFIG) -> None:
    """Halt entries and close every position at the next bar's open."""
    from bot.app.operator_requests import FLATTEN_KEY

    _request(config, FLATTEN_KEY, "`bot flatten`", "every position closes at the next bar; entries halted")


def _request(config: ConfigPath, key: str, origin: str, outcome: str) -> None:
    cfg = load_config(config)
    from bot.app.operator_requests import request

    store = open_existing_store(cfg)
    try:
        request(store, key, origin)
    finally:
        store.close()
    err_console.print(outcome)
