"""Figures as JSON allows them. JSON has no NaN or infinity (Python writes
them as bare NaN and Infinity, which JSON.parse and jq reject): they are
written as null, in the API, the HTML report's payload and every --json
output, so all of them agree."""

from __future__ import annotations

import json
import math
from typing import Any


def clean(value: Any) -> Any:
    """`value` with every non-finite float, however deep, made None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def dumps(value: Any, **options: Any) -> str:
    """Valid JSON of `value`: non-finite figures as null."""
    return json.dumps(clean(value), allow_nan=False, **options)


def stored_object(text: str) -> dict | None:
    """A stored JSON object (metrics, event data); None when the text is
    damaged (not JSON, or JSON but not an object), so a reader can show the
    row as damaged instead of failing on it."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
