"""Training windows, labels and a time-ordered split; causal by construction.

A window ending at row i holds rows i-seq_len+1..i (bars up to i only); its
label is the target's outcome for a prediction made at bar i (see
bot/model/targets.py), which reads rows up to i + h, h the target's
horizon. The newest h rows, whose outcome is unknown, are never window
ends. Validation windows are the newest ones; between the last row any
training window or label reads and the first row of the first validation
window lie seq_len + h embargoed rows, used by neither, so the embargo grows
with the horizon. The scaler sees training rows only.

With `mirror`, each series' mirror image (bot/model/mirror.py) adds its
training windows, split as the series is, after the real ones; validation
stays the real market's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from bot.model.mirror import mirror_series
from bot.model.scaler import Scaler
from bot.model.targets import Target


@dataclass(frozen=True)
class SymbolSeries:
    ts: np.ndarray  # (T,) bar open times
    close: np.ndarray  # (T,)
    vectors: np.ndarray  # (T, features), raw (unscaled)
    # (T, 4) open, high, low, close; only triple-barrier labels need it, and
    # a series without it is read as bars whose every price is the close.
    ohlc: np.ndarray | None = field(default=None)
    # Which market the rows are; per-symbol scaling keys its scalers by it.
    symbol: str | None = None

    def prices(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if self.ohlc is None:
            return self.close, self.close, self.close, self.close
        return self.ohlc[:, 0], self.ohlc[:, 1], self.ohlc[:, 2], self.ohlc[:, 3]


@dataclass(frozen=True)
class TrainingSet:
    x_train: np.ndarray  # (N, seq_len, model features) float32, scaled
    y_train: np.ndarray  # (N,) float32 in {0, 1}: the target's label
    r_train: np.ndarray  # (N,) float32: the target's realized return (simple)
    x_val: np.ndarray
    y_val: np.ndarray
    r_val: np.ndarray
    # The validation windows raw, with every feature: other models (the
    # champion) are scored on exactly these through their own scaler.
    x_val_raw: np.ndarray
    val_label_ts: np.ndarray  # open time of the newest bar each validation label may read
    scaler: Scaler
    columns: list[int]  # which feature columns the model uses
    from_ts: int
    to_ts: int  # the newest bar any window or label used
    target: Target = Target()
    # The first n_real training windows are the market's own; any after
    # them are its mirror image's, which add no independent evidence.
    n_real: int | None = None
    # With per-symbol scaling: each symbol's own scaler (`scaler` stays the
    # pooled one, for symbols the model never saw), and the symbol of every
    # validation window, so a model scoring x_val_raw scales each window
    # as the engine will.
    symbol_scalers: dict[str, Scaler] = field(default_factory=dict)
    val_symbols: np.ndarray | None = None

    @property
    def real_windows(self) -> int:
        """Training windows of the market's own."""
        return self.n_real if self.n_real is not None else len(self.x_train)

    @property
    def mirrored(self) -> bool:
        """Whether mirror-image windows follow the market's own."""
        return self.real_windows < len(self.x_train)


@dataclass(frozen=True)
class _Split:
    n_train: int  # windows
    val_start: int  # first validation window


def _split(n_windows: int, seq_len: int, horizon: int, val_fraction: float) -> _Split | None:
    n_val = int(n_windows * val_fraction)
    # Window k reads rows k..k+seq_len-1 and its label rows up to
    # k+seq_len-1+horizon. Skipping this many windows leaves seq_len +
    # horizon untouched rows between the training and the validation samples.
    embargo = 2 * seq_len + 2 * horizon - 1
    n_train = n_windows - n_val - embargo
    if n_val < 1 or n_train < 1:
        return None
    return _Split(n_train, n_train + embargo)


TRAINING = ("x_train", "y_train", "r_train")  # what a mirror image adds to


def _windows(rows: np.ndarray, seq_len: int, horizon: int, dtype=np.float32) -> np.ndarray:
    """All windows of the rows, except those ending on the last `horizon` rows."""
    views = sliding_window_view(rows, seq_len, axis=0)  # (T-seq_len+1, F, seq_len)
    return np.ascontiguousarray(views[:-horizon].transpose(0, 2, 1), dtype=dtype)


def build_training_set(
    series: list[SymbolSeries],
    seq_len: int,
    val_fraction: float,
    columns: list[int] | None = None,
    target: Target = Target(),
    mirror: bool = False,
    per_symbol: bool = False,
) -> TrainingSet | None:
    """None when there is too little history for a split. With
    `per_symbol`, each series is scaled by a scaler fitted on its own
    training rows (and its mirror image's), so one model pooled across
    markets sees each market's features relative to that market's normal."""
    h = target.lookahead_bars
    usable = []
    for s in series:
        n_windows = len(s.ts) - seq_len + 1 - h
        split = _split(n_windows, seq_len, h, val_fraction) if n_windows > 0 else None
        if split is not None:
            usable.append((s, split))
    if not usable:
        return None
    columns = list(range(usable[0][0].vectors.shape[1])) if columns is None else columns
    images = [(mirror_series(s), sp) for s, sp in usable] if mirror else []
    scaler = _fit_scaler(usable + images, seq_len, columns)
    # One market's own scaler is the pooled one: it keeps the pooled file
    # and code path, so a single-symbol run is the same either way.
    own = _symbol_scalers(usable, images, seq_len, columns) if per_symbol and len(usable) > 1 else {}

    def scaler_of(s: SymbolSeries) -> Scaler:
        return own.get(s.symbol or "", scaler)

    parts = [_windows_and_labels(s, sp, scaler_of(s), seq_len, columns, target) for s, sp in usable]
    image_parts = [
        _windows_and_labels(s, sp, scaler_of(s), seq_len, columns, target, validation=False) for s, sp in images
    ]
    # The real windows, then their mirror images; each array joined once (a
    # join of the real ones, then another with the images, held both).
    n_real = sum(len(p["x_train"]) for p in parts)
    joined = {
        key: np.concatenate([p[key] for p in (parts if key not in TRAINING else parts + image_parts)])
        for key in parts[0]
    }
    return TrainingSet(
        **joined,
        scaler=scaler,
        columns=columns,
        target=target,
        n_real=n_real,
        symbol_scalers=own,
        from_ts=int(min(s.ts[0] for s, _ in usable)),
        to_ts=int(max(s.ts[-1] for s, _ in usable)),
    )


def _fit_scaler(pairs: list[tuple[SymbolSeries, _Split]], seq_len: int, columns: list[int]) -> Scaler:
    # Training windows of a split cover rows [0, seq_len - 1 + n_train).
    return Scaler.fit(np.concatenate([s.vectors[: seq_len - 1 + sp.n_train, columns] for s, sp in pairs]))


def _symbol_scalers(
    usable: list[tuple[SymbolSeries, _Split]],
    images: list[tuple[SymbolSeries, _Split]],
    seq_len: int,
    columns: list[int],
) -> dict[str, Scaler]:
    """Each symbol's scaler, from its own training rows and its image's."""
    names = [s.symbol for s, _ in usable]
    if any(name is None for name in names) or len(set(names)) != len(names):
        raise ValueError("per-symbol scaling needs every series named, each name once")
    return {
        str(s.symbol): _fit_scaler([(s, sp), *([images[i]] if images else [])], seq_len, columns)
        for i, (s, sp) in enumerate(usable)
    }


def _windows_and_labels(
    s: SymbolSeries,
    sp: _Split,
    scaler: Scaler,
    seq_len: int,
    columns: list[int],
    target: Target,
    validation: bool = True,
) -> dict[str, np.ndarray]:
    h = target.lookahead_bars
    windows = _windows(scaler.transform(s.vectors[:, columns]), seq_len, h)
    ends = np.arange(seq_len - 1, seq_len - 1 + len(windows))
    label, realized = target.outcomes(*s.prices())
    label, realized = label[ends].astype(np.float32), realized[ends].astype(np.float32)
    train, val = slice(0, sp.n_train), slice(sp.val_start, None)
    training = {"x_train": windows[train], "y_train": label[train], "r_train": realized[train]}
    if not validation:
        return training
    return {
        **training,
        "x_val": windows[val],
        "y_val": label[val],
        "r_val": realized[val],
        # Only the validation windows (a slice of all of them kept every
        # window alive, in float64: 18 MB for a year of hours).
        "x_val_raw": _windows(s.vectors[sp.val_start :], seq_len, h, np.float64),
        "val_label_ts": s.ts[ends[val] + h],
        "val_symbols": np.full(len(windows[val]), s.symbol or "", dtype=object),
    }
