"""The model lifecycle inside the daemon: retraining on a worker while bars
keep flowing, the promotion gate keeping a champion, live scoring, and
`bot train` / `bot models` / `bot models promote` as a user runs them."""

from __future__ import annotations

import io
import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from fake_exchange import KLINES, FakeExchange
from helpers import replay, rows, write_config
from rich.console import Console
from test_config_errors import run_bot
from test_live_daemon import SECOND, WallClockFeed, stop_when

from bot.app.daemon import run_live
from bot.app.runtime import build_runtime
from bot.clock import SystemClock
from bot.config import load_config
from bot.logging_setup import configure_logging

SLEEP_SECONDS = 3.0


def test_a_slow_retrain_never_delays_the_bar_job(tmp_path: Path) -> None:
    config = write_config(tmp_path, {
        "mode": "live", "timeframe": "1s", "schedule": {"bar_delay_seconds": 0.05},
        "retrain": {"initial_train_bars": 250, "train_window_bars": 250},
    })
    cfg = load_config(config)
    configure_logging("INFO", cfg.path(cfg.logging.file), console_level="ERROR")
    feed = WallClockFeed(history_bars=300)
    rt = build_runtime(cfg, clock=SystemClock(), feed=feed)
    real_train = rt.retrainer._train
    trained_at: list[float] = []

    def slow_train(*args):
        time.sleep(SLEEP_SECONDS)  # a retrain that takes seconds
        candidate = real_train(*args)
        trained_at.append(time.time() * 1000)
        return candidate

    rt.retrainer._train = slow_train
    db = tmp_path / "bot.sqlite"
    # Stopped by what happened (the model trained, then scored two bars),
    # not after a fixed time a loaded machine may need for the training.
    finished = threading.Event()
    scored = lambda: trained_at and rows(db, "SELECT COUNT(*) FROM predictions")[0][0] >= 2  # noqa: E731
    watcher = threading.Thread(target=stop_when, args=(scored, finished))
    watcher.start()
    try:
        run_live(rt, stop_after_seconds=300)  # the limit only catches a hang
    finally:
        finished.set()
        watcher.join()
    rt.store.close()

    assert trained_at, "the retrain never finished"
    during = [t for t in feed.calls[1:] if t < trained_at[0]]
    assert len(during) >= SLEEP_SECONDS - 1  # the bar job kept firing while the model was fit
    # Each just after its bar closed: most within 0.4 s, none held for the
    # retrain's seconds (a loaded machine may make one firing late, not 3 s late).
    offsets = sorted(t % SECOND for t in during)
    assert offsets[len(offsets) // 2] < 400 and all(b - a < 2 * SECOND for a, b in zip(during, during[1:]))
    bars_during = rows(db, f"SELECT COUNT(*) FROM bars WHERE ts >= {feed.calls[0]} AND ts < {trained_at[0] - SECOND}")
    assert bars_during[0][0] >= SLEEP_SECONDS - 1
    # The swap is atomic: no prediction before the champion existed, then
    # every bar scored by it.
    predicted = rows(db, "SELECT ts, model_version FROM predictions ORDER BY ts")
    assert predicted and {v for _, v in predicted} == {"v0001-" + predicted[0][1][6:]}
    first_scored = predicted[0][0]
    assert first_scored + SECOND >= trained_at[0] - 1_000
    later_bars = [ts for (ts,) in rows(db, f"SELECT ts FROM bars WHERE ts >= {first_scored} ORDER BY ts")]
    assert [ts for ts, _ in predicted] == later_bars


def test_a_worse_challenger_is_rejected_and_the_champion_kept(tmp_path: Path) -> None:
    """A margin no retrain can clear: every challenger loses to the first
    champion, whose ranking model goes on trading, recalibrated at each
    retrain on the newest windows."""
    told = Console(file=io.StringIO(), width=1000)
    replay(write_config(tmp_path, {"retrain": {"promotion": {"metric": "auc", "margin": 0.5}}}), console=told)
    db = tmp_path / "bot.sqlite"
    versions = rows(db, "SELECT version, status, metrics_json, path FROM model_versions ORDER BY version")
    first = versions[0][0]
    challengers = [v for v in versions[1:] if "gate_promote" in json.loads(v[2])]
    refreshed = [v for v in versions[1:] if "recalibrated_from" in json.loads(v[2])]
    assert len(challengers) >= 2 and len(challengers) == len(refreshed)
    assert len(versions) == 1 + len(challengers) + len(refreshed)
    assert all(status == "rejected" for _, status, _, _ in challengers)
    for _, _, metrics, _ in challengers:
        m = json.loads(metrics)
        assert m["gate_promote"] is False and m["gate_metric"] == "auc" and m["gate_windows"] > 0
    assert [s for _, s, _, _ in refreshed] == ["retired"] * (len(refreshed) - 1) + ["champion"]
    import torch

    models = tmp_path / "models"  # paths are stored relative to the models directory
    weights = torch.load(models / versions[0][3] / "weights.pt", weights_only=True)
    for _, _, metrics, path in refreshed:
        assert json.loads(metrics)["ranking_version"] == first
        same = torch.load(models / path / "weights.pt", weights_only=True)
        assert all(torch.equal(weights[k], same[k]) for k in weights)  # the same ranking model
    traded = {v for (v,) in rows(db, "SELECT DISTINCT model_version FROM predictions")}
    recalibrated = {v for v, _, _, _ in refreshed}
    assert first in traded and traded <= {first} | recalibrated
    assert len(recalibrated - traded) <= 1  # the newest may come at the last bar
    assert rows(db, "SELECT COUNT(*) FROM events WHERE kind = 'model_rejected'")[0][0] == len(challengers)
    assert rows(db, "SELECT COUNT(*) FROM events WHERE kind = 'model_recalibrated'")[0][0] == len(refreshed)
    # The console says what each retrain ended in, not that a recalibration was trained.
    lines = [line for line in told.file.getvalue().splitlines() if line.startswith("model ")]
    assert lines[0] == f"model {first} trained, now the champion"
    previous = first
    for line, (challenger, *_), (refresh, *_) in zip(lines[1:], challengers, refreshed, strict=True):
        assert line.startswith(f"model {challenger} rejected (auc ")
        assert line.endswith(f"; {refresh}, {previous} recalibrated, is the champion")
        previous = refresh


def test_predictions_are_scored_once_their_bar_closes(tiny_run: Path) -> None:
    db = tiny_run / "bot.sqlite"
    scored = rows(db, "SELECT p.ts, p.outcome, b.close FROM predictions p JOIN bars b "
                      "ON b.ts = p.ts ORDER BY p.ts")
    closes = dict(rows(db, "SELECT ts, close FROM bars"))
    order = sorted(closes)
    following = dict(zip(order, order[1:]))
    for ts, outcome, close in scored[:-1]:
        assert outcome == int(closes[following[ts]] > close)
    assert scored[-1][1] is None  # the newest bar has not closed yet
    champion = rows(db, "SELECT version, live_n, live_accuracy, live_auc FROM model_versions WHERE live_n > 0")
    assert champion, "no version has live metrics"
    for version, n, accuracy, _auc in champion:
        # Metrics are refreshed every 24 scores over the newest 500 scored then.
        scored_rows = rows(db, f"SELECT prob_up, outcome FROM predictions WHERE model_version = '{version}' "
                               "AND outcome IS NOT NULL ORDER BY ts")
        refreshed_at = len(scored_rows) // 24 * 24
        window = scored_rows[max(0, refreshed_at - 500):refreshed_at]
        assert len(window) == n
        assert abs(accuracy - sum((p > 0.5) == (o == 1) for p, o in window) / n) < 1e-12


def test_bot_models_lists_and_promote_rolls_back(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    replay(config)
    listing = run_bot("models", "-c", str(config))
    assert listing.returncode == 0, listing.stderr
    versions = rows(tmp_path / "bot.sqlite", "SELECT version, status FROM model_versions ORDER BY created_ts")
    for version, _status in versions:
        assert version in listing.stdout
    champion = next(v for v, s in versions if s == "champion")
    older = next(v for v, s in versions if v != champion)
    rollback = run_bot("models", "promote", older, "-c", str(config))
    assert rollback.returncode == 0, rollback.stderr
    statuses = dict(rows(tmp_path / "bot.sqlite", "SELECT version, status FROM model_versions"))
    assert statuses[older] == "champion" and statuses[champion] == "retired"
    assert list(statuses.values()).count("champion") == 1
    # -c before the subcommand names the run too (it was ignored, and the
    # champion of the working directory's config.yaml changed instead).
    back = run_bot("models", "-c", str(config), "promote", champion)
    assert back.returncode == 0, back.stderr
    assert dict(rows(tmp_path / "bot.sqlite", "SELECT version, status FROM model_versions"))[champion] == "champion"
    # A version the gate turned down may still be promoted by hand, with a warning.
    with sqlite3.connect(tmp_path / "bot.sqlite") as conn:
        conn.execute("UPDATE model_versions SET status = 'rejected' WHERE version = ?", (older,))
    overridden = run_bot("models", "promote", older, "-c", str(config))
    assert overridden.returncode == 0, overridden.stderr
    assert f"warning: the promotion gate had rejected {older}" in overridden.stderr
    (level, message, data), = rows(tmp_path / "bot.sqlite", "SELECT level, message, data_json FROM events "
                                   "WHERE kind = 'model_promoted' ORDER BY id DESC LIMIT 1")
    assert level == "warning" and message.endswith(", over the promotion gate's rejection")
    assert json.loads(data)["gate_rejected"] is True
    (tmp_path / "models" / older / "config.json").unlink()  # its files damaged since
    broken = run_bot("models", "promote", older, "-c", str(config))
    assert broken.returncode == 1 and broken.stderr.startswith(f"error: {older} cannot be loaded: "), broken.stderr
    unknown = run_bot("models", "promote", "v9999", "-c", str(config))
    assert unknown.returncode == 1 and unknown.stderr.startswith("error: no model version v9999")
    huge = run_bot("models", "promote", "v" + "9" * 100_000, "-c", str(config))
    assert huge.returncode == 1 and "(99,921 more characters)" in huge.stderr and len(huge.stderr) < 300
    # The champion promoted again: said, and no event of a promotion that did nothing.
    assert run_bot("models", "promote", champion, "-c", str(config)).returncode == 0  # one whose files are whole
    now = champion
    events = rows(tmp_path / "bot.sqlite", "SELECT COUNT(*) FROM events WHERE kind = 'model_promoted'")
    again = run_bot("models", "promote", now, "-c", str(config))
    assert again.returncode == 0 and f"{now} is already the champion" in again.stderr, again.stderr
    assert rows(tmp_path / "bot.sqlite", "SELECT COUNT(*) FROM events WHERE kind = 'model_promoted'") == events
    # A models directory of another run is refused, as `bot run` refuses it, before anything changes.
    marker = tmp_path / "models" / "RUN_ID"
    marker.write_text("0123456789abcdef\n")
    other = run_bot("models", "promote", champion, "-c", str(config))
    assert other.returncode == 2 and "storage.models_dir" in other.stderr, other.stderr
    assert rows(tmp_path / "bot.sqlite", "SELECT version FROM model_versions WHERE status = 'champion'") == [(now,)]
    # A figure stored as something other than a number is shown as "?": it failed the whole listing.
    with sqlite3.connect(tmp_path / "bot.sqlite") as conn:
        conn.execute("UPDATE model_versions SET metrics_json = ? WHERE version = ?",
                     ('{"val_auc": "abc", "gate_champion": [1], "gate_challenger": null, "gate_metric": 3}', older))
    listing = run_bot("models", "-c", str(config))
    assert listing.returncode == 0 and "?" in listing.stdout, listing.stderr


def test_bot_train_observes_history_then_trains_once(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = run_bot("train", "-c", str(config), "--no-progress")
    assert result.returncode == 0, result.stderr
    db = tmp_path / "bot.sqlite"
    assert rows(db, "SELECT COUNT(*) FROM bars")[0][0] == 800  # retrain.initial_train_bars
    assert rows(db, "SELECT version, status FROM model_versions")[0][1] == "champion"
    assert rows(db, "SELECT COUNT(*) FROM model_versions")[0][0] == 1
    assert rows(db, "SELECT COUNT(*) FROM predictions")[0][0] == 0  # nothing traded on the way


def test_bot_train_live_with_candles_refused_names_the_fetch_failure(tmp_path: Path) -> None:
    """It said "too little history to train" and nothing of the exchange."""
    with FakeExchange() as fake:
        fake.add_generated_market("SEC/USDT", "1m")
        fake.fail_next(KLINES, status=503, times=1_000)
        config = write_config(tmp_path, {
            "mode": "live", "symbols": ["SEC/USDT"], "timeframe": "1m",
            "exchange": {"name": "binance", "urls": fake.ccxt_urls(), "options": fake.ccxt_options(),
                         "timeout_ms": 2_000},
            "market": {"retries": 1, "backoff_seconds": 0.01, "backoff_max_seconds": 0.02},
        })
        result = run_bot("train", "-c", str(config))
    assert result.returncode == 1, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: too little history to train (0 bars of the 800 a first model needs); "
                           "fetching failed: "), line


@pytest.mark.parametrize("kind", ["logistic", "random_forest", "lstm"])
def test_a_training_window_of_one_label_skips_the_retrain_and_the_run_goes_on(tmp_path: Path, kind: str) -> None:
    """Flat prices (a pegged pair, a halted or forward-filled feed) make
    every label the same: logistic regression and the random forest raised
    at the first retrain, and every restart crashed there again."""
    import pandas as pd
    from helpers import BUNDLED_BTC

    flat = pd.read_csv(BUNDLED_BTC)
    flat = flat[flat.timestamp >= 1_672_531_200_000].head(1_200)  # 2023-01-01 on
    flat[["open", "high", "low", "close"]] = 100.0
    data = tmp_path / "BTC_USDT-1h.csv"
    flat.to_csv(data, index=False)
    config = write_config(tmp_path, {"model": {"kind": kind, "epochs": 1},
                                     "replay": {"data": str(data), "start": None, "end": None}})
    done = run_bot("run", "-c", str(config), "--no-progress")
    assert done.returncode == 0, done.stderr
    skipped = rows(tmp_path / "bot.sqlite", "SELECT message FROM events WHERE kind = 'retrain_skipped'")
    assert skipped and all("every training window's label is" in m for (m,) in skipped), skipped
    assert len(skipped) <= 3  # tried again when next due, not at each of 401 bars (a training set each time)
    assert rows(tmp_path / "bot.sqlite", "SELECT COUNT(*) FROM model_versions") == [(0,)]
    if kind == "logistic":  # `bot train` says why, not "too little history to train"
        said = run_bot("train", "-c", str(config), "--no-progress")
        assert said.returncode == 1 and "not trained: every training window's label is" in said.stderr, said.stderr
