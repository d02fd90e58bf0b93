"""The fake exchange's private side behaves like Binance where the bot
depends on it: filters, limit orders, cancels and balances."""

from __future__ import annotations

import ccxt
import pytest
from fake_exchange import FakeExchange

SYMBOL = "BTC/USDT"


@pytest.fixture
def exchange():
    with FakeExchange() as fake:
        fake.add_generated_market(SYMBOL, "1m", seed=9)
        fake.enable_trading("k", "s", {"USDT": 1_000.0, "BTC": 0.0})
        client = fake.make_ccxt()
        client.load_markets()
        yield fake, client


def test_price_filter_refuses_a_limit_price_off_the_tick(exchange) -> None:
    fake, client = exchange
    # ccxt would round the price itself; the raw endpoint shows the fake's check.
    with pytest.raises(ccxt.ExchangeError, match="PRICE_FILTER"):
        client.private_post_order({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                   "quantity": "0.1", "price": "100.005"})
    with pytest.raises(ccxt.ExchangeError, match="LOT_SIZE"):
        client.private_post_order({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.100005"})
    assert fake.account.order_count() == 0


def test_limit_orders_fill_when_they_cross_and_rest_otherwise(exchange) -> None:
    fake, client = exchange
    crossing = client.create_order(SYMBOL, "limit", "buy", 0.1, 900.0)
    assert crossing["status"] == "closed" and crossing["average"] < 900.0  # at the ask, not the limit
    resting = client.create_order(SYMBOL, "limit", "buy", 0.1, 50.0)
    assert resting["status"] == "open"
    assert [o["id"] for o in client.fetch_open_orders(SYMBOL)] == [resting["id"]]
    client.cancel_order(resting["id"], SYMBOL)
    assert client.fetch_order(resting["id"], SYMBOL)["status"] == "canceled"
    assert client.fetch_open_orders(SYMBOL) == []
    with pytest.raises(ccxt.OrderNotFound):
        client.cancel_order(resting["id"], SYMBOL)


def test_balances_move_with_fills_and_commission_in_the_asset_received(exchange) -> None:
    fake, client = exchange
    bought = client.create_order(SYMBOL, "market", "buy", 1.0)
    sold = client.create_order(SYMBOL, "market", "sell", 0.5)
    balance = client.fetch_balance()["total"]
    assert balance["BTC"] == pytest.approx(1.0 - 0.001 - 0.5, abs=1e-12)
    usdt = 1_000.0 - bought["cost"] + sold["cost"] * (1 - 0.001)
    assert balance["USDT"] == pytest.approx(usdt, abs=1e-6)
    trades = client.fetch_my_trades(SYMBOL)
    assert [t["fee"]["currency"] for t in trades] == ["BTC", "USDT"]
