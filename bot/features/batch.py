"""Whole-series feature computation with vectorised pandas: the batch twin of FeatureState.

Every operation only looks backwards (shift, diff, ewm, rolling), so the value on
bar t depends on bars <= t only, exactly as in the streaming version.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bot.features.spec import (
    EMA_SLOPE_SPAN,
    FEATURE_NAMES,
    MACD_FAST_SPAN,
    MACD_SIGNAL_SPAN,
    MACD_SLOW_SPAN,
    RETURN_LAGS,
    RSI_PERIOD,
    SMA_WINDOW,
    VOLATILITY_WINDOW,
    VOLUME_Z_WINDOW,
)


def _ema(series: pd.Series, span: int) -> pd.Series:
    return series.ewm(span=span, adjust=False).mean()


def _rsi(close: pd.Series) -> pd.Series:
    delta = close.diff()
    avg_gain = delta.clip(lower=0.0).ewm(alpha=1.0 / RSI_PERIOD, adjust=False).mean()
    avg_loss = (-delta).clip(lower=0.0).ewm(alpha=1.0 / RSI_PERIOD, adjust=False).mean()
    rsi = 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
    no_losses = np.where(avg_gain > 0.0, 100.0, 50.0)
    return rsi.mask(avg_loss == 0.0, pd.Series(no_losses, index=close.index))


def _macd_hist(close: pd.Series) -> pd.Series:
    macd = _ema(close, MACD_FAST_SPAN) - _ema(close, MACD_SLOW_SPAN)
    return (macd - _ema(macd, MACD_SIGNAL_SPAN)) / close


def _volume_z(volume: pd.Series) -> pd.Series:
    rolling = volume.rolling(VOLUME_Z_WINDOW)
    std = rolling.std()
    # A flat volume window carries no information: report "average", not inf/NaN.
    return ((volume - rolling.mean()) / std).mask(std == 0.0, 0.0)


def _raw_features(close: pd.Series, volume: pd.Series) -> dict[str, pd.Series]:
    ret_1 = np.log(close / close.shift(1))
    sma = close.rolling(SMA_WINDOW).mean()
    ema = _ema(close, EMA_SLOPE_SPAN)
    features = {f"ret_{k}": np.log(close / close.shift(k)) for k in RETURN_LAGS}
    features.update(
        rsi_14=_rsi(close),
        macd_hist=_macd_hist(close),
        sma_slope=sma / sma.shift(1) - 1.0,
        ema_slope=ema / ema.shift(1) - 1.0,
        volatility_24=ret_1.rolling(VOLATILITY_WINDOW).std(),
        volume_z_48=_volume_z(volume),
        close_sma_ratio=np.log(close / sma),
    )
    return features


def compute_features(close: pd.Series, volume: pd.Series) -> pd.DataFrame:
    """Features for every bar, columns in FEATURE_NAMES order; rows with any undefined feature are all NaN."""
    close = close.astype(float)
    volume = volume.astype(float)
    frame = pd.DataFrame(_raw_features(close, volume), index=close.index)[list(FEATURE_NAMES)]
    # Match FeatureState.update, which returns nothing until every feature is defined.
    incomplete = frame.isna().any(axis=1)
    frame.loc[incomplete] = np.nan
    return frame
