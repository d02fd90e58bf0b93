"""Loads strategies/<name>.py by name and validates its parameters."""

from __future__ import annotations

import importlib.util
import inspect
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot.config import ConfigError, describe_validation_error
from bot.strategy.base import Strategy

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def load_strategy(name: str, directory: Path, params: dict[str, Any]) -> Strategy:
    if not _NAME.match(name):
        raise ConfigError(f"strategy.name: '{name}' is not a Python module name")
    path = directory / f"{name}.py"
    if not path.is_file():
        raise ConfigError(f"strategy.name: no strategy file {path}")
    cls = _strategy_class(_import(path, name), path)
    try:
        validated = cls.Params(**params)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, "strategy.params")) from None
    return cls(validated)


def _import(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"bot_strategies.{name}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a user's file: report, don't dump a traceback
        raise ConfigError(f"strategy.name: {path} failed to import: {type(exc).__name__}: {exc}") from None
    return module


def _strategy_class(module: Any, path: Path) -> type[Strategy]:
    found = [
        obj for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, Strategy) and obj is not Strategy
        and obj.__module__ == module.__name__
    ]
    if len(found) != 1:
        raise ConfigError(f"strategy.name: {path} must define exactly one Strategy subclass, found {len(found)}")
    return found[0]
