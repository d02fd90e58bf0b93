"""The summary and the dashboard read each of a run's tables once, from
the same rows, and a run that never predicted ends without reading its
bars: on the tiny replay shared by the report tests."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.config import load_config
from bot.report.summary import build_summary
from bot.store import Store
from bot.web.dashboard_data import dashboard_payload


class CountingStore(Store):
    """A real store that counts how often each whole table is read."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.reads: dict[str, int] = {}

    def _frame(self, table, order_by):
        self.reads[table.name] = self.reads.get(table.name, 0) + 1
        return super()._frame(table, order_by)


def test_the_dashboard_reads_each_table_once_and_agrees_with_the_summary(tiny_run: Path, tmp_path: Path) -> None:
    cfg = load_config(tiny_run / "config.yaml")
    store = CountingStore(f"sqlite:///{tiny_run / 'bot.sqlite'}")
    try:
        payload = dashboard_payload(store, cfg, now_ms=0)
        # events: the retrain timeline (the newest events are a bounded query)
        assert store.reads == {"equity": 1, "fills": 1, "predictions": 1, "bars": 1, "orders": 1, "events": 1}
        assert payload["summary"] == build_summary(store, cfg)
    finally:
        store.close()


def test_a_run_that_never_predicted_is_summed_up_without_reading_its_bars(tiny_run: Path, tmp_path: Path) -> None:
    db = tmp_path / "bot.sqlite"
    shutil.copy(tiny_run / "bot.sqlite", db)
    store = CountingStore(f"sqlite:///{db}")
    try:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM predictions")
        summary = build_summary(store, load_config(tiny_run / "config.yaml"))
        assert summary["predictions"] == 0 and summary["bars"] > 0 and summary["buy_and_hold_return"] is None
        assert "bars" not in store.reads
    finally:
        store.close()
