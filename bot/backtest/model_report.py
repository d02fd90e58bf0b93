"""Model quality of each backtest variant, beyond accuracy:

- ic, rank_ic: does the expected edge order the realized returns of the
  target (Pearson and Spearman, over every prediction whose outcome is known);
- accuracy_decile / _quintile, hit_rate_decile / _quintile: the most
  confident tenth and fifth of the calls (largest |P - 0.5|): how often the
  label was right, and how often the realized return had the call's sign;
- calibration: per model version, mean predicted probability against the
  observed rate, Brier score and expected calibration error; `ece_median`
  sums it up across versions;
- timing_p_value: is the strategy's entry timing better than random entries
  with the same number of trades and holding times (bootstrap, one-sided);
- dsr: the deflated Sharpe ratio, the probability that the true Sharpe is
  above the best one expected from `n_trials` variants of pure noise.

Buy-and-hold and flat have no predictions and get none of these.
"""

from __future__ import annotations

import numpy as np

from bot.backtest.result import BacktestResult, VariantRun
from bot.report.metrics import simple_returns
from bot.report.model_quality import (
    calibration_by_version,
    confident_buckets,
    deflated_sharpe_ratio,
    holding_periods,
    information_coefficients,
    random_entry_test,
)

RANDOM_ENTRY_DRAWS = 2000


def add_model_quality(result: BacktestResult, bar_ms: int, n_trials: int | None = None, seed: int = 0) -> int:
    """Adds the metrics above to every model variant; returns the number of
    trials the deflated Sharpe ratio was computed for."""
    models, seen = {}, set()
    for name, run in result.variants().items():
        if len(run.predictions) and id(run) not in seen:  # the strategy may be a baseline kind too
            models[name] = run
            seen.add(id(run))
    for run in models.values():
        run.metrics.update(_prediction_quality(run))
        run.metrics.update(_timing(run, result.prices, bar_ms, seed))
    trials = max(n_trials or 0, len(models), 1)
    returns = {name: simple_returns(run.equity) for name, run in models.items()}
    sharpes = np.array([r.mean() / r.std(ddof=1) for r in returns.values() if len(r) > 2 and r.std(ddof=1) > 0])
    for name, run in models.items():
        deflated = deflated_sharpe_ratio(returns[name], sharpes, trials)
        if len(returns[name]) < 3 or returns[name].std(ddof=1) == 0:  # a variant that never traded
            deflated["dsr"] = None
        run.metrics["dsr"] = deflated["dsr"]
        run.metrics["dsr_trials"] = trials
    return trials


def _prediction_quality(run: VariantRun) -> dict:
    p = run.predictions.dropna(subset=["outcome"])
    prob, label = p.prob_up.to_numpy(float), p.outcome.to_numpy(float)
    realized = p.realized_return.to_numpy(float)
    out = dict(information_coefficients(p.expected_edge.to_numpy(float), realized))
    out.pop("n", None)
    buckets = confident_buckets(prob, label, realized)
    out.update({k: v for k, v in buckets.items() if not k.startswith("n_")})
    calibration = calibration_by_version(p[["model_version", "prob_up", "outcome"]])
    eces = [c["ece"] for c in calibration if c["ece"] is not None]
    out["calibration"] = calibration
    out["ece_median"] = float(np.median(eces)) if eces else None
    return out


def _timing(run: VariantRun, prices, bar_ms: int, seed: int) -> dict:
    index_ts = prices.ts.to_numpy(np.int64)
    if len(index_ts) < 2:
        return {"timing_p_value": None}
    entries, holds = holding_periods(run.fills, bar_ms, index_ts)
    test = random_entry_test(np.log(prices.close.to_numpy(float)), entries, holds, draws=RANDOM_ENTRY_DRAWS, seed=seed)
    return {
        "timing_p_value": test["p_value"],
        "timing_log_return": test["strategy_log_return"],
        "random_entry_log_return": test["random_mean"],
    }


HIT_RATE_IS_ACCURACY = (
    "Hit rate equals accuracy in every variant here: their label is the sign of the realized "
    "return (the horizon target), so the two count the same calls."
)


def hit_rate_is_accuracy(metrics: list[dict]) -> bool:
    """True when every model variant's top-decile and top-quintile hit rate
    is its accuracy: so it is whenever the label is the realized return's
    sign, and two equal columns should say why rather than look like a bug."""
    pairs = [(m.get(f"accuracy_{b}"), m.get(f"hit_rate_{b}")) for m in metrics for b in ("decile", "quintile")]
    known = [(a, h) for a, h in pairs if a is not None and h is not None]
    return bool(known) and all(abs(a - h) < 1e-12 for a, h in known)
