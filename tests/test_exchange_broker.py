"""The exchange broker against the fake exchange's private endpoints, with a
real ccxt.binance signing real HTTP requests: orders placed once, lost
acknowledgements found by client id, refusals as events, clock resync,
fills and balances that match the exchange's own records."""

from __future__ import annotations

import time

import pytest
from fake_exchange import FakeExchange

from bot.broker.exchange import UNKNOWN_PATIENCE_MS, ExchangeBroker, client_order_id
from bot.broker.exchange_client import ExchangeClient
from bot.domain import Bar, Order, OrderKind, OrderStatus, Side
from bot.ledger import Ledger
from bot.market.ccxt_feed import Backoff

KEY, SECRET = "test-key-7f3a", "test-secret-bd91c0ffee"
SYMBOL = "BTC/USDT"
ORDER_PATH = "/api/v3/order"


@pytest.fixture
def fake():
    with FakeExchange() as server:
        server.add_generated_market(SYMBOL, "1m", seed=5)
        server.enable_trading(KEY, SECRET, {"USDT": 10_000.0, "BTC": 1.0})
        yield server


def make_broker(fake: FakeExchange, timeout_ms: int = 1_500) -> ExchangeBroker:
    client = ExchangeClient(fake.make_ccxt(timeout=timeout_ms), retries=2,
                            backoff=Backoff(0.01, 0.05, sleep=lambda s: None))
    client.load_markets()
    broker = ExchangeBroker(client, "0badcafe", 60_000)
    now = fake.now()
    price = fake.candle(SYMBOL, (now // 60_000 - 1) * 60_000)[4]
    broker.fill_market_orders(Bar(SYMBOL, now - 60_000, price, price, price, price, 1.0), cash=0.0)
    return broker


def market(order_id: str, side: Side, qty: float, reason: str = "entry") -> Order:
    return Order(order_id, SYMBOL, side, OrderKind.MARKET, qty, created_ts=int(time.time() * 1000), reason=reason)


def order_posts(fake: FakeExchange) -> int:
    return sum(1 for method, path, _ in fake.requests if method == "POST" and path == ORDER_PATH)


def test_market_order_is_placed_once_and_booked_from_exchange_trades(fake) -> None:
    broker = make_broker(fake)
    order = market("BTC/USDT:1:entry", Side.BUY, 0.123456789)
    broker.submit(order)
    assert order.status is OrderStatus.NEW
    broker.send_decided(fake.now())

    account = fake.account
    assert account.placed == [client_order_id("0badcafe", order.id)]
    assert order.status is OrderStatus.FILLED
    fills = broker.collect_fills()[SYMBOL]
    assert [f.trade_id for f in fills] == [str(t["id"]) for t in account.trades]

    # The commission came in BTC: the ledger holds what the account holds.
    ledger = Ledger(cash=10_000.0)
    for fill in fills:
        ledger.apply(fill)
    assert ledger.position(SYMBOL).qty == pytest.approx(account.balance("BTC") - 1.0, abs=1e-12)
    assert ledger.cash == pytest.approx(account.balance("USDT"), abs=1e-8)
    assert ledger.fees_paid > 0


def test_trades_of_two_markets_with_the_same_id_are_each_booked() -> None:
    """binance numbers each market's trades on its own: ETH/USDT's trade 1
    was skipped as booked once BTC/USDT's trade 1 was, its order closed as
    filled with no fill, and the ledger stayed flat in ETH."""
    with FakeExchange() as server:
        server.add_generated_market(SYMBOL, "1m", seed=5)
        server.add_generated_market("ETH/USDT", "1m", seed=6)
        server.enable_trading(KEY, SECRET, {"USDT": 10_000.0})
        broker = make_broker(server)
        eth = Order("ETH/USDT:1:entry", "ETH/USDT", Side.BUY, OrderKind.MARKET, 0.5,
                    created_ts=int(time.time() * 1000), reason="entry")
        btc = market("BTC/USDT:1:entry", Side.BUY, 0.5)
        for order in (btc, eth):
            broker.submit(order)
            broker.send_decided(server.now())
        fills = broker.collect_fills()
        assert btc.status is OrderStatus.FILLED and eth.status is OrderStatus.FILLED, broker.drain().events
        assert {t["symbol"] for t in server.account.trades} == {"BTCUSDT", "ETHUSDT"}
        assert [f.trade_id for f in fills[SYMBOL]] == [f.trade_id for f in fills["ETH/USDT"]] == ["1"]
        assert sum(f.qty for f in fills["ETH/USDT"]) == pytest.approx(eth.filled_qty) and eth.filled_qty > 0


def test_lost_acknowledgement_finds_the_order_instead_of_sending_it_again(fake) -> None:
    broker = make_broker(fake, timeout_ms=800)
    fake.account.lose_next_ack(delay_seconds=2.0)
    order = market("BTC/USDT:2:entry", Side.BUY, 0.2)
    broker.submit(order)
    broker.send_decided(fake.now())  # times out, then looks the order up

    events = broker.drain().events
    assert [e.kind for e in events] == ["order_ack_lost", "order_found"]
    assert "after 0 empty look-ups" in events[1].message
    assert order.status is OrderStatus.FILLED
    assert fake.account.order_count() == 1
    assert order_posts(fake) == 1
    assert len(broker.collect_fills()[SYMBOL]) == 1
    broker.send_decided(fake.now())
    assert order_posts(fake) == 1  # nothing sent again later either


def test_an_order_that_never_arrived_stays_unknown_until_the_patience_runs_out(fake) -> None:
    broker = make_broker(fake)
    fake.fail_next(ORDER_PATH, status=503)  # refused before the fake saw it
    order = market("BTC/USDT:3:entry", Side.BUY, 0.2)
    broker.submit(order)
    for _ in range(6):
        broker.send_decided(fake.now())
    changes = broker.drain()
    assert [e.kind for e in changes.events] == ["order_ack_lost"]
    assert order.status is OrderStatus.UNKNOWN and broker.misses[order.id] == 6
    kind, reason = broker.entry_block()
    assert kind == "unknown_order" and reason.startswith("order BTC/USDT:3:entry")
    assert [o.id for o in changes.changed] == [order.id]  # saved as unknown with the step

    broker.poll(order.created_ts + UNKNOWN_PATIENCE_MS + 1)
    events = broker.drain().events
    assert [e.kind for e in events] == ["order_never_arrived"] and "7 look-ups" in events[0].message
    assert order.status is OrderStatus.EXPIRED and broker.entry_block() is None
    assert fake.account.order_count() == 0
    assert order_posts(fake) == 1


def test_an_order_recorded_late_is_found_and_booked_once(fake) -> None:
    broker = make_broker(fake, timeout_ms=800)
    fake.account.record_late_next(delay_seconds=2.0)
    order = market("BTC/USDT:8:entry", Side.BUY, 0.2)
    broker.submit(order)
    for _ in range(4):  # the timeout, then look-ups that find nothing
        broker.send_decided(fake.now())
    assert order.status is OrderStatus.UNKNOWN and broker.misses[order.id] == 4
    assert broker.collect_fills() == {}

    fake.account.record_late()
    broker.poll(fake.now())
    assert order.status is OrderStatus.FILLED and broker.entry_block() is None
    assert [e.kind for e in broker.drain().events] == ["order_ack_lost", "order_found"]
    fills = broker.collect_fills()[SYMBOL]
    assert [f.trade_id for f in fills] == [str(t["id"]) for t in fake.account.trades]
    broker.poll(fake.now())
    broker.send_decided(fake.now())
    assert broker.collect_fills() == {}  # booked once
    assert order_posts(fake) == 1


def test_an_unknown_order_read_back_after_a_restart_is_asked_after_not_resent(fake) -> None:
    broker = make_broker(fake)
    order = market("BTC/USDT:9:entry", Side.BUY, 0.2)
    order.status = OrderStatus.UNKNOWN  # as the database holds it after a lost reply
    broker.adopt(order)
    for _ in range(3):
        broker.send_decided(fake.now())
    assert order.status is OrderStatus.UNKNOWN and broker.drain().events == []
    assert order_posts(fake) == 0


def test_orders_under_the_exchange_minimum_are_refused_without_sending(fake) -> None:
    broker = make_broker(fake)
    tiny = market("BTC/USDT:4:entry", Side.BUY, 0.000004)  # under LOT_SIZE minQty after rounding
    small = market("BTC/USDT:5:entry", Side.BUY, 0.01)  # ~1.5 USDT: under NOTIONAL 5
    broker.submit(tiny)
    broker.submit(small)
    broker.send_decided(fake.now())
    events = broker.drain().events
    assert [e.kind for e in events] == ["order_refused", "order_refused"]
    assert "minimum" in events[0].message and "notional" in events[1].message
    assert tiny.status is small.status is OrderStatus.REJECTED
    assert order_posts(fake) == 0


def test_an_order_refused_by_a_rate_limit_waits_for_the_quiet_it_asked_for(fake) -> None:
    """A 429 on placing an order made it `unknown` (looked up for a day,
    every entry blocked), though a rate limit refuses before placing; and
    orders went out inside a quiet the exchange had asked for."""
    from bot.market.retry_after import QuietPeriod

    broker = make_broker(fake)
    now = [0.0]
    broker.client.quiet = QuietPeriod(clock=lambda: now[0])
    fake.fail_next(ORDER_PATH, status=429, times=1, retry_after=120)
    entry, stop_exit = market("BTC/USDT:20:entry", Side.BUY, 0.1), market("BTC/USDT:21:stop", Side.SELL, 0.1, "stop")
    for order in (entry, stop_exit):
        broker.submit(order)
    broker.send_decided(fake.now())
    broker.send_decided(fake.now())  # inside the quiet: nothing sent, nothing said again
    assert order_posts(fake) == 1 and fake.account.order_count() == 0
    assert entry.status is OrderStatus.NEW and stop_exit.status is OrderStatus.NEW and broker.entry_block() is None
    assert [e.kind for e in broker.drain().events] == ["order_held_back", "order_held_back"]
    now[0] += 121
    stop_exit.created_ts -= 2 * 60_000  # decided two bars ago: an exit still goes, a stale entry does not
    entry.created_ts -= 2 * 60_000
    broker.send_decided(fake.now())
    assert stop_exit.status is OrderStatus.FILLED and entry.status is OrderStatus.EXPIRED
    assert fake.account.order_count() == 1


def test_insufficient_funds_becomes_a_rejected_order_with_an_event(fake) -> None:
    broker = make_broker(fake)
    order = market("BTC/USDT:6:exit", Side.SELL, 5.0, reason="exit")  # the account holds 1 BTC
    broker.submit(order)
    broker.send_decided(fake.now())
    events = broker.drain().events
    assert [e.kind for e in events] == ["order_rejected"]
    assert "InsufficientFunds" in events[0].message
    assert order.status is OrderStatus.REJECTED
    assert fake.account.order_count() == 0


def test_timestamp_refusal_resyncs_the_clock_and_places_the_order_once(fake) -> None:
    broker = make_broker(fake)
    fake.account.refuse_timestamps_next(1)
    order = market("BTC/USDT:7:entry", Side.BUY, 0.1)
    broker.submit(order)
    before = sum(1 for _, path, _ in fake.requests if path == "/api/v3/time")
    broker.send_decided(fake.now())
    assert order.status is OrderStatus.FILLED
    assert fake.account.order_count() == 1
    assert order_posts(fake) == 2  # refused, then accepted
    assert sum(1 for _, path, _ in fake.requests if path == "/api/v3/time") == before + 1


def test_an_acknowledged_order_the_exchange_no_longer_shows_is_said_at_once(fake) -> None:
    """It stayed open without a word, its symbol waiting on it for a day
    ("an order from an earlier bar is still on its way" at every bar)."""
    fake.account.hold_orders = True
    broker = make_broker(fake)
    order = market("BTC/USDT:9:entry", Side.BUY, 0.1)
    broker.submit(order)
    broker.send_decided(fake.now())
    assert order.status is OrderStatus.OPEN and broker.entry_block() is None
    with fake.account._lock:
        fake.account.orders.clear()  # gone from the exchange
    for _ in range(2):  # a look-up may lag the acknowledgement
        broker.poll(fake.now())
    assert order.status is OrderStatus.OPEN and broker.drain().events == []
    broker.poll(fake.now())
    events = broker.drain().events
    assert [e.kind for e in events] == ["order_missing"] and events[0].level == "error"
    assert order.status is OrderStatus.UNKNOWN and order.id in broker.open_orders
    kind, reason = broker.entry_block()
    assert kind == "unknown_order" and order.id in reason


def test_a_restarted_broker_books_only_the_trades_that_name_its_order(fake) -> None:
    """An exchange that ignores the order filter answers with the market's
    recent trades; after a restart the earlier orders' trades are no longer
    remembered as booked, and were booked again against the open order."""
    fake.account.trades_ignore_order = True
    first = make_broker(fake)
    done = market("BTC/USDT:10:entry", Side.BUY, 0.1)
    first.submit(done)
    first.send_decided(fake.now())
    assert done.status is OrderStatus.FILLED and len(first.collect_fills()[SYMBOL]) == 1
    fake.account.hold_orders = True
    held = market("BTC/USDT:11:entry", Side.BUY, 0.2)
    first.submit(held)
    first.send_decided(fake.now())

    second = make_broker(fake)  # a new process: the open order read back, the closed one's trades forgotten
    restored = market(held.id, Side.BUY, 0.2)
    restored.status = OrderStatus.OPEN
    second.adopt(restored)
    fake.account.release_held()
    second.poll(fake.now())
    fills = second.collect_fills()[SYMBOL]
    assert restored.status is OrderStatus.FILLED
    assert [f.trade_id for f in fills] == [str(fake.account.trades[-1]["id"])]


def test_a_restarted_broker_adopts_an_open_order_and_books_its_fill_once(fake) -> None:
    fake.account.hold_orders = True
    first = make_broker(fake)
    order = market("BTC/USDT:8:entry", Side.BUY, 0.1)
    first.submit(order)
    first.send_decided(fake.now())
    assert order.status is OrderStatus.OPEN and fake.account.order_count() == 1

    second = make_broker(fake)  # a new process reading the order back from its database
    restored = market(order.id, Side.BUY, 0.1)
    restored.status = OrderStatus.OPEN
    second.adopt(restored)
    second.poll(fake.now())
    assert restored.status is OrderStatus.OPEN
    fake.account.release_held()
    second.send_decided(fake.now())
    assert restored.status is OrderStatus.FILLED
    assert len(second.collect_fills()[SYMBOL]) == 1
    assert fake.account.order_count() == 1 and order_posts(fake) == 1


def test_an_order_written_ahead_but_never_sent_is_sent_after_a_restart(fake) -> None:
    broker = make_broker(fake)
    restored = market("BTC/USDT:9:entry", Side.BUY, 0.1)
    restored.status = OrderStatus.NEW  # committed, then the process died before sending
    broker.adopt(restored)
    broker.poll(fake.now())
    assert [e.kind for e in broker.drain().events] == ["order_resent"]
    assert restored.status is OrderStatus.FILLED
    assert fake.account.order_count() == 1

    stale = market("BTC/USDT:10:entry", Side.BUY, 0.1)
    stale.created_ts -= 3_600_000  # an hour-old decision is not acted on
    stale.status = OrderStatus.NEW
    broker.adopt(stale)
    broker.poll(fake.now())
    assert [e.kind for e in broker.drain().events] == ["order_expired"]
    assert stale.status is OrderStatus.EXPIRED
    assert fake.account.order_count() == 1


def test_requests_without_a_valid_signature_are_refused(fake) -> None:
    import ccxt

    exchange = fake.make_ccxt()
    exchange.secret = "not-the-secret"
    with pytest.raises(ccxt.AuthenticationError):
        exchange.fetch_balance()
    exchange.apiKey = "not-the-key"
    with pytest.raises(ccxt.AuthenticationError):
        exchange.fetch_balance()


def test_keys_revoked_while_running_block_entries_until_a_signed_request_works(fake) -> None:
    """Keys revoked mid-run (or their trading permission taken away): every
    entry was sent, refused and reported as an error, bar after bar. The
    first refusal blocks entries, naming the keys; an exit is still sent,
    and the first signed request answered lifts the block."""
    broker = make_broker(fake)
    fake.account.secret = "rotated-" + SECRET  # the keys changed on the exchange: the signature fails
    entry = market("BTC/USDT:1:entry", Side.BUY, 0.1)
    broker.submit(entry)
    broker.send_decided(fake.now())
    (event,) = broker.drain().events
    assert event.kind == "order_rejected" and event.level == "error" and "AuthenticationError" in event.message
    assert entry.status is OrderStatus.REJECTED
    kind, reason = broker.entry_block()
    assert kind == "credentials_refused"
    assert "BOT_EXCHANGE_API_KEY, BOT_EXCHANGE_SECRET" in reason and "Signature" in reason
    assert broker.view([SYMBOL]).entry_block == (kind, reason)  # what the risk manager reads

    refused_exit = market("BTC/USDT:2:exit", Side.SELL, 0.1, reason="exit")
    broker.submit(refused_exit)
    broker.send_decided(fake.now())
    assert refused_exit.status is OrderStatus.REJECTED and broker.entry_block()[0] == "credentials_refused"

    fake.account.secret = SECRET  # restored
    exit_order = market("BTC/USDT:3:exit", Side.SELL, 0.1, reason="exit")
    broker.submit(exit_order)
    broker.send_decided(fake.now())
    assert exit_order.status is OrderStatus.FILLED and broker.entry_block() is None
    assert fake.account.order_count() == 1


def test_a_permission_refused_for_one_order_rejects_that_order_and_blocks_nothing(fake) -> None:
    """A trading permission refused leaves the keys reading: a block lifted
    by the next answered read would only let the next entry be refused
    again, and ccxt cannot tell an account's refusal from one symbol's."""
    broker = make_broker(fake)
    fake.fail_next(path=ORDER_PATH, status=400, body={"code": -2010, "msg": "This account may not place or cancel "
                                                                             "orders."})
    entry = market("BTC/USDT:1:entry", Side.BUY, 0.1)
    broker.submit(entry)
    broker.send_decided(fake.now())
    (event,) = broker.drain().events
    assert event.kind == "order_rejected" and event.level == "error" and "PermissionDenied" in event.message
    assert entry.status is OrderStatus.REJECTED and broker.entry_block() is None


def test_a_stop_the_bar_reached_is_sent_as_a_market_order_and_cancels_its_group(fake) -> None:
    broker = make_broker(fake)
    now = fake.now()
    stop = Order("g:stop", SYMBOL, Side.SELL, OrderKind.STOP, 0.5, now, "stop_loss", stop_price=100.0, group="g")
    take = Order("g:tp", SYMBOL, Side.SELL, OrderKind.LIMIT, 0.5, now, "take_profit", limit_price=1e6, group="g")
    broker.submit(stop)
    broker.submit(take)
    assert broker.trigger_protective(Bar(SYMBOL, now, 120.0, 121.0, 101.0, 110.0, 1.0)) == []
    assert stop.kind is OrderKind.STOP and fake.account.order_count() == 0  # not reached

    assert broker.trigger_protective(Bar(SYMBOL, now, 110.0, 111.0, 99.0, 100.5, 1.0)) == []
    assert stop.kind is OrderKind.MARKET and stop.status is OrderStatus.NEW  # saved with the step as such
    assert take.status is OrderStatus.CANCELED
    assert fake.account.order_count() == 0  # sent only after the step committed
    broker.send_decided(fake.now())
    assert stop.status is OrderStatus.FILLED
    assert fake.account.placed == [broker.client_id(stop)]
    assert broker.reasons()[stop.id] == "stop_loss"
    assert [f.side for f in broker.collect_fills()[SYMBOL]] == [Side.SELL]
