"""`bot resume`: clear a kill-switch halt, by a person's decision."""

from __future__ import annotations

from bot.cli.common import DEFAULT_CONFIG, ConfigPath, err_console, guarded, open_existing_store
from bot.config import load_config


@guarded
def resume(config: ConfigPath = DEFAULT_CONFIG) -> None:
    """Clear a kill-switch halt: now in the stored state, and in a running
    daemon at its next bar."""
    cfg = load_config(config)
    from bot.app.operator_requests import RESUME_KEY
    from bot.risk import RiskManager
    from bot.risk.state import RiskState

    store = open_existing_store(cfg)
    try:
        requested = int(store.get_meta(RESUME_KEY) or 0) + 1
        store.set_meta(RESUME_KEY, str(requested))
        risk = RiskManager(cfg.risk, cfg.paper, cfg.timeframe, RiskState.from_json(store.get_meta("risk_state")))
        equity = store.latest_equity()
        was = risk.state.halt_reason
        event = risk.follow_resume_requests(
            requested, equity.equity if equity else cfg.paper.initial_cash, equity.ts if equity else 0
        )
        store.set_meta("risk_state", risk.state.to_json())
        store.add_event(event)
    finally:
        store.close()
    err_console.print(f"halt cleared (it was: {was})" if was else "not halted; nothing to clear")
