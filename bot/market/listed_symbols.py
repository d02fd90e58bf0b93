"""A symbol the exchange does not list, refused at start. Unlisted (a typo,
or `btc/usdt` for `BTC/USDT`), every fetch fails with ccxt's BadSymbol: the
daemon would run on, logging fetch_failed at each bar and never trading.
An exchange that cannot be asked right now refuses nothing: the daemon's
own fetches retry it and report what they meet."""

from __future__ import annotations

import ccxt
import structlog

from bot.config import Config, ConfigError
from bot.market.ccxt_feed import CcxtFeed, make_exchange

log = structlog.get_logger(__name__)


def listed_feed(cfg: Config, symbols: list[str], history_bars: int) -> CcxtFeed:
    """The config's exchange feed, once `symbols` are known to be listed
    there: `bot run`, `bot train` and `bot download` all start this way."""
    exchange = make_exchange(cfg.exchange)
    feed = CcxtFeed(exchange, cfg.timeframe, cfg.timeframe_ms, history_bars, cfg.market)  # checks the timeframe
    refuse_unlisted_symbols(exchange, symbols)  # then asks the exchange: local checks first
    return feed


def refuse_unlisted_symbols(exchange: ccxt.Exchange, symbols: list[str]) -> None:
    """ConfigError naming `symbols` when the exchange's market list, once
    loaded, lacks one of them."""
    try:
        markets = exchange.load_markets()
    except ccxt.BaseError as exc:
        log.warning("markets_not_checked", exchange=exchange.id, error=f"{type(exc).__name__}")
        return
    missing = [s for s in symbols if s not in markets]
    if not missing:
        return
    named = ", ".join(_with_hint(s, markets) for s in missing)
    raise ConfigError(f"symbols: {exchange.id} does not list {named}")


def _with_hint(symbol: str, markets: dict) -> str:
    """The symbol, with the listed one it most likely meant (the same letters
    in another case)."""
    meant = next((m for m in markets if isinstance(m, str) and m.upper() == symbol.upper()), None)
    return f"'{symbol}' (did you mean '{meant}'?)" if meant else f"'{symbol}'"
