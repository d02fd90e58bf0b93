"""The few ccxt calls the exchange broker makes, with the error policy that
keeps orders single:

- reads (an order by client id, its trades, balances, open orders) are
  retried with backoff on the NetworkError family: asking twice is harmless;
- placing an order is tried once. A timeout there means "unknown", never
  "failed": the caller looks the order up by its client id instead of
  sending it again;
- InvalidNonce (binance -1021: our clock is off the exchange's) re-reads the
  exchange's time and tries once more; the request was refused, so
  repeating it cannot duplicate anything.
"""

from __future__ import annotations

import ccxt
import structlog

from bot.market.ccxt_feed import Backoff
from bot.market.retry_after import QuietPeriod

log = structlog.get_logger("bot.broker.exchange")

# Network trouble of any kind, including replies that never came.
NETWORK_ERRORS = (ccxt.NetworkError,)


class ExchangeClient:
    def __init__(
        self, exchange: ccxt.Exchange, retries: int, backoff: Backoff, quiet: QuietPeriod | None = None
    ) -> None:
        self.exchange = exchange
        self.retries = retries
        self.backoff = backoff
        # The daemon's feed asks the same exchange: it passes its own quiet,
        # so a wait asked of either keeps both from asking.
        self.quiet = quiet or QuietPeriod()
        # binance: sign with the exchange's clock, not ours.
        self.exchange.options["adjustForTimeDifference"] = False

    # -- markets -------------------------------------------------------------

    def load_markets(self) -> None:
        self._read(self.exchange.load_markets)
        self.resync_time()

    def resync_time(self) -> None:
        loader = getattr(self.exchange, "load_time_difference", None)
        if loader is not None:
            try:
                self._read(loader)
            except ccxt.NotSupported:
                pass

    def rounded_amount(self, symbol: str, amount: float) -> float:
        """The amount as the exchange takes it (truncated to its step)."""
        try:
            return float(self.exchange.amount_to_precision(symbol, amount))
        except ccxt.InvalidOrder:  # below the precision: nothing tradable
            return 0.0

    def minimums(self, symbol: str) -> tuple[float, float]:
        """(smallest amount, smallest notional) the exchange accepts; 0 when unknown."""
        limits = self.exchange.market(symbol).get("limits", {})
        amount = (limits.get("amount") or {}).get("min") or 0.0
        cost = (limits.get("cost") or {}).get("min") or 0.0
        return float(amount), float(cost)

    def step(self, symbol: str) -> float:
        """The amount step: the dust that rounding can leave behind."""
        precision = self.exchange.market(symbol).get("precision", {}).get("amount")
        return float(precision or 0.0) if self.exchange.precisionMode == ccxt.TICK_SIZE else 10.0 ** -(precision or 8)

    # -- orders --------------------------------------------------------------

    def place_market(self, symbol: str, side: str, amount: float, client_id: str) -> dict:
        """One attempt (after a clock resync, two). Raises ccxt errors."""
        params = self._client_id_param("newClientOrderId", client_id)
        try:
            return self.exchange.create_order(symbol, "market", side, amount, None, params)
        except ccxt.InvalidNonce:
            log.warning("clock_resync", reason="exchange refused our timestamp")
            self.resync_time()
            return self.exchange.create_order(symbol, "market", side, amount, None, params)

    def find_order(self, symbol: str, client_id: str) -> dict | None:
        """The order with this client id, or None when the exchange has none."""
        params = self._client_id_param("origClientOrderId", client_id)
        try:
            return self._read(self.exchange.fetch_order, None, symbol, params)
        except ccxt.OrderNotFound:
            return None

    def cancel(self, symbol: str, client_id: str) -> None:
        params = self._client_id_param("origClientOrderId", client_id)
        try:
            self._read(self.exchange.cancel_order, None, symbol, params)
        except (ccxt.OrderNotFound, ccxt.OperationRejected):
            pass  # filled or gone already: the next look-up says which

    def trades(self, symbol: str, order_id: str) -> list[dict]:
        return self._read(self.exchange.fetch_my_trades, symbol, None, None, {"orderId": order_id})

    def open_orders(self, symbol: str) -> list[dict]:
        return self._read(self.exchange.fetch_open_orders, symbol)

    def balances(self) -> dict[str, float]:
        """Total (free + locked) per asset."""
        total = self._read(self.exchange.fetch_balance).get("total", {})
        return {asset: float(amount) for asset, amount in total.items() if amount is not None}

    def _client_id_param(self, binance_name: str, client_id: str) -> dict:
        """binance names the parameter itself; ccxt's unified name elsewhere."""
        return {binance_name if self.exchange.id.startswith("binance") else "clientOrderId": client_id}

    # -- retries -------------------------------------------------------------

    def _read(self, call, *args):
        """A request that is safe to repeat."""
        resynced = False
        attempt = 0
        while True:
            if self.quiet.left():
                raise ccxt.RateLimitExceeded(f"{self.exchange.id} not asked: {self.quiet.says()}")
            try:
                return call(*args)
            except ccxt.InvalidNonce:
                if resynced:
                    raise
                resynced = True
                log.warning("clock_resync", reason="exchange refused our timestamp")
                self.resync_time()
            except NETWORK_ERRORS as exc:
                asked = self.quiet.note(self.exchange, exc)
                if attempt >= self.retries or (asked is not None and asked > self.backoff.max):
                    raise
                wait = self.backoff.wait(attempt, at_least=asked or 0.0)
                self.quiet.waited(asked)
                attempt += 1
                log.warning(
                    "exchange_retry",
                    call=getattr(call, "__name__", "request"),
                    error=type(exc).__name__,
                    attempt=attempt,
                    wait_seconds=round(wait, 2),
                )
