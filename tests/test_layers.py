"""The import rule of the architecture: core <- adapters <- app <- cli.

A module may import its own layer and the layers below it, never one
above: the core (domain values, features, model, risk, strategy, ledger,
engine and the ports) knows no database, exchange or scheduler; adapters
(brokers, market data, the store, reports that read it) plug into the
ports; the app runs the core over time; the cli parses and prints. Every
import counts, including the ones inside functions, and every module must
have a layer, so a new one cannot slip through unclassified."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parent.parent / "bot"
CORE, ADAPTERS, APP, CLI = 0, 1, 2, 3
NAMES = {CORE: "core", ADAPTERS: "adapters", APP: "app", CLI: "cli"}

# Longest prefix wins.
LAYER_OF = {
    "bot": CORE,
    "bot.domain": CORE,
    "bot.clock": CORE,
    "bot.timeframes": CORE,
    "bot.config": CORE,
    "bot.secrets": CORE,
    "bot.logging_setup": CORE,
    "bot.ports": CORE,
    "bot.book_view": CORE,
    "bot.step_record": CORE,
    "bot.engine": CORE,
    "bot.features": CORE,
    "bot.ledger": CORE,
    "bot.risk": CORE,
    "bot.strategy": CORE,
    "bot.model": CORE,
    "bot.model.registry": ADAPTERS,  # model files and their rows in the store
    "bot.report": CORE,  # metrics on plain frames
    "bot.report.summary": ADAPTERS,  # reads the store
    "bot.report.explain": ADAPTERS,  # reads the store
    "bot.report.run_frames": ADAPTERS,  # reads the store
    "bot.report.render": ADAPTERS,  # console tables
    "bot.broker": ADAPTERS,
    "bot.market": ADAPTERS,
    "bot.store": ADAPTERS,
    "bot.writer_lease": ADAPTERS,
    "bot.app": APP,
    "bot.web": APP,
    "bot.backtest": APP,
    "bot.cli": CLI,
    "bot.__main__": CLI,
    "bot.entry": CLI,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(BOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    best = max((p for p in LAYER_OF if module == p or module.startswith(p + ".")), key=len, default=None)
    if best is None:
        raise KeyError(f"{module} has no layer: add it to LAYER_OF")
    return LAYER_OF[best]


def is_module(name: str) -> bool:
    path = BOT.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every bot module the file imports."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "bot"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "bot":
            for alias in node.names:  # `from bot.x import y` may name the module bot.x.y
                sub = f"{node.module}.{alias.name}"
                found.append((node.lineno, sub if is_module(sub) else node.module))
    return found


SOURCES = sorted(BOT.rglob("*.py"))


def test_every_module_has_a_layer() -> None:
    for path in SOURCES:
        layer(module_name(path))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: module_name(p))
def test_no_import_points_up(path: Path) -> None:
    own = layer(module_name(path))
    upward = [
        f"line {line}: {target} ({NAMES[layer(target)]})"
        for line, target in imported(path)
        if layer(target) > own
    ]
    assert not upward, f"{module_name(path)} ({NAMES[own]}) imports a higher layer: " + "; ".join(upward)


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    """The checker itself: an engine that imported the store would fail."""
    fake = tmp_path / "engine.py"
    fake.write_text("from bot.store import Store\nfrom bot.ports import Broker\n")
    assert [(line, target, layer(target)) for line, target in imported(fake)] == [
        (1, "bot.store", ADAPTERS),
        (2, "bot.ports", CORE),
    ]
    assert layer("bot.engine") < layer("bot.store")
