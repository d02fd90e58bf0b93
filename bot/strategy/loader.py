"""Loads strategies/<name>.py by name and validates its parameters."""

from __future__ import annotations

import importlib.util
import inspect
import math
import re
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot.config import Config, ConfigError, describe_validation_error, wants_a_number
from bot.file_checks import unreadable_file
from bot.strategy.base import Strategy

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def load_strategy_of(config: Config) -> Strategy:
    """The strategy a config names, with its validated parameters, checked
    against the rest of the config."""
    strategy = load_strategy(config.strategy.name, config.path(config.strategy.path), config.strategy.params)
    problem = strategy.contradicts(config)
    if problem:
        raise ConfigError(problem)
    return strategy


def load_strategy(name: str, directory: Path, params: dict[str, Any]) -> Strategy:
    if not _NAME.match(name):
        raise ConfigError(f"strategy.name: '{name}' is not a Python module name")
    path = directory / f"{name}.py"
    problem = unreadable_file(path)
    if problem:
        raise ConfigError(
            f"strategy.name: no strategy file {path} ({problem}); strategy.path sets the directory it is read from"
        )
    cls = _strategy_class(_import(path, name), path)
    for key, value in params.items():  # as for the bot's own numbers (bot.config)
        field = cls.Params.model_fields.get(key)
        if isinstance(value, bool) and field is not None and wants_a_number(field.annotation):
            raise ConfigError(f"strategy.params.{key}: a number is needed, not true or false")
        if _not_finite(value) and (
            isinstance(value, float) or (field is not None and wants_a_number(field.annotation))
        ):
            # Named as what it is: a bounded field called nan "less than or
            # equal to 10000", and an unbounded one took it and traded on it.
            raise ConfigError(f"strategy.params.{key}: a finite number is needed, not {value}")
    try:
        validated = cls.Params(**params)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, "strategy.params")) from None
    return cls(validated)


def _not_finite(value: Any) -> bool:
    """nan or an infinity, as YAML's float or as the text an environment
    variable gives."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return False
    try:
        return not math.isfinite(float(value))
    except (ValueError, OverflowError):
        return False


def _import(path: Path, name: str) -> Any:
    module_name = f"bot_strategies.{name}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None  # a .py path always gets a source loader
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs, as a normal import would be: pydantic looks
    # modules up there to resolve string annotations (`from __future__ import
    # annotations` in a strategy file).
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a user's file: report, don't dump a traceback
        del sys.modules[module_name]
        raise ConfigError(f"strategy.name: {path} failed to import: {type(exc).__name__}: {exc}") from None
    return module


def _strategy_class(module: Any, path: Path) -> type[Strategy]:
    found = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, Strategy)
        and obj is not Strategy
        and obj.__module__ == module.__name__
    ]
    if len(found) != 1:
        raise ConfigError(f"strategy.name: {path} must define exactly one Strategy subclass, found {len(found)}")
    return found[0]
