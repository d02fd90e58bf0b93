"""Feature names and window lengths shared by the streaming and batch implementations.

Both implementations import their constants from here so they cannot drift apart.
"""

# ret_96 reaches four days back: a weak drift that lasts for days shows only
# over a span longer than the model's 48-bar window (docs/research-log.md,
# "Four days of memory").
RETURN_LAGS: tuple[int, ...] = (1, 4, 24, 96)
RSI_PERIOD = 14
MACD_FAST_SPAN = 12
MACD_SLOW_SPAN = 26
MACD_SIGNAL_SPAN = 9
SMA_WINDOW = 24
EMA_SLOPE_SPAN = 24
VOLATILITY_WINDOW = 24
VOLUME_Z_WINDOW = 48

FEATURE_NAMES: tuple[str, ...] = (
    "ret_1",
    "ret_4",
    "ret_24",
    "ret_96",
    "rsi_14",
    "macd_hist",
    "sma_slope",
    "ema_slope",
    "volatility_24",
    "volume_z_48",
    "close_sma_ratio",
)


def feature_columns(names: list[str]) -> list[int]:
    """Positions in FEATURE_NAMES of the named features, in the order given:
    how a model's configured or saved inputs pick columns of a feature row."""
    return [FEATURE_NAMES.index(name) for name in names]


# 0-based index of the first bar on which every feature is defined. The longest
# lookback is ret_96, which needs 97 closes; the volume z-score needs
# VOLUME_Z_WINDOW volumes, and sma_slope and volatility_24 only 25 bars.
FIRST_DEFINED_INDEX = max(
    VOLUME_Z_WINDOW - 1,
    max(RETURN_LAGS),
    SMA_WINDOW,  # sma_slope needs the SMA on two consecutive bars
    VOLATILITY_WINDOW,  # ret_1 starts on the 2nd bar
)

# How each feature reads on the mirror image of a market, the price path
# p -> k / p (every log return negated; volume unchanged): x -> scale * x +
# offset. Returns, slopes and the MACD turn over; RSI turns about 50; the
# volatility and the volume z-score stay. Exact for the log-return features
# and the volatility; the others are built on prices rather than log prices
# and match to first order in the bar's move (bot/model/mirror.py uses this
# to show a model each market's mirror image as well).
MIRRORED: dict[str, tuple[float, float]] = {
    "ret_1": (-1.0, 0.0),
    "ret_4": (-1.0, 0.0),
    "ret_24": (-1.0, 0.0),
    "ret_96": (-1.0, 0.0),
    "rsi_14": (-1.0, 100.0),
    "macd_hist": (-1.0, 0.0),
    "sma_slope": (-1.0, 0.0),
    "ema_slope": (-1.0, 0.0),
    "volatility_24": (1.0, 0.0),
    "volume_z_48": (1.0, 0.0),
    "close_sma_ratio": (-1.0, 0.0),
}
assert set(MIRRORED) == set(FEATURE_NAMES), "every feature needs its mirror reading"
