"""The broker a config asks for: the paper simulator, or orders on an
exchange testnet through ccxt in sandbox mode."""

from __future__ import annotations

import secrets as random_tokens
from typing import TYPE_CHECKING

from bot.broker.paper import PaperBroker
from bot.config import Config
from bot.ports import Broker
from bot.store import Store

if TYPE_CHECKING:  # importing ccxt takes most of a second, which a paper replay does without
    from bot.market.retry_after import QuietPeriod

RUN_TAG_KEY = "client_order_tag"


def make_broker(config: Config, store: Store, quiet: QuietPeriod | None = None) -> Broker:
    """`quiet`: the feed's, when it asks the same exchange (see make_exchange_broker)."""
    if config.broker == "paper":
        return PaperBroker(config.paper, config.timeframe_ms, config.risk.min_order_notional)
    return make_exchange_broker(config, store, quiet)


def authenticated_exchange(config: Config):
    """The configured ccxt exchange (sandbox mode: the config insists) with
    the credentials from the environment; ConfigError when one is missing.
    No request is made, so `bot run` can refuse before touching any state."""
    from bot.market.ccxt_feed import make_exchange
    from bot.secrets import keys_from_env

    exchange = make_exchange(config.exchange)
    keys = keys_from_env(needs_password=bool(exchange.requiredCredentials.get("password")))
    for name, value in keys.ccxt_credentials().items():
        setattr(exchange, name, value)
    return exchange


def make_exchange_broker(config: Config, store: Store, quiet: QuietPeriod | None = None) -> Broker:
    """The testnet broker. The feed and the broker are two ccxt clients of
    one exchange (the same host, the same IP): a Retry-After one of them
    heard bound both, or binance's 429 becomes a 418 ban. `quiet` is the
    feed's, shared."""
    from bot.broker.exchange import ExchangeBroker
    from bot.broker.exchange_client import ExchangeClient
    from bot.market.ccxt_feed import Backoff

    exchange = authenticated_exchange(config)
    client = ExchangeClient(
        exchange,
        config.market.retries,
        Backoff(config.market.backoff_seconds, config.market.backoff_max_seconds),
        quiet,
    )
    client.load_markets()
    booked = store.trade_ids([order.id for order in store.open_orders()])
    return ExchangeBroker(client, run_tag(store), config.timeframe_ms, booked)


def run_tag(store: Store) -> str:
    """Eight hex characters, fixed for the life of a database: client order
    ids of this run never collide with those of an earlier one."""
    tag = store.get_meta(RUN_TAG_KEY)
    if tag is None:
        tag = random_tokens.token_hex(4)
        store.set_meta(RUN_TAG_KEY, tag)
    return tag
