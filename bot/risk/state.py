"""What the risk manager remembers between bars, saved with every bar step
so that a restart (or `bot resume`) continues with exactly the same rules in
force: the kill-switch halt, the daily-loss block, cooldowns, trailing
references and the equity peak."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum

from bot.error_text import first_line


class TradingState(str, Enum):
    """What the bot may do now, one value for every rule that limits it;
    a change is logged as a `trading_state` event."""

    ACTIVE = "active"  # entries, exits and stops
    REDUCE_ONLY = "reduce_only"  # the venue forbids entries (an unknown order, a balance mismatch)
    DAY_BLOCKED = "day_blocked"  # the daily loss limit: no entry until the next UTC day
    HALTED = "halted"  # the kill switch or the strategy guard: no entry until `bot resume`


_SORTED_JSON = json.JSONEncoder(sort_keys=True)


@dataclass
class RiskState:
    peak_equity: float | None = None
    halted: bool = False
    halt_reason: str | None = None
    day: int | None = None  # UTC day number of the last bar step
    day_start_equity: float | None = None
    day_blocked: int | None = None  # entries blocked for the rest of this UTC day
    cooldown: dict[str, int] = field(default_factory=dict)  # bars left per symbol
    trail_ref: dict[str, float] = field(default_factory=dict)  # best price since entry
    last_block: dict[str, str] = field(default_factory=dict)  # to report a block once per streak
    resumes_seen: int = 0  # `bot resume` requests already acted on
    pauses_seen: int = 0  # operator pause requests already acted on
    flattens_seen: int = 0  # operator flatten requests already acted on
    entry_ts: dict[str, int] = field(default_factory=dict)  # bar the open position was entered at
    protections: int = 0  # protective groups created so far: part of each group's id
    trading: str = TradingState.ACTIVE.value  # the state last logged

    def to_json(self) -> str:
        # The instance's own dict rather than asdict(): this runs every bar
        # step and asdict deep-copies; the JSON is the same. One encoder for
        # all: json.dumps with an option builds a new one on every call.
        return _SORTED_JSON.encode(vars(self))

    @classmethod
    def from_json(cls, text: str | None) -> RiskState:
        if not text:
            return cls()
        try:
            return cls(**json.loads(text))
        except (ValueError, TypeError) as exc:  # not JSON, not an object, or fields it never had
            from bot.config import ConfigError

            reason = first_line(exc)[:120]
            raise ConfigError(
                f"storage.db_url: the run's risk state (run_meta.risk_state) cannot be read ({reason}); "
                "restore the database from a backup, or start over on purpose with `bot run --fresh`"
            ) from None

    def values(self) -> tuple:
        """Every value of the state, the dicts' items included: equal
        values make the same JSON."""
        return tuple([tuple(v.items()) if type(v) is dict else v for v in vars(self).values()])


class SavedState:
    """The JSON of the risk state as each bar step saves it, encoded again
    only when one of its values changed. Most bars change none, and the
    encoding cost a twentieth of a replayed bar; comparing the values costs
    a quarter of the encoding. (A zero that changes sign alone compares
    equal and keeps its old text; no price or equity in it is ever -0.)"""

    def __init__(self) -> None:
        self._values: tuple | None = None
        self._text = ""

    def json(self, state: RiskState) -> str:
        values = state.values()
        if values != self._values:
            self._values, self._text = values, state.to_json()
        return self._text
