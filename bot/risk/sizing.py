"""How big an entry may be: a share of equity, scaled down to a volatility
target when one is set, then capped by the per-symbol and gross exposure
limits (a symbol's own where risk.per_symbol names it). Returns 0 when the
order would fall under the minimum notional."""

from __future__ import annotations

import math

from bot.config import RiskConfig


def volatility_scale(cfg: RiskConfig, bar_volatility: float | None, bars_per_year: float) -> float:
    """min(1, target / realised): never more than the plain fraction."""
    if cfg.target_volatility is None or not bar_volatility:
        return 1.0
    realised = bar_volatility * math.sqrt(bars_per_year)
    return min(1.0, cfg.target_volatility / realised)


def entry_notional(
    cfg: RiskConfig, symbol: str, target: float, equity: float, gross_exposure: float, scale: float
) -> float:
    budget = abs(target) * cfg.position_fraction(symbol) * equity * scale
    budget = min(budget, cfg.symbol_fraction(symbol) * equity)
    return max(0.0, min(budget, cfg.max_gross_exposure * equity - gross_exposure))
