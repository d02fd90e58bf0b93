"""The default strategy: enter only when the expected edge pays for the
round trip, hold for the model's horizon, exit on the opposite condition,
and say why every time."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError
from bot.domain import Bar
from bot.strategy import StrategyContext, load_strategy

STRATEGIES = Path(__file__).resolve().parent.parent / "strategies"
BAR = Bar("BTC/USDT", 0, 100, 101, 99, 100, 5)
COST = 0.003  # 30 bps round trip


def edge_strategy(**params):
    return load_strategy("edge", STRATEGIES, params)


def ctx(edge: float | None, qty: float = 0.0, held: int = 0, horizon: int = 6, regime: float | None = None,
        prob: float | None = 0.5, error: float = 0.0) -> StrategyContext:
    return StrategyContext("BTC/USDT", BAR, prob if edge is not None else None, qty, None, None,
                           expected_edge=edge, edge_error=error, round_trip_cost=COST, regime=regime,
                           bars_held=held, horizon_bars=horizon)


def test_enters_only_when_the_edge_beats_cost_plus_margin() -> None:
    s = edge_strategy(margin_bps=10)
    below = s.decide(ctx(0.0039))
    assert below.target is None and below.reason.startswith("edge below cost:")
    above = s.decide(ctx(0.0041))
    assert above.target == 1.0 and above.reason.startswith("edge above cost:")


def test_an_uncertain_edge_must_clear_the_cost_by_its_standard_error() -> None:
    s = edge_strategy(margin_bps=10, confidence=1.0)
    assert s.decide(ctx(0.0060, error=0.0025)).target is None  # 0.60% is within one error of 0.40%
    assert s.decide(ctx(0.0070, error=0.0025)).target == 1.0
    assert edge_strategy(margin_bps=10, confidence=0).decide(ctx(0.0060, error=0.0025)).target == 1.0
    # the reason says how many standard errors the edge stands beyond cost and margin: (0.70% - 0.40%) / 0.25%
    assert s.decide(ctx(0.0070, error=0.0025)).reason.endswith("0.100% margin + 0.250% doubt (+1.20 standard errors)")
    assert s.decide(ctx(0.0030, error=0.0025)).reason.endswith("(-0.40 standard errors)")
    # and the exit waits for a reversal beyond the doubt too
    assert s.decide(ctx(-0.0060, qty=1.0, held=10, error=0.0025)).target is None
    assert s.decide(ctx(-0.0070, qty=1.0, held=10, error=0.0025)).target == 0.0
    assert s.decide(ctx(-0.0070, qty=1.0, held=10, error=0.0025)).reason.endswith(
        "0.100% margin + 0.250% doubt (+1.20 standard errors))")


def test_no_prediction_is_a_reason_too() -> None:
    signal = edge_strategy().decide(ctx(None))
    assert signal.target is None and signal.reason.startswith("no prediction:")


def test_negative_edge_never_shorts_unless_allowed() -> None:
    assert edge_strategy().decide(ctx(-0.02)).target is None
    assert edge_strategy(allow_short=True).decide(ctx(-0.02)).target == -1.0


def test_holds_for_the_model_horizon_whatever_it_says() -> None:
    s = edge_strategy()
    for held in range(1, 6):
        signal = s.decide(ctx(-0.05, qty=1.0, held=held, horizon=6))
        assert signal.target is None and signal.reason == f"minimum hold: {held} of 6 bars"
    assert s.decide(ctx(-0.05, qty=1.0, held=6, horizon=6)).target == 0.0
    assert edge_strategy(min_hold_bars=2).decide(ctx(-0.05, qty=1.0, held=2, horizon=6)).target == 0.0


def test_exits_on_the_opposite_condition_only() -> None:
    s = edge_strategy(margin_bps=10, exit_margin_bps=10)
    # -(cost + exit margin) = -0.4%: a mildly negative edge keeps the position
    keep = s.decide(ctx(-0.0039, qty=1.0, held=10))
    assert keep.target is None and keep.reason.startswith("holding:")
    leave = s.decide(ctx(-0.0041, qty=1.0, held=10))
    assert leave.target == 0.0 and leave.reason.startswith("edge reversed:")


def test_a_short_exits_when_the_edge_turns_up() -> None:
    s = edge_strategy(allow_short=True)
    assert s.decide(ctx(0.01, qty=-1.0, held=10)).target == 0.0
    assert s.decide(ctx(-0.01, qty=-1.0, held=10)).target is None


def test_turbulent_regime_blocks_entries_but_not_holding() -> None:
    s = edge_strategy(max_turbulence=0.7)
    blocked = s.decide(ctx(0.02, regime=0.9))
    assert blocked.target is None and blocked.reason.startswith("turbulent regime:")
    assert s.decide(ctx(0.02, regime=0.5)).target == 1.0
    assert s.decide(ctx(0.02, regime=None)).target == 1.0  # no regime model: no opinion
    assert s.decide(ctx(0.001, qty=1.0, held=10, regime=0.99)).target is None


@pytest.mark.parametrize("params", [{"margin_bps": -1}, {"min_hold_bars": -2}, {"max_turbulence": 1.5},
                                    {"margin": 3}])
def test_bad_parameters_are_refused_naming_the_field(params) -> None:
    with pytest.raises(ConfigError, match="strategy.params"):
        edge_strategy(**params)
