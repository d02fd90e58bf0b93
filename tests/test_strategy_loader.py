"""Tests for bot.strategy.load_strategy and the bundled threshold strategy."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest
from helpers import REPO

from bot.config import ConfigError, load_config
from bot.domain import Bar
from bot.strategy import Strategy, StrategyContext, load_strategy, load_strategy_of

STRATEGIES = Path(__file__).resolve().parent.parent / "strategies"
BAR = Bar("BTC/USDT", 0, 100.0, 101.0, 99.0, 100.5, 1.0)

STRATEGY_HEADER = """
from pydantic import BaseModel
from bot.domain import Signal
from bot.strategy import Strategy
"""


def decide(strategy: Strategy, prob: float | None, qty: float = 0.0):
    return strategy.decide(StrategyContext("BTC/USDT", BAR, prob, qty, None))


@pytest.fixture
def threshold() -> Strategy:
    return load_strategy("threshold", STRATEGIES, {"enter_above": 0.6, "exit_below": 0.4})


def write(directory: Path, name: str, body: str) -> Path:
    path = directory / f"{name}.py"
    path.write_text(dedent(body))
    return path


def test_threshold_loads_with_its_params(threshold: Strategy) -> None:
    assert type(threshold).__name__ == "Threshold"
    assert (threshold.params.enter_above, threshold.params.exit_below) == (0.6, 0.4)


def test_threshold_defaults_when_no_params() -> None:
    strategy = load_strategy("threshold", STRATEGIES, {})
    assert (strategy.params.enter_above, strategy.params.exit_below) == (0.6, 0.5)


@pytest.mark.parametrize(("prob", "target"), [
    pytest.param(0.61, 1.0, id="above-enter-long"),
    pytest.param(0.99, 1.0, id="far-above-long"),
    pytest.param(0.39, 0.0, id="below-exit-flat"),
    pytest.param(0.01, 0.0, id="far-below-flat"),
    pytest.param(0.5, None, id="between-hold"),
    pytest.param(0.6, None, id="at-enter-hold"),
    pytest.param(0.4, None, id="at-exit-hold"),
    pytest.param(None, None, id="no-prediction-hold"),
])
def test_threshold_decides(threshold: Strategy, prob: float | None, target: float | None) -> None:
    assert decide(threshold, prob).target == target


def test_threshold_holds_whatever_the_position(threshold: Strategy) -> None:
    assert decide(threshold, 0.5, qty=3.0).target is None
    assert decide(threshold, 0.9, qty=3.0).target == 1.0  # the risk manager refuses the re-entry


@pytest.mark.parametrize(("params", "field"), [
    pytest.param({"enter_above": 1.5}, "enter_above", id="above-one"),
    pytest.param({"enter_above": 0.0}, "enter_above", id="zero"),
    pytest.param({"exit_below": "half"}, "exit_below", id="not-a-number"),
    pytest.param({"exit_below": -0.1}, "exit_below", id="negative"),
    pytest.param({"enter_abov": 0.7}, "enter_abov", id="misspelt-key"),
])
def test_bad_param_names_its_field(params: dict, field: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load_strategy("threshold", STRATEGIES, params)
    assert str(excinfo.value).startswith(f"strategy.params.{field}:")


def test_crossed_thresholds_are_refused() -> None:
    """The cross-field check has no single field: the message names both."""
    with pytest.raises(ConfigError) as excinfo:
        load_strategy("threshold", STRATEGIES, {"enter_above": 0.4, "exit_below": 0.5})
    message = str(excinfo.value)
    assert message.startswith("strategy.params")
    assert "exit_below" in message and "enter_above" in message


@pytest.mark.parametrize("name", ["no_such_strategy", "../threshold", "thres-hold", ""])
def test_unknown_or_invalid_name_names_strategy_name(name: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load_strategy(name, STRATEGIES, {})
    assert str(excinfo.value).startswith("strategy.name:")


def test_syntax_error_is_a_config_error(tmp_path: Path) -> None:
    write(tmp_path, "broken", STRATEGY_HEADER + "\ndef decide(self ctx):\n    pass\n")
    with pytest.raises(ConfigError) as excinfo:
        load_strategy("broken", tmp_path, {})
    message = str(excinfo.value)
    assert message.startswith("strategy.name:")
    assert "SyntaxError" in message and "broken.py" in message
    assert excinfo.value.__cause__ is None and excinfo.value.__suppress_context__


def test_error_raised_at_import_is_a_config_error(tmp_path: Path) -> None:
    write(tmp_path, "raises", "import no_such_module_xyz\n")
    with pytest.raises(ConfigError, match="ModuleNotFoundError"):
        load_strategy("raises", tmp_path, {})


def test_two_strategy_classes_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "twins", STRATEGY_HEADER + """
class A(Strategy):
    def decide(self, ctx):
        return Signal(None)

class B(Strategy):
    def decide(self, ctx):
        return Signal(1.0)
""")
    with pytest.raises(ConfigError) as excinfo:
        load_strategy("twins", tmp_path, {})
    assert str(excinfo.value).startswith("strategy.name:")
    assert "found 2" in str(excinfo.value)


def test_no_strategy_class_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "empty", STRATEGY_HEADER)
    with pytest.raises(ConfigError, match="found 0"):
        load_strategy("empty", tmp_path, {})


def test_user_strategy_with_params_loads(tmp_path: Path) -> None:
    write(tmp_path, "mine", STRATEGY_HEADER + """
class P(BaseModel):
    level: float = 0.5

class Mine(Strategy):
    Params = P
    def decide(self, ctx):
        return Signal(1.0 if ctx.prob_up > self.params.level else 0.0)
""")
    strategy = load_strategy("mine", tmp_path, {"level": 0.7})
    assert strategy.params.level == 0.7
    assert decide(strategy, 0.8).target == 1.0 and decide(strategy, 0.6).target == 0.0


def test_strategy_without_params_refuses_any_param(tmp_path: Path) -> None:
    write(tmp_path, "plain", STRATEGY_HEADER + """
class Plain(Strategy):
    def decide(self, ctx):
        return Signal(None)
""")
    assert isinstance(load_strategy("plain", tmp_path, {}), Strategy)
    with pytest.raises(ConfigError, match=r"^strategy\.params\.x:"):
        load_strategy("plain", tmp_path, {"x": 1})


def test_strategy_with_postponed_annotations_loads(tmp_path: Path) -> None:
    """`from __future__ import annotations` turns annotations into strings that
    pydantic resolves through sys.modules; the loader must register the module."""
    write(tmp_path, "postponed", "from __future__ import annotations\nfrom typing import Literal\n"
          + STRATEGY_HEADER + """
class P(BaseModel):
    mode: Literal["a", "b"] = "a"

class Postponed(Strategy):
    Params = P
    def decide(self, ctx):
        return Signal(None)
""")
    assert load_strategy("postponed", tmp_path, {"mode": "b"}).params.mode == "b"
    with pytest.raises(ConfigError, match=r"^strategy\.params\.mode:"):
        load_strategy("postponed", tmp_path, {"mode": "c"})


@pytest.mark.parametrize("example", sorted((REPO / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_config_loads_with_its_strategy(example: Path) -> None:
    """The examples run as documented, from any working directory."""
    cfg = load_config(example)
    assert load_strategy_of(cfg) is not None


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "nan", "-Infinity"])
def test_a_parameter_with_no_bounds_is_never_given_nan_or_infinity(tmp_path: Path, value) -> None:
    # pydantic's float takes nan and infinity; a strategy that sets no bound would trade on them.
    write(tmp_path, "loose", STRATEGY_HEADER + dedent("""
        class Loose(Strategy):
            class Params(BaseModel):
                level: float = 1.0
                label: str = "x"
            def decide(self, ctx):
                return Signal()
    """))
    with pytest.raises(ConfigError, match="strategy.params.level: a finite number is needed"):
        load_strategy("loose", tmp_path, {"level": value})
    assert load_strategy("loose", tmp_path, {"label": "nan"}).params.label == "nan"  # text stays text
