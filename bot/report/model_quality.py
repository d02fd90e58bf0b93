"""Is the model any good, beyond accuracy: does its edge rank the returns,
are its most confident calls right, are its probabilities calibrated, is the
strategy's timing better than chance, and does its Sharpe survive the number
of variants tried?

Pure functions of arrays and frames; each states its formula. Conventions
follow bot.report.metrics: per-bar (not annualised) figures, risk-free rate
0, and an undefined metric is None, never NaN.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from bot.report.metrics import round_trips

EULER_GAMMA = 0.5772156649015329  # Euler-Mascheroni constant
_SHARE_NAMES = {0.1: "decile", 0.2: "quintile", 0.25: "quartile", 0.5: "half"}
_TIE_EPS = 1e-12  # relative: a random sum equal to the strategy's up to float residue counts as >=
_DRAW_BLOCK = 1_000_000  # draws x trades values per block, to bound memory


def _finite(value: float | None) -> float | None:
    """A plain float, or None where the value is missing, NaN or infinite."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _flat(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=float).ravel()


def _same_length(*arrays: np.ndarray) -> None:
    lengths = {len(a) for a in arrays}
    if len(lengths) > 1:
        raise ValueError(f"length mismatch: {sorted(lengths)}")


# -- information coefficient ---------------------------------------------------


def _pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    """sum((x - mean x)(y - mean y)) / sqrt(sum((x - mean x)^2) * sum((y - mean y)^2))"""
    dx, dy = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float(np.sum(dx**2)) * float(np.sum(dy**2)))
    if denominator == 0.0:
        return None
    # Rounding can push |r| a hair past 1 for (anti)collinear data.
    return _finite(min(1.0, max(-1.0, float(np.sum(dx * dy)) / denominator)))


def information_coefficients(edge: np.ndarray, realized: np.ndarray) -> dict:
    """How well the model's edge orders the realized returns:

        ic      = Pearson correlation of (edge, realized)
        rank_ic = Spearman correlation = Pearson correlation of their ranks
                  (ties get their average rank)
        n       = rows used

    Rows where either value is NaN are dropped. ic and rank_ic are None with
    fewer than 3 rows or when either side is constant."""
    x, y = _flat(edge), _flat(realized)
    _same_length(x, y)
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    report: dict[str, float | int | None] = {"ic": None, "rank_ic": None, "n": int(len(x))}
    if len(x) < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return report
    report["ic"] = _pearson(x, y)
    report["rank_ic"] = _pearson(stats.rankdata(x), stats.rankdata(y))
    return report


# -- the most confident calls --------------------------------------------------


def _share_name(share: float) -> str:
    return _SHARE_NAMES.get(share, f"top{share * 100:g}pct")


def _top_count(share: float, n: int) -> int:
    """ceil(share * n); the product is rounded first so that float residue
    (0.07 * 100 = 7.000000000000001) does not add a row."""
    return min(n, math.ceil(round(share * n, 9)))


def _bucket(call: np.ndarray, label: np.ndarray, realized: np.ndarray) -> dict:
    """Accuracy, hit rate and mean signed return of the calls (+1 long, -1 short)."""
    if len(call) == 0:
        return {"accuracy": None, "hit_rate": None, "mean_realized": None, "n": 0}
    signed = call * realized
    known = ~np.isnan(signed)
    return {
        "accuracy": float(np.mean((call > 0) == (label == 1))),
        "hit_rate": float(np.mean(signed[known] > 0)) if known.any() else None,
        "mean_realized": _finite(np.mean(signed[known])) if known.any() else None,
        "n": int(len(call)),
    }


def confident_buckets(
    prob: np.ndarray, label: np.ndarray, realized: np.ndarray, shares: tuple[float, ...] = (0.1, 0.2)
) -> dict:
    """Quality of the model's most confident calls.

    Confidence is |prob - 0.5|. For each share s the bucket is the ceil(s * n)
    most confident rows (ties in the order of a stable argsort of
    -confidence, i.e. earlier rows first). The call is long (+1) where
    prob >= 0.5 and short (-1) where prob < 0.5. Per bucket, with suffix
    `decile` for 0.1, `quintile` for 0.2 (`quartile` 0.25, `half` 0.5, else
    `top<pct>pct`):

        accuracy_<suffix>      share of rows where call == +1 iff label == 1
        hit_rate_<suffix>      share of rows where call * realized > 0
                               (a realized return of exactly 0 is a miss)
        mean_realized_<suffix> mean(call * realized): the average return of
                               following the call
        n_<suffix>             rows in the bucket

    Rows where prob or label is NaN are dropped first; realized may be NaN,
    and hit rate and mean realized are over the bucket's rows where it is
    known (None if there are none). Without rows every value is None, n 0."""
    p, y, r = _flat(prob), _flat(label), _flat(realized)
    _same_length(p, y, r)
    keep = ~(np.isnan(p) | np.isnan(y))
    p, y, r = p[keep], y[keep], r[keep]
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("label must be 0, 1 or NaN")
    order = np.argsort(-np.abs(p - 0.5), kind="stable")
    call = np.where(p >= 0.5, 1.0, -1.0)
    report: dict = {}
    for share in shares:
        if not 0.0 < share <= 1.0:
            raise ValueError(f"share must be in (0, 1], got {share}")
        top = order[: _top_count(share, len(p))]
        suffix = _share_name(share)
        for key, value in _bucket(call[top], y[top], r[top]).items():
            report[f"{key}_{suffix}"] = value
    return report


# -- calibration ---------------------------------------------------------------


def _expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int) -> float:
    """sum over non-empty bins b of (n_b / n) * |mean(p in b) - mean(y in b)|,
    bins [k/bins, (k+1)/bins) for k < bins - 1 and the last one closed, so
    a probability of 1.0 lands in it."""
    # k / bins is the nearest float to the true edge, as a literal like 0.3 is,
    # so 0.3 lands in bin 3; np.linspace would put it in bin 2.
    edges = np.arange(bins + 1) / bins
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    prob_sum = np.bincount(which, weights=p, minlength=bins)
    outcome_sum = np.bincount(which, weights=y, minlength=bins)
    full = count > 0
    gap = np.abs(prob_sum[full] - outcome_sum[full]) / count[full]
    return float(np.sum(count[full] / len(p) * gap))


def calibration_by_version(frame: pd.DataFrame, bins: int = 10) -> list[dict]:
    """Calibration of `prob_up` against `outcome` per `model_version`, one
    dict per version in the order the versions first appear in `frame`:

        n              scored rows (outcome and prob_up not NaN)
        mean_prob      mean(prob_up)
        observed_rate  mean(outcome)
        brier          mean((prob_up - outcome)^2)
        ece            expected calibration error over `bins` equal-width
                       bins on [0, 1] (see _expected_calibration_error)

    Versions without a scored row are left out."""
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    # factorize numbers versions by first appearance in the whole frame,
    # a missing version included, before the unscored rows are dropped.
    codes, versions = pd.factorize(frame["model_version"], use_na_sentinel=False)
    p = frame["prob_up"].to_numpy(dtype=float)
    y = frame["outcome"].to_numpy(dtype=float)
    scored = ~(np.isnan(p) | np.isnan(y))
    if not np.isin(y[scored], (0.0, 1.0)).all():
        raise ValueError("outcome must be 0, 1 or NaN")
    if ((p[scored] < 0.0) | (p[scored] > 1.0)).any():
        raise ValueError("prob_up must lie in [0, 1]")
    rows = []
    for code, version in enumerate(versions):
        mine = scored & (codes == code)
        if not mine.any():
            continue
        pv, yv = p[mine], y[mine]
        rows.append(
            {
                "version": None if pd.isna(version) else version,
                "n": int(mine.sum()),
                "mean_prob": float(pv.mean()),
                "observed_rate": float(yv.mean()),
                "brier": float(np.mean((pv - yv) ** 2)),
                "ece": _expected_calibration_error(pv, yv, bins),
            }
        )
    return rows


# -- timing against random entries ----------------------------------------------


def _random_sums(log_close: np.ndarray, holds: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    """Per draw: sum over trades of log_close[s + k] - log_close[s] with each
    start s uniform on [0, n - 1 - k], independently."""
    n = len(log_close)
    block = max(1, _DRAW_BLOCK // len(holds))
    sums = []
    for first in range(0, draws, block):  # a loop over blocks of draws, not over draws
        size = (min(block, draws - first), len(holds))
        starts = rng.integers(0, n - holds, size=size)  # high is exclusive: s <= n - 1 - k
        sums.append(np.sum(log_close[starts + holds] - log_close[starts], axis=1))
    return np.concatenate(sums)


def random_entry_test(
    log_close: np.ndarray, entries: np.ndarray, holds: np.ndarray, draws: int = 1000, seed: int = 0
) -> dict:
    """One-sided test of the strategy's entry timing against random entries
    with the same number of trades and the same holding times.

    A trade entered at bar i and held k bars earns log_close[min(i + k, n - 1)]
    - log_close[i]; the strategy's score S is the sum over its trades. Each
    draw starts every trade (same k) at an independent uniform bar in
    [0, n - 1 - k] (overlaps allowed) and sums the same way, giving R_1..R_D.
    A hold longer than the period is cut to n - 1 bars for the draws.

        p_value      = (1 + #{d : R_d >= S}) / (D + 1)
        random_mean  = mean(R),  random_std = std(R, ddof=1) (None for D = 1)

    A small p-value says the timing beats chance. Without trades p_value,
    random_mean and random_std are None and strategy_log_return is 0.0."""
    prices = _flat(log_close)
    starts = np.asarray(entries, dtype=np.int64).ravel()
    kept = np.asarray(holds, dtype=np.int64).ravel()
    _same_length(starts, kept)
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    report = {
        "strategy_log_return": 0.0,
        "random_mean": None,
        "random_std": None,
        "p_value": None,
        "draws": int(draws),
        "trades": int(len(starts)),
    }
    if len(starts) == 0:
        return report
    n = len(prices)
    if not np.isfinite(prices).all():
        raise ValueError("log_close must be finite")
    if (starts < 0).any() or (starts >= n).any():
        raise ValueError("entries must be bar indices of log_close")
    if (kept < 1).any():
        raise ValueError("holds must be >= 1")
    strategy = float(np.sum(prices[np.minimum(starts + kept, n - 1)] - prices[starts]))
    sums = _random_sums(prices, np.minimum(kept, n - 1), draws, np.random.default_rng(seed))
    # The sums add the same terms in other orders; float residue must not
    # turn a tie into a loss for the random draw.
    at_least = int(np.sum(sums >= strategy - _TIE_EPS * max(1.0, abs(strategy))))
    report.update(
        strategy_log_return=strategy,
        random_mean=float(sums.mean()),
        random_std=float(sums.std(ddof=1)) if draws > 1 else None,
        p_value=(1 + at_least) / (draws + 1),
    )
    return report


# -- deflated Sharpe ratio -----------------------------------------------------


def _expected_max_sharpe(trial_sharpes: np.ndarray, n_trials: int, n_returns: int) -> float:
    """SR0 = sqrt(V) * ((1 - g) * Phi^-1(1 - 1/N) + g * Phi^-1(1 - 1/(N e))),
    the expected maximum of N Sharpe ratios with variance V whose true value
    is 0 (g the Euler-Mascheroni constant, e Euler's number); 0 for N = 1.
    V is the trial Sharpes' variance (ddof=1). With fewer than 2 of them, or
    all equal, it is the variance a per-bar Sharpe of T returns has by
    chance alone when its true value is 0, 1 / (T - 1): without it, `--trials
    20` on one variant deflated nothing and showed the PSR as the DSR."""
    sharpes = trial_sharpes[~np.isnan(trial_sharpes)]
    if n_trials == 1:
        return 0.0
    spread_seen = len(sharpes) >= 2 and float(np.ptp(sharpes)) > 0.0  # np.var of equal values is not 0.0
    variance = float(np.var(sharpes, ddof=1)) if spread_seen else 0.0
    if not variance > 0.0:
        if n_returns < 2:
            return 0.0
        variance = 1.0 / (n_returns - 1)
    spread = math.sqrt(variance)
    return spread * (
        (1.0 - EULER_GAMMA) * stats.norm.ppf(1.0 - 1.0 / n_trials)
        + EULER_GAMMA * stats.norm.ppf(1.0 - 1.0 / (n_trials * math.e))
    )


def deflated_sharpe_ratio(returns: np.ndarray, trial_sharpes: np.ndarray, n_trials: int) -> dict:
    """Deflated Sharpe ratio (Bailey & Lopez de Prado, 2014): the
    probabilistic Sharpe ratio against SR0, the Sharpe the best of
    `n_trials` worthless variants would show by luck:

        DSR = Phi( (SR - SR0) * sqrt(T - 1) / sqrt(1 - g3 * SR + (g4 - 1) / 4 * SR^2) )

    on the T per-bar simple returns, where SR = mean / std(ddof=1), g3 and g4
    the sample skewness and non-excess (Pearson) kurtosis from population
    moments (scipy.stats skew / kurtosis with bias=True, as in
    metrics.probabilistic_sharpe_ratio), and SR0 from the variance of the
    per-bar `trial_sharpes` (ddof=1, NaN dropped; with too few of them, the
    chance variance of a Sharpe of T returns: see _expected_max_sharpe).
    With n_trials = 1 it is the PSR against 0.

    NaN returns are dropped. dsr and sharpe_per_bar are None with fewer than
    3 returns or zero std; dsr also when the term under the root is not
    positive."""
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    r = _flat(returns)
    r = r[~np.isnan(r)]
    sr0 = _expected_max_sharpe(_flat(trial_sharpes), int(n_trials), len(r))
    report = {"dsr": None, "sharpe_per_bar": None, "sr0_per_bar": _finite(sr0), "n_trials": int(n_trials)}
    if len(r) < 3:
        return report
    std = float(r.std(ddof=1))
    if std == 0.0 or not math.isfinite(std):
        return report
    sr = float(r.mean()) / std
    report["sharpe_per_bar"] = _finite(sr)
    skew = float(stats.skew(r, bias=True))
    kurtosis = float(stats.kurtosis(r, fisher=False, bias=True))
    variance = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr**2
    if not variance > 0.0:  # also catches NaN moments
        return report
    report["dsr"] = _finite(stats.norm.cdf((sr - sr0) * math.sqrt(len(r) - 1) / math.sqrt(variance)))
    return report


# -- holding periods from fills ------------------------------------------------


def holding_periods(fills: pd.DataFrame, bar_ms: int, index_ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(entry indices, holds in bars) of the closed round trips of `fills`
    (metrics.round_trips, in its order: by symbol, then time), ready for
    random_entry_test:

        entry = the bar of index_ts (sorted bar open times) holding entry_ts,
                i.e. searchsorted(index_ts, entry_ts, side="right") - 1,
                which is entry_ts's own position when it is a bar open time
        hold  = max(1, round((exit_ts - entry_ts) / bar_ms))  (halves to even)

    Open trips and trips entered before index_ts[0] are dropped."""
    index = np.asarray(index_ts, dtype=np.int64).ravel()
    trips = round_trips(fills) if len(fills) and len(index) else []
    closed = [t for t in trips if t.exit_ts is not None and t.entry_ts >= index[0]]
    entry_ts = np.array([t.entry_ts for t in closed], dtype=np.int64)
    exit_ts = np.array([t.exit_ts for t in closed], dtype=np.int64)
    entries = np.searchsorted(index, entry_ts, side="right").astype(np.int64) - 1
    holds = np.maximum(1, np.rint((exit_ts - entry_ts) / bar_ms)).astype(np.int64)
    return entries, holds
