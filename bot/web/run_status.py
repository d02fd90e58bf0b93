"""Where a run stands, as one JSON-ready object: what /api/v1/status
answers and the dashboard's positions panel shows."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bot.config import Config
from bot.store import Store
from bot.timeframes import iso_utc


def run_status(store: Store, cfg: Config) -> dict:
    champion = store.champion()
    open_orders = store.open_orders()
    return {
        "mode": cfg.mode,
        "broker": cfg.broker,
        "timeframe": cfg.timeframe,
        "symbols": cfg.symbols,
        "last_bars": {s: _iso(store.last_bar_ts(s)) for s in cfg.symbols},
        "risk_state": _risk_state(store),
        "equity": asdict(e) if (e := store.latest_equity()) else None,
        "positions": [
            {
                **asdict(p),
                "protective_orders": [
                    {"kind": o.kind.value, "reason": o.reason, "price": o.resting_price}
                    for o in open_orders
                    if o.symbol == p.symbol and o.kind.protective
                ],
            }
            for p in store.latest_positions()
            if p.qty != 0
        ],
        "champion": champion.version if champion else None,
        "last_decisions": [asdict(p) for p in store.latest_decisions()],
    }


def _iso(ts: int | None) -> str | None:
    return iso_utc(ts) if ts is not None else None


def _risk_state(store: Store) -> Any:
    """The stored risk state, read as the daemon reads it: one it could not
    resume from is the same one-line ConfigError (a 503), not a bare 500."""
    from bot.risk.state import RiskState

    raw = store.get_meta("risk_state")
    return vars(RiskState.from_json(raw)) if raw else None
