"""The event kinds bot/ can write, read from its source: every Event(...)
call, its kind followed back through the functions that pass it on (an
`_event(ts, kind, ...)` helper, a `_reject(order, kind, ...)` that calls
it, an f-string of a parameter) to the literals their callers give. A
kind that cannot be followed (a local variable, a row read back) is
returned as an unresolved site, to be traced by hand in a test of its own.

The same walk follows a blocked entry's rule: the value under "rule" in
an Event's data."""

from __future__ import annotations

import ast
import itertools
from dataclasses import dataclass, field
from pathlib import Path

BOT = Path(__file__).resolve().parent.parent / "bot"


@dataclass
class Found:
    names: set[str] = field(default_factory=set)
    unresolved: set[tuple[str, str, str]] = field(default_factory=set)  # (file, function, expression)


@dataclass
class Module:
    path: str
    tree: ast.Module
    parents: dict[ast.AST, ast.AST]


def modules() -> list[Module]:
    found = []
    for path in sorted(BOT.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        found.append(Module(str(path.relative_to(BOT.parent)), tree, parents))
    return found


def string_constants(every: list[Module]) -> dict[str, str]:
    """Module-level NAME = "text" assignments anywhere in bot/ (an imported
    constant such as PRICE_LEVEL_CHANGED)."""
    constants = {}
    for module in every:
        for node in module.tree.body:
            value = node.value if isinstance(node, ast.Assign) else None
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                constants.update({t.id: value.value for t in node.targets if isinstance(t, ast.Name)})
    return constants


def event_kinds() -> Found:
    """The kinds given to Event(ts, kind, ...)."""
    return _follow(lambda call: call.args[1] if len(call.args) > 1 else _keyword(call, "kind"))


def blocked_entry_rules() -> Found:
    """The rules in Event(..., data={"rule": rule})."""
    return _follow(lambda call: _dict_value(_keyword(call, "data"), "rule"))


def _follow(pick) -> Found:
    every = modules()
    walk = _Walk(string_constants(every))
    for module in every:
        for call in _calls(module.tree, "Event"):
            expr = pick(call)
            if expr is not None:
                walk.resolve(module, expr, call)
    return walk.found


class _Walk:
    def __init__(self, constants: dict[str, str]) -> None:
        self.constants = constants
        self.found = Found()

    def resolve(self, module: Module, expr: ast.expr, at: ast.AST) -> None:
        self.found.names.update(self._values(module, expr, at))

    def _values(self, module: Module, expr: ast.expr, at: ast.AST) -> set[str]:
        """Every text `expr` can be where it stands, as far as the source
        tells; where it cannot, the site is noted as unresolved."""
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return {expr.value}
        if isinstance(expr, ast.IfExp):
            return self._values(module, expr.body, at) | self._values(module, expr.orelse, at)
        if isinstance(expr, ast.JoinedStr):
            return self._joined(module, expr, at)
        if isinstance(expr, ast.Name) and expr.id in self.constants:
            return {self.constants[expr.id]}
        function = _enclosing_function(module, at)
        if isinstance(expr, ast.Name) and function is not None and expr.id in _parameters(function):
            return self._passed(module, function, expr.id)
        where = function.name if function is not None else "<module>"
        self.found.unresolved.add((module.path, where, ast.unparse(expr)))
        return set()

    def _joined(self, module: Module, expr: ast.JoinedStr, at: ast.AST) -> set[str]:
        """f"{what}_cancelled": each value of `what` with the rest."""
        parts = []
        for part in expr.values:
            plain = isinstance(part, ast.FormattedValue) and part.conversion == -1 and part.format_spec is None
            parts.append(self._values(module, part.value if plain else part, at))
        return {"".join(combination) for combination in itertools.product(*parts)}

    def _passed(self, module: Module, function: ast.FunctionDef, parameter: str) -> set[str]:
        """The values the function's callers (in its own module) pass as
        `parameter`: a helper such as _event(ts, kind, ...) is private."""
        position = _parameters(function).index(parameter)
        method = bool(function.args.args) and function.args.args[0].arg in ("self", "cls")
        values: set[str] = set()
        for call in _calls(module.tree, function.name):
            shift = 1 if method and isinstance(call.func, ast.Attribute) else 0
            argument = _keyword(call, parameter)
            if argument is None and position - shift < len(call.args):
                argument = call.args[position - shift]
            if argument is not None:
                values |= self._values(module, argument, call)
        return values


def _calls(tree: ast.Module, name: str) -> list[ast.Call]:
    """Calls of `name` (a function, or a method on anything)."""
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Name) and node.func.id == name)
            or (isinstance(node.func, ast.Attribute) and node.func.attr == name)
        )
        # threading.Event() takes no arguments; the bot's Event takes at least ts, kind and message.
        and (name != "Event" or isinstance(node.func, ast.Name))
    ]


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _dict_value(expr: ast.expr | None, key: str) -> ast.expr | None:
    if not isinstance(expr, ast.Dict):
        return None
    for k, v in zip(expr.keys, expr.values, strict=True):
        if isinstance(k, ast.Constant) and k.value == key:
            return v
    return None


def _parameters(function: ast.FunctionDef) -> list[str]:
    return [a.arg for a in function.args.posonlyargs + function.args.args + function.args.kwonlyargs]


def _enclosing_function(module: Module, node: ast.AST) -> ast.FunctionDef | None:
    while node in module.parents:
        node = module.parents[node]
        if isinstance(node, ast.FunctionDef):
            return node
    return None
