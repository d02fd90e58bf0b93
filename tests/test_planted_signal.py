"""The default configuration on markets whose truth is known, through the
daemon's own walk-forward replay:

- hidden two-state drift: the default model's out-of-sample accuracy on its
  own target is within one percentage point of the Bayes-optimal accuracy,
  the accuracy of the forward filter run with the true parameters, on the
  very same bars;
- a random walk: the default strategy (almost) never trades, at most one
  round trip per 500 bars, and loses no more than those trips cost.

Only the data and the state directory differ from config.yaml.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import REPO, replay, rows
from planted import HiddenDrift, bayes_prob_up, filtered_up_state, simulate

from bot.report.metrics import round_trips

TRADED_BARS = 5_000


def default_config(directory: Path, data: Path, model: dict | None = None) -> Path:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["model"].update(model or {})
    config["replay"] = {"data": str(data), "start": None, "end": None}
    config["strategy"]["path"] = str(REPO / "strategies")
    config["storage"] = {"db_url": f"sqlite:///{directory / 'bot.sqlite'}", "models_dir": str(directory / "models")}
    config["logging"] = {"level": "WARNING", "file": str(directory / "bot.jsonl")}
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run_default_on(market, directory: Path, model: dict | None = None) -> tuple[Path, dict]:
    data = market.write_csv(directory / "market.csv.gz")
    path = default_config(directory, data, model)
    replay(path)
    return directory / "bot.sqlite", yaml.safe_load(path.read_text())


def horizon_labels(close: np.ndarray, h: int) -> np.ndarray:
    label = np.full(len(close), np.nan)
    label[:-h] = close[h:] > close[:-h]
    return label


# (drift a bar, chance of keeping its sign each bar, seed) under 0.6% of
# noise a bar: a strong drift that flips every 200 bars on average, and a
# weak one, 0.1% a bar, that a 48-bar window alone could not tell from
# noise (its evidence builds up over days: the ret_96 feature).
HIDDEN_DRIFTS = {"strong": (0.002, 0.995, 11), "weak_and_slow": (0.001, 0.995, 34)}


def gaps_on_hidden_drift(
    directory: Path, model: dict | None = None, market: tuple[float, float, int] = HIDDEN_DRIFTS["strong"]
) -> tuple[float, float, float, float]:
    """(realized, realized ceiling, expected, expected ceiling) of the
    model's calls on a hidden two-state drift. Two accuracies are compared on
    the same out-of-sample bars: as realized against the labels, and as
    expected under the true posterior (each call counted with the
    probability that it is right), which has none of the labels' noise;
    the ceiling is the Bayes-optimal call's, measured both ways."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["model"].update(model or {})
    model_cfg = config["model"]
    assert model_cfg["target"] == "horizon" and model_cfg.get("head", "classification") == "classification", \
        "the ceiling below is computed for the horizon target's sign"
    h = model_cfg["horizon_bars"]
    drift, stay, seed = market
    params = HiddenDrift(drift=drift, sigma=0.006, stay=stay)
    series = simulate(params, config["retrain"]["initial_train_bars"] + TRADED_BARS, seed=seed)
    db, _ = run_default_on(series, directory, model)

    scored = rows(db, "SELECT ts, prob_up, outcome FROM predictions WHERE outcome IS NOT NULL ORDER BY ts")
    index = np.searchsorted(series.ts, [ts for ts, _, _ in scored])
    call = np.array([p for _, p, _ in scored]) > 0.5
    outcome = np.array([o for _, _, o in scored], dtype=float) == 1
    np.testing.assert_array_equal(outcome, horizon_labels(series.close, h)[index] == 1)  # the target asked for
    bayes = bayes_prob_up(params, filtered_up_state(params, series.close), h)[index]
    assert len(call) > 0.9 * TRADED_BARS
    realized, realized_ceiling = np.mean(call == outcome), np.mean((bayes > 0.5) == outcome)
    expected, expected_ceiling = np.mean(np.where(call, bayes, 1 - bayes)), np.mean(np.maximum(bayes, 1 - bayes))
    print(f"accuracy realized {realized:.4f} (Bayes {realized_ceiling:.4f}), expected {expected:.4f} "
          f"(ceiling {expected_ceiling:.4f}), {len(call)} predictions")
    assert expected_ceiling > 0.65  # a signal worth learning, not noise
    return realized, realized_ceiling, expected, expected_ceiling


@pytest.mark.slow
@pytest.mark.parametrize("market", list(HIDDEN_DRIFTS.values()), ids=list(HIDDEN_DRIFTS))
def test_default_model_reaches_the_bayes_optimal_accuracy_on_a_hidden_drift(tmp_path: Path, market) -> None:
    """Trained with its market's mirror image, and its calls read without
    the base rate that the edge's calibration may carry, the default model
    has no training-year drift to lean on: its calls come within a point of
    the Bayes-optimal ones, expected and realized (docs/research-log.md:
    the lean was most of the distance; on the weak drift, so was the
    window's reach)."""
    realized, realized_ceiling, expected, expected_ceiling = gaps_on_hidden_drift(tmp_path, market=market)
    assert expected_ceiling - expected <= 0.01
    assert realized_ceiling - realized <= 0.01


@pytest.mark.slow
def test_default_strategy_stays_out_of_a_random_walk(tmp_path: Path) -> None:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    market = simulate(HiddenDrift(drift=0.0, sigma=0.006, stay=0.99), config["retrain"]["initial_train_bars"]
                      + TRADED_BARS, seed=5)
    db, cfg = run_default_on(market, tmp_path)
    import pandas as pd

    fills = pd.DataFrame(rows(db, "SELECT id, ts, symbol, side, qty, price, fee, realized_pnl FROM fills"),
                         columns=["id", "ts", "symbol", "side", "qty", "price", "fee", "realized_pnl"])
    predictions = rows(db, "SELECT COUNT(*) FROM predictions")[0][0]
    trips = round_trips(fills) if len(fills) else []
    print(f"{len(trips)} round trips over {predictions} predicted bars")
    assert predictions > 0.9 * TRADED_BARS
    assert len(trips) <= predictions / 500
    final = rows(db, "SELECT equity FROM equity ORDER BY ts DESC LIMIT 1")[0][0]
    paper = cfg["paper"]
    cost = 2 * (paper["fee_bps"] + paper["slippage_bps"]) / 10_000
    traded = float((fills.qty * fills.price).sum()) / 2 if len(fills) else 0.0  # per side
    assert paper["initial_cash"] - final <= traded * cost + 1e-6
