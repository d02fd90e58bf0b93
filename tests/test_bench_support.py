"""`make bench` is not part of CI, so this keeps its bar-step harness from
rotting: the engine it builds must step bars and score them."""

from __future__ import annotations

import sys
from pathlib import Path

from helpers import REPO


def test_bench_engine_steps_and_predicts(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "bench"))
    try:
        from support import engine_without_database
    finally:
        sys.path.remove(str(REPO / "bench"))
    engine, bars = engine_without_database(REPO, tmp_path)
    predicted = 0
    for bar in bars[:50]:
        engine.clock.advance_to(bar.ts + 3_600_000)
        predicted += len(engine.step([bar]).predictions)
    assert predicted == 50
