"""The private half of the fake Binance spot server: one trading account.

It checks requests the way Binance does (the `X-MBX-APIKEY` header, an
HMAC-SHA256 `signature` over the query string or form body exactly as
sent, a `timestamp` within `recvWindow`), fills market orders (and limit
orders that cross) at the fake's current price (ask for buys, bid for
sells; a resting limit order waits for `release_held`), charges the
commission in the asset received (base for buys, quote for sells),
enforces the LOT_SIZE and NOTIONAL filters (PRICE_FILTER for limit prices)
and the balances, and keeps its own records of orders, trades and balances
for tests to compare against.

Faults on demand: an order accepted whose reply never arrives in time
(`lose_next_ack`), an order accepted but recorded late: invisible to
look-ups until `record_late()` fills it (`record_late_next`), timestamps
refused with -1021 (`refuse_timestamps_next`),
market orders held open until `release_held()` (`hold_orders`); HTTP 5xx
come from the FakeExchange's own `fail_next`.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

if TYPE_CHECKING:
    from fake_exchange import FakeExchange, Market

EIGHT = Decimal("0.00000001")
SPREAD = Decimal("0.01")
PRIVATE_PATHS = {"/api/v3/account", "/api/v3/order", "/api/v3/openOrders", "/api/v3/myTrades"}


class PrivateError(Exception):
    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


def dec(text: str) -> Decimal:
    return Decimal(str(text))


def s8(value: Decimal) -> str:
    return str(value.quantize(EIGHT))


@dataclass
class FakeOrder:
    order_id: int
    client_id: str
    symbol: str  # exchange id, e.g. BTCUSDT
    side: str  # BUY / SELL
    qty: Decimal
    time: int
    status: str = "NEW"
    executed: Decimal = Decimal(0)
    quote: Decimal = Decimal(0)
    fills: list[dict] = field(default_factory=list)
    kind: str = "MARKET"
    limit: Decimal | None = None  # LIMIT orders: the price; they fill there or better

    def payload(self) -> dict:
        return {"symbol": self.symbol, "orderId": self.order_id, "orderListId": -1,
                "clientOrderId": self.client_id, "price": s8(self.limit or Decimal(0)), "origQty": s8(self.qty),
                "executedQty": s8(self.executed), "cummulativeQuoteQty": s8(self.quote),
                "status": self.status, "timeInForce": "GTC", "type": self.kind, "side": self.side,
                "stopPrice": "0.00000000", "icebergQty": "0.00000000", "time": self.time,
                "updateTime": self.time, "isWorking": True, "workingTime": self.time,
                "origQuoteOrderQty": "0.00000000", "selfTradePreventionMode": "EXPIRE_MAKER"}


class FakeAccount:
    """A Binance spot account behind an API key; see the module docstring."""

    def __init__(self, exchange: FakeExchange, api_key: str, secret: str, balances: dict[str, float],
                 commission: float = 0.001) -> None:
        self.exchange = exchange
        self.api_key, self.secret = api_key, secret
        self.balances = {asset: dec(amount) for asset, amount in balances.items()}
        self.commission = dec(commission)
        self.orders: dict[int, FakeOrder] = {}
        self.trades: list[dict] = []
        self.placed: list[str] = []  # client ids of every order accepted, in order
        self.hold_orders = False
        self.trades_ignore_order = False  # myTrades answers with the market's trades, as some exchanges do
        self._lost_acks = 0
        self.ack_delay_seconds = 0.0
        self._refuse_timestamps = 0
        self._record_late = 0
        self.unrecorded: list[FakeOrder] = []  # accepted, not yet visible (record_late_next)
        self._next_id = 1000
        self._lock = threading.RLock()

    # -- faults --------------------------------------------------------------

    def lose_next_ack(self, delay_seconds: float, times: int = 1) -> None:
        """Accept the next orders, then hold each reply back `delay_seconds`."""
        with self._lock:
            self._lost_acks += times
            self.ack_delay_seconds = delay_seconds

    def record_late_next(self, delay_seconds: float) -> None:
        """Accept the next order but show it nowhere (no reply within
        `delay_seconds`, look-ups answer "does not exist", no fill) until
        `record_late()`: an exchange that records an order late."""
        with self._lock:
            self._record_late += 1
            self._lost_acks += 1
            self.ack_delay_seconds = delay_seconds

    def record_late(self) -> None:
        """Record and fill, at the current price, every order held unseen."""
        with self._lock:
            for order in self.unrecorded:
                self.orders[order.order_id] = order
                self._fill(order, self.exchange.market(order.symbol))
            self.unrecorded = []

    def clear_faults(self) -> None:
        """Forget queued lost acknowledgements, late records and refusals."""
        with self._lock:
            self._lost_acks = self._record_late = self._refuse_timestamps = 0

    def refuse_timestamps_next(self, times: int = 1) -> None:
        """Answer the next signed requests with -1021 (timestamp outside recvWindow)."""
        with self._lock:
            self._refuse_timestamps += times

    def release_held(self) -> None:
        """Fill every order that hold_orders kept open, at the current price."""
        with self._lock:
            self.hold_orders = False
            for order in self.orders.values():
                if order.status == "NEW":
                    self._fill(order, self.exchange.market(order.symbol))

    # -- records for tests -------------------------------------------------

    def balance(self, asset: str) -> float:
        with self._lock:
            return float(self.balances.get(asset, Decimal(0)))

    def order_count(self) -> int:
        with self._lock:
            return len(self.orders)

    # -- requests ----------------------------------------------------------

    def handle(self, method: str, path: str, raw_query: str, headers: dict, body: str) -> tuple[int, object, float]:
        """(status, payload, seconds to wait before replying)."""
        try:
            params = self._authenticate(method, raw_query, headers, body)
            with self._lock:
                payload = self._route(method, path, params)
                delay = 0.0
                if method == "POST" and self._lost_acks:
                    self._lost_acks -= 1
                    delay = self.ack_delay_seconds
            return 200, payload, delay
        except PrivateError as error:
            return error.status, {"code": error.code, "msg": error.msg}, 0.0

    def _authenticate(self, method: str, raw_query: str, headers: dict, body: str) -> dict:
        if headers.get("x-mbx-apikey") != self.api_key:
            raise PrivateError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        signed = body if method in ("POST", "PUT") and body else raw_query
        payload, _, signature = signed.rpartition("&signature=")
        expected = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not signature or not hmac.compare_digest(signature, expected):
            raise PrivateError(400, -1022, "Signature for this request is not valid.")
        params = dict(parse_qsl(payload, keep_blank_values=True))
        self._check_timestamp(params)
        return params

    def _check_timestamp(self, params: dict) -> None:
        with self._lock:
            refuse = self._refuse_timestamps > 0
            if refuse:
                self._refuse_timestamps -= 1
        now = self.exchange.now()
        timestamp = int(params.get("timestamp", 0))
        window = int(params.get("recvWindow", 5000))
        if refuse or timestamp > now + 1000 or now - timestamp > window:
            raise PrivateError(400, -1021, "Timestamp for this request is outside of the recvWindow.")

    def _route(self, method: str, path: str, params: dict) -> object:
        if path == "/api/v3/account" and method == "GET":
            return self._account()
        if path == "/api/v3/order":
            handler = {"POST": self._new_order, "GET": self._query_order, "DELETE": self._cancel_order}.get(method)
            if handler:
                return handler(params)
        if path == "/api/v3/openOrders" and method == "GET":
            return [o.payload() for o in self.orders.values()
                    if o.status in ("NEW", "PARTIALLY_FILLED") and params.get("symbol") in (None, o.symbol)]
        if path == "/api/v3/myTrades" and method == "GET":
            return self._my_trades(params)
        raise PrivateError(404, -1000, f"Not found: {method} {path}")

    def _account(self) -> dict:
        balances = [{"asset": a, "free": s8(v), "locked": "0.00000000"} for a, v in sorted(self.balances.items())]
        return {"makerCommission": 10, "takerCommission": 10, "buyerCommission": 0, "sellerCommission": 0,
                "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
                "requireSelfTradePrevention": False, "updateTime": self.exchange.now(), "accountType": "SPOT",
                "balances": balances, "permissions": ["SPOT"], "uid": 1}

    # -- orders ------------------------------------------------------------

    def _market(self, params: dict) -> Market:
        try:
            return self.exchange.market(params.get("symbol", ""))
        except KeyError:
            raise PrivateError(400, -1121, "Invalid symbol.") from None

    def _new_order(self, params: dict) -> dict:
        market = self._market(params)
        kind = params.get("type")
        if kind not in ("MARKET", "LIMIT"):
            raise PrivateError(400, -1013, "This fake takes MARKET and LIMIT orders only.")
        client_id = params.get("newClientOrderId") or f"fake-{self._next_id}"
        if any(o.client_id == client_id and o.status in ("NEW", "PARTIALLY_FILLED") for o in self.orders.values()):
            raise PrivateError(400, -2010, "Duplicate order sent.")
        qty = dec(params.get("quantity", "0"))
        side = params.get("side")
        price = self._price(market, side)
        limit = dec(params["price"]) if kind == "LIMIT" else None
        if limit is not None:
            self._check_price(market, limit)
        self._check_filters(market, qty, limit or price)
        self._check_funds(market, side, qty, limit or price)
        self._next_id += 1
        order = FakeOrder(self._next_id, client_id, market.id, side, qty, self.exchange.now(), kind=kind,
                          limit=limit)
        self.placed.append(client_id)
        if self._record_late:
            self._record_late -= 1
            self.unrecorded.append(order)
            return {**order.payload(), "transactTime": order.time, "fills": []}
        self.orders[order.order_id] = order
        marketable = limit is None or (limit >= price if side == "BUY" else limit <= price)
        if marketable and not self.hold_orders:
            self._fill(order, market)
        return {**order.payload(), "transactTime": order.time, "fills": order.fills}

    def _price(self, market: Market, side: str) -> Decimal:
        now = self.exchange.now()
        current = (now // market.tf_ms) * market.tf_ms
        last = dec(self.exchange._served(market, current, now)[4])
        return last + SPREAD if side == "BUY" else last - SPREAD

    def _check_price(self, market: Market, price: Decimal) -> None:
        rule = market.filters["PRICE_FILTER"]
        tick, low, high = dec(rule["tickSize"]), dec(rule["minPrice"]), dec(rule["maxPrice"])
        if price < low or price > high or (price - low) % tick != 0:
            raise PrivateError(400, -1013, "Filter failure: PRICE_FILTER")

    def _check_filters(self, market: Market, qty: Decimal, price: Decimal) -> None:
        lot = market.filters["LOT_SIZE"]
        step, low, high = dec(lot["stepSize"]), dec(lot["minQty"]), dec(lot["maxQty"])
        if qty < low or qty > high or (qty - low) % step != 0:
            raise PrivateError(400, -1013, "Filter failure: LOT_SIZE")
        notional = market.filters.get("NOTIONAL")
        if notional and notional.get("applyMinToMarket") and qty * price < dec(notional["minNotional"]):
            raise PrivateError(400, -1013, "Filter failure: NOTIONAL")

    def _check_funds(self, market: Market, side: str, qty: Decimal, price: Decimal) -> None:
        needed, asset = (qty * price, market.quote) if side == "BUY" else (qty, market.base)
        if self.balances.get(asset, Decimal(0)) < needed:
            raise PrivateError(400, -2010, "Account has insufficient balance for requested action.")

    def _fill(self, order: FakeOrder, market: Market) -> None:
        price = self._price(market, order.side)
        if order.limit is not None:  # a limit fills at its price or better
            price = min(price, order.limit) if order.side == "BUY" else max(price, order.limit)
        qty = order.qty - order.executed
        quote = (qty * price).quantize(EIGHT, rounding=ROUND_DOWN)
        if order.side == "BUY":
            fee, fee_asset = (qty * self.commission).quantize(EIGHT, rounding=ROUND_DOWN), market.base
            self.balances[market.quote] = self.balances.get(market.quote, Decimal(0)) - quote
            self.balances[market.base] = self.balances.get(market.base, Decimal(0)) + qty - fee
        else:
            fee, fee_asset = (quote * self.commission).quantize(EIGHT, rounding=ROUND_DOWN), market.quote
            self.balances[market.base] = self.balances.get(market.base, Decimal(0)) - qty
            self.balances[market.quote] = self.balances.get(market.quote, Decimal(0)) + quote - fee
        # Numbered per market, as binance numbers them: ids repeat across symbols.
        trade_id = sum(1 for t in self.trades if t["symbol"] == order.symbol) + 1
        now = self.exchange.now()
        self.trades.append({"symbol": order.symbol, "id": trade_id, "orderId": order.order_id, "orderListId": -1,
                            "price": s8(price), "qty": s8(qty), "quoteQty": s8(quote), "commission": s8(fee),
                            "commissionAsset": fee_asset, "time": now, "isBuyer": order.side == "BUY",
                            "isMaker": False, "isBestMatch": True})
        order.fills.append({"price": s8(price), "qty": s8(qty), "commission": s8(fee),
                            "commissionAsset": fee_asset, "tradeId": trade_id})
        order.executed += qty
        order.quote += quote
        order.status = "FILLED"

    def _find(self, params: dict) -> FakeOrder:
        market = self._market(params)
        for order in self.orders.values():
            if order.symbol == market.id and (str(order.order_id) == params.get("orderId")
                                              or order.client_id == params.get("origClientOrderId")):
                return order
        raise PrivateError(400, -2013, "Order does not exist.")

    def _query_order(self, params: dict) -> dict:
        return self._find(params).payload()

    def _cancel_order(self, params: dict) -> dict:
        try:
            order = self._find(params)
        except PrivateError:
            raise PrivateError(400, -2011, "Unknown order sent.") from None
        if order.status not in ("NEW", "PARTIALLY_FILLED"):
            raise PrivateError(400, -2011, "Unknown order sent.")
        order.status = "CANCELED"
        return order.payload()

    def _my_trades(self, params: dict) -> list[dict]:
        market = self._market(params)
        found = [t for t in self.trades if t["symbol"] == market.id
                 and ("orderId" not in params or self.trades_ignore_order or str(t["orderId"]) == params["orderId"])
                 and t["time"] >= int(params.get("startTime", 0))]
        return found[:int(params.get("limit", 500))]
