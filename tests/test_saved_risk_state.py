"""The risk state saved with each bar step is encoded again only when it
changed: the text saved must always be the state's own JSON."""

from __future__ import annotations

import random

from bot.risk.state import RiskState, SavedState


def _mutate(state: RiskState, rng: random.Random, step: int) -> None:
    """One change of the kinds the risk manager makes, or none."""
    symbol = rng.choice(["BTC/USDT", "ETH/USDT"])
    match rng.randrange(9):
        case 0:
            state.peak_equity = max(state.peak_equity or 0.0, rng.uniform(9_000, 11_000))
        case 1:
            state.cooldown[symbol] = rng.randrange(4)  # a dict changed in place
        case 2:
            state.cooldown.pop(symbol, None)
        case 3:
            state.trail_ref[symbol] = rng.uniform(10, 20)
        case 4:
            state.day, state.day_start_equity = step // 24, rng.uniform(9_000, 11_000)
        case 5:
            state.halted, state.halt_reason = True, f"drawdown at step {step}"
        case 6:
            state.entry_ts[symbol] = step
        case 7:
            state.last_block[symbol] = rng.choice(["halted", "cooldown"])
        case _:
            pass  # most bars change nothing


def test_the_saved_text_is_always_the_states_json() -> None:
    rng = random.Random(7)
    state, saved = RiskState(), SavedState()
    encodings = 0
    previous = None
    for step in range(2_000):
        _mutate(state, rng, step)
        text = saved.json(state)
        assert text == state.to_json()
        encodings += text is not previous
        previous = text
    # It did skip the unchanged steps, and did not skip the changed ones.
    assert 100 < encodings < 2_000


def test_a_value_changed_inside_a_dict_is_seen() -> None:
    state, saved = RiskState(cooldown={"BTC/USDT": 2}), SavedState()
    first = saved.json(state)
    state.cooldown["BTC/USDT"] = 1
    assert saved.json(state) != first
    assert saved.json(state) == state.to_json()


def test_a_new_state_with_the_same_values_keeps_the_text() -> None:
    """After a resume the state is a new object; equal values, equal text."""
    state, saved = RiskState(peak_equity=10_000.0, day=3), SavedState()
    first = saved.json(state)
    again = RiskState.from_json(first)
    assert saved.json(again) is first
