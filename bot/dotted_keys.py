"""A nested mapping as its leaves by dotted name: {"a": {"b": 1}} is
{"a.b": 1}. A value that is no mapping is the one leaf "" (at the top) or
its own name; an empty mapping has no leaf."""

from __future__ import annotations

from typing import Any


def dotted(value: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(value, dict):
        return {prefix: value}
    leaves: dict[str, Any] = {}
    for key, inner in value.items():
        leaves.update(dotted(inner, f"{prefix}.{key}" if prefix else str(key)))
    return leaves
