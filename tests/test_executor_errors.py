"""A task that fails raises its own exception in the caller, on either
executor: Ray wrapped it with the worker's whole traceback, so a sweep
cell's one-line config error came out as thousands of characters."""

from __future__ import annotations

import json

import pytest

from bot.backtest.executor import run_tasks


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_a_tasks_exception_comes_back_as_itself(executor: str) -> None:
    payloads = {"good": "[1]", "bad": "{not json"}
    done: list[str] = []
    with pytest.raises(json.JSONDecodeError) as raised:
        run_tasks(json.loads, payloads, 2, lambda name, result: done.append(name), executor=executor)
    assert type(raised.value) is json.JSONDecodeError
    assert "Traceback" not in str(raised.value) and len(str(raised.value)) < 200, str(raised.value)
    # The worker's traceback is kept under it, for the log the CLI points to.
    assert 'File "' in str(raised.value.__cause__) and "json" in str(raised.value.__cause__)
