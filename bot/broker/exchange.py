"""The exchange broker: our orders placed on an exchange (a testnet, in
sandbox mode) through ccxt, behind the same port as the paper broker.

How an order travels:
  NEW     decided in a bar step and committed with it (written ahead), then
          sent once the step is in the database, under a client order id
          derived from the order's own deterministic id;
  OPEN    acknowledged; asked after until the exchange closes it;
  PARTIALLY_FILLED / FILLED / CANCELED / EXPIRED / REJECTED as the exchange
          reports. Fills are the exchange's trades, with its fees.

A reply that never came does not make an order failed, only UNKNOWN (a
status saved with it, so a restart asks after it too): it is looked up by
its client id after every step and at every reconciliation until the
exchange shows it, however many look-ups come back empty, since an
exchange may record an order late. Only when it is still nowhere after
`UNKNOWN_PATIENCE_MS` (far inside any exchange's order history) is it
declared never arrived. An acknowledged order the exchange no longer shows
becomes unknown too (`order_missing`). While an order is unknown, or the balances
disagree with the ledger beyond dust, no new entry is allowed
(`entry_block`). Nothing is ever sent twice.

Stops and take-profits stay with us (as in the paper broker): a bar that
reaches one turns it into a market order sent after the step. The exchange
fills it at its price then, not at the stop price.

On restart every order read back as a market order that is new or open is
looked up by its client id before anything else happens.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import ccxt
import structlog

from bot.book_view import BookChanges, BookView
from bot.broker.exchange_client import NETWORK_ERRORS, ExchangeClient
from bot.broker.working_orders import KeepsWorkingOrders, WorkingOrders, reached
from bot.domain import Bar, Event, Fill, Order, OrderKind, OrderStatus, Side
from bot.market.ccxt_feed import network_reason, reply_line
from bot.secrets import credential_names

log = structlog.get_logger("bot.broker.exchange")

# How long an order may stay unseen before "not found" means "never arrived":
# exchanges keep order history for months; a day covers any outage.
UNKNOWN_PATIENCE_MS = 86_400_000
REFUSED = (ccxt.InsufficientFunds, ccxt.InvalidOrder, ccxt.BadRequest)
RATE_LIMITED = (ccxt.DDoSProtection, ccxt.RateLimitExceeded)  # a 429 or 418: not placed
# A permission refused for one order (this account may not trade, this
# symbol is restricted for it) says nothing of the next symbol, and the
# keys still read: such an order is rejected on its own. Keys refused
# outright (revoked, rotated) fail every signed request alike.
PERMISSION_REFUSED = (ccxt.PermissionDenied, ccxt.AccountSuspended)
# Empty look-ups in a row before an acknowledged order counts as missing: the
# first comes milliseconds after the acknowledgement, and an exchange whose
# look-ups lag its acknowledgements would block every entry on one.
MISSING_AFTER_LOOKUPS = 3

# ccxt's unified order status -> ours (open splits on the filled amount)
CLOSED_STATUS = {
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}


def client_order_id(run_tag: str, order_id: str) -> str:
    """Deterministic per order and run: 32 letters and digits, which binance
    (36, with -_.:/), bybit (36) and okx (32, alphanumeric) all accept."""
    return f"lb{run_tag}{hashlib.sha256(order_id.encode()).hexdigest()[:22]}"


class ExchangeBroker(KeepsWorkingOrders):
    def __init__(
        self,
        client: ExchangeClient,
        run_tag: str,
        timeframe_ms: int,
        booked_trades: set[tuple[str, str]] | None = None,
    ) -> None:
        self.working = WorkingOrders()
        self.client = client
        self.run_tag = run_tag
        self.timeframe_ms = timeframe_ms
        self.phase: dict[str, str] = {}  # order id -> queued | sent | unknown | restored
        self.misses: dict[str, int] = {}  # empty look-ups in a row, per order
        self.balance_problem: str | None = None  # set by reconciliation
        # Why the exchange refused the API keys (revoked, or their permission
        # taken away while running); None once a signed request is answered.
        self.credentials_refused: str | None = None
        self.cancel_wanted: set[str] = set()
        self.held_back: set[str] = set()  # queued orders not sent for a rate limit, said once each
        # (symbol, trade id): binance numbers each market's trades on its
        # own, so a bare id booked for BTC/USDT skipped ETH/USDT's trade of
        # the same number, its order closed as filled with nothing booked.
        self.booked_trades = set(booked_trades or ())
        self.last_price: dict[str, float] = {}
        self.reason_of: dict[str, str] = {}  # every order's reason, for fills booked after it closed
        self._fills: dict[str, list[Fill]] = {}
        self._events: list[Event] = []

    def client_id(self, order: Order) -> str:
        return client_order_id(self.run_tag, order.id)

    # -- the book ------------------------------------------------------------

    def view(self, symbols: Iterable[str]) -> BookView:
        dust = {symbol: self.dust_qty(symbol) for symbol in symbols}
        return BookView.of(self.working.open.values(), dust, self.entry_block())

    def observe(self, bar: Bar, volatility: float | None) -> None:
        """The exchange prices its own fills: nothing to model."""

    def submit(self, order: Order) -> None:
        self.working.add(order)
        self.reason_of[order.id] = order.reason
        if order.kind is OrderKind.MARKET:
            order.status = OrderStatus.NEW
            self.phase[order.id] = "queued"

    def adopt(self, order: Order) -> None:
        self.working.add(order)
        self.reason_of[order.id] = order.reason
        if order.status is OrderStatus.UNKNOWN:
            self.phase[order.id] = "unknown"
        elif order.kind is OrderKind.MARKET:
            self.phase[order.id] = "restored"

    def cancel(self, order_id: str, ts: int) -> Order | None:
        order = self.working.get(order_id)
        if self.phase.get(order_id) in ("sent", "unknown", "restored"):
            # On the exchange (or maybe): cancel there, let the exchange say how it ended.
            self.cancel_wanted.add(order_id)
            return order
        self.phase.pop(order_id, None)
        if order is not None:
            self.working.close(order, OrderStatus.CANCELED, ts)
        return order

    def reasons(self) -> dict[str, str]:
        return dict(self.reason_of)

    def dust_qty(self, symbol: str) -> float:
        minimum, _ = self.client.minimums(symbol)
        return max(minimum, self.client.step(symbol))

    def entry_block(self) -> tuple[str, str] | None:
        """Why no new entry may be sent now: an order whose fate is unknown
        (it may still fill), an account that disagrees with the ledger, or
        keys the exchange refused (until a signed request is answered)."""
        unknown = [o for o in self.open_orders.values() if o.status is OrderStatus.UNKNOWN]
        if unknown:
            first = unknown[0]
            return (
                "unknown_order",
                f"order {first.id} is not on the exchange (no reply to it, or gone since it was acknowledged) "
                f"({len(unknown)} unknown); no entry until the exchange shows it",
            )
        if self.balance_problem:
            return "balance_mismatch", f"{self.balance_problem}; no entry until the account matches the ledger"
        if self.credentials_refused:
            names = ", ".join(credential_names(self.client.exchange))
            return (
                "credentials_refused",
                f"the exchange refused the API keys ({self.credentials_refused}); no entry until it takes them "
                f"again: check {names} and their permissions (exits are still sent)",
            )
        return None

    # -- inside a bar step -----------------------------------------------------

    def fill_market_orders(self, bar: Bar, cash: float) -> list[Fill]:
        """Fills the exchange reported since the last step for this symbol."""
        self.last_price[bar.symbol] = bar.close
        return self._fills.pop(bar.symbol, [])

    def trigger_protective(self, bar: Bar) -> list[Fill]:
        """Stops and take-profits this bar reached become market orders
        (kind and status saved with the step, so a restart looks them up)."""
        for order in self.orders(bar.symbol):
            if not order.kind.protective or order.id not in self.open_orders:  # a group sibling went first
                continue
            if reached(order, bar):
                order.kind, order.status = OrderKind.MARKET, OrderStatus.NEW
                self.phase[order.id] = "queued"
                self.working.changed(order)
                for other in [o for o in self.open_orders.values() if o.group == order.group and o is not order]:
                    self.cancel(other.id, bar.ts)
        return []

    # -- after the step committed ----------------------------------------------

    def send_decided(self, now_ms: int) -> bool:
        for order in [o for o in self.open_orders.values() if self.phase.get(o.id) == "queued"]:
            self._send(order, now_ms)
        for order_id in list(self.cancel_wanted):
            wanted = self.open_orders.get(order_id)
            if wanted is not None:
                self._try(lambda o=wanted: self.client.cancel(o.symbol, self.client_id(o)), wanted, "cancel")
        self.poll(now_ms)
        return True

    def poll(self, now_ms: int) -> None:
        """Ask after every order the exchange has or may have."""
        asked_after = ("sent", "unknown", "restored")
        for order in [o for o in self.open_orders.values() if self.phase.get(o.id) in asked_after]:
            self._look_up(order, now_ms)

    def collect_fills(self) -> dict[str, list[Fill]]:
        fills, self._fills = self._fills, {}
        return fills

    def drain(self) -> BookChanges:
        closed, changed = self.working.drain()
        events, self._events = self._events, []
        return BookChanges(closed, changed, events)

    # -- sending ---------------------------------------------------------------

    def _send(self, order: Order, now_ms: int) -> None:
        if order.id in self.held_back and order.reason == "entry" and now_ms - order.created_ts > self.timeframe_ms:
            self._reject(
                order,
                "order_expired",
                "an entry held back while the exchange asked for quiet, now stale; not sent",
                now_ms,
                status=OrderStatus.EXPIRED,
            )
            return
        if self.client.quiet.left():
            self._hold_back(order, now_ms, self.client.quiet.says())
            return
        amount = self.client.rounded_amount(order.symbol, order.remaining)
        refusal = self._refusal(order, amount)
        if refusal:
            self._reject(order, "order_refused", refusal, now_ms)
            return
        try:
            reply = self.client.place_market(order.symbol, order.side.value, amount, self.client_id(order))
        except REFUSED as exc:
            self._reject(order, "order_rejected", f"{type(exc).__name__}: {reply_line(exc)}", now_ms)
            return
        except RATE_LIMITED as exc:  # refused before it was placed: send it once the exchange allows
            asked = self.client.quiet.note(self.client.exchange, exc)
            self._hold_back(order, now_ms, f"{type(exc).__name__}" + (f", Retry-After {asked:.0f} s" if asked else ""))
            return
        except NETWORK_ERRORS as exc:
            # It may have reached the exchange: find out, never send it again.
            self.phase[order.id] = "unknown"
            order.status = OrderStatus.UNKNOWN
            self.working.changed(order)  # saved: a restart must ask after it, not resend it
            self._event(
                now_ms,
                "order_ack_lost",
                f"no reply to the order ({network_reason(exc)}); looking it up "
                "by its client id until the exchange answers",
                order,
                level="warning",
            )
            return
        except ccxt.BaseError as exc:
            if isinstance(exc, ccxt.AuthenticationError) and not isinstance(exc, PERMISSION_REFUSED):
                # Every later entry would be refused the same way, each an error
                # event: entries wait (entry_block) until a signed request works.
                self.credentials_refused = network_reason(exc)
            self._reject(order, "order_rejected", f"{type(exc).__name__}: {reply_line(exc)}", now_ms, level="error")
            return
        self.credentials_refused = None
        self.phase[order.id] = "sent"
        self.held_back.discard(order.id)
        order.qty = order.filled_qty + amount
        self._absorb(order, reply, now_ms)

    def _hold_back(self, order: Order, now_ms: int, why: str) -> None:
        """Not sent now, kept queued for the next step's sending; said once.
        A rate limit's refusal comes before the order is placed, and sending
        inside a quiet the exchange asked for turns a limit into a ban."""
        if order.id not in self.held_back:
            self.held_back.add(order.id)
            self._event(
                now_ms,
                "order_held_back",
                f"not sent yet ({why}); sent after a later step once the exchange allows (a stale entry expires)",
                order,
                level="warning",
            )

    def _refusal(self, order: Order, amount: float) -> str | None:
        """Why the exchange would refuse this order, checked before sending."""
        min_amount, min_cost = self.client.minimums(order.symbol)
        price = self.last_price.get(order.symbol)
        if amount <= 0 or amount < min_amount:
            return f"amount {order.remaining:.10g} is under the exchange's minimum {min_amount:g} after rounding"
        if price is not None and amount * price < min_cost:
            return f"notional {amount * price:,.2f} is under the exchange's minimum {min_cost:,.2f}"
        return None

    # -- learning what happened ----------------------------------------------------

    def _look_up(self, order: Order, now_ms: int) -> None:
        try:
            reply = self.client.find_order(order.symbol, self.client_id(order))
        except ccxt.BaseError as exc:  # ask again at the next step
            log.warning("order_lookup_failed", order_id=order.id, error=type(exc).__name__)
            return
        self.credentials_refused = None  # a signed request answered
        if reply is not None:
            misses = self.misses.pop(order.id, 0)
            if order.status is OrderStatus.UNKNOWN:
                self._event(
                    now_ms,
                    "order_found",
                    f"the exchange shows the order after {misses} empty look-ups "
                    f"(status {reply.get('status')}, filled {float(reply.get('filled') or 0):g})",
                    order,
                )
            self.phase[order.id] = "sent"
            self._absorb(order, reply, now_ms)
            return
        self._not_found(order, now_ms)

    def _not_found(self, order: Order, now_ms: int) -> None:
        phase = self.phase[order.id]
        if phase == "restored" and order.status is OrderStatus.NEW:
            # Written ahead, never sent: the process died in between.
            if now_ms - order.created_ts <= self.timeframe_ms:
                self.phase[order.id] = "queued"
                self._event(now_ms, "order_resent", "decided before a restart and never sent; sending it now", order)
                self._send(order, now_ms)
            else:
                self._reject(
                    order,
                    "order_expired",
                    "decided before a restart, never sent, now stale",
                    now_ms,
                    status=OrderStatus.EXPIRED,
                    level="warning",
                )
            return
        # Sent, or acknowledged once: "not found" may only mean "not recorded
        # yet". Keep asking; give up only after the patience runs out.
        misses = self.misses.get(order.id, 0) + 1
        self.misses[order.id] = misses
        if order.status is not OrderStatus.UNKNOWN and misses >= MISSING_AFTER_LOOKUPS:
            self._lost_sight_of(order, now_ms)
        if now_ms - order.created_ts > UNKNOWN_PATIENCE_MS:
            hours = (now_ms - order.created_ts) / 3_600_000
            self._reject(
                order,
                "order_never_arrived",
                f"not on the exchange after {misses} look-ups over {hours:.0f} h; not sent again",
                now_ms,
                status=OrderStatus.EXPIRED,
                level="error",
            )

    def _lost_sight_of(self, order: Order, now_ms: int) -> None:
        """An order the exchange acknowledged is no longer found. It stayed
        open without a word, its symbol waiting on it for a day; now it is
        unknown (no new entry, a restart asks after it) and said at once."""
        was = order.status.value
        order.status = OrderStatus.UNKNOWN
        self.working.changed(order)
        self._event(
            now_ms,
            "order_missing",
            f"the exchange no longer shows the order it acknowledged (it was {was}, "
            f"{order.filled_qty:g} filled); looking it up by its client id, no new entry meanwhile",
            order,
            level="error",
        )

    def _absorb(self, order: Order, reply: dict, now_ms: int) -> None:
        """Book new trades of the order and follow its status."""
        filled = float(reply.get("filled") or 0.0)
        when = int(reply.get("lastTradeTimestamp") or reply.get("timestamp") or now_ms)
        if filled > 0 and not self._book(order, reply.get("trades") or [], when):
            trades = self._trades_of(order, reply)
            if trades is None:
                return  # its trades are unreadable now: keep the order and ask again, never drop a fill
            self._book(order, trades, when)
        status = reply.get("status")
        if status in CLOSED_STATUS:
            self.phase.pop(order.id, None)
            self.cancel_wanted.discard(order.id)
            self.working.close(order, CLOSED_STATUS[status], now_ms)
            if status == "closed":
                self.working.cancel_group(order, now_ms)
        else:
            new_status = OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.OPEN
            if order.status is not new_status:
                order.status = new_status
            self.working.changed(order)

    def _trades_of(self, order: Order, reply: dict) -> list[dict] | None:
        """The order's trades, or None when the exchange did not answer.
        An exchange that ignores the order filter answers with the market's
        recent trades: only those naming this order are its own (after a
        restart, other orders' booked trades are no longer remembered)."""
        try:
            trades = self.client.trades(order.symbol, str(reply["id"]))
        except ccxt.BaseError as exc:
            log.warning("trades_lookup_failed", order_id=order.id, error=type(exc).__name__)
            return None
        return [t for t in trades if t.get("order") is None or str(t["order"]) == str(reply["id"])]

    def _book(self, order: Order, trades: list[dict], when: int) -> bool:
        """Turn trades not booked yet into fills (stamped `when` if the trade
        has no time); False when none had an id."""
        usable = [t for t in trades if t.get("id") is not None]
        for trade in usable:
            key = (order.symbol, str(trade["id"]))
            if key in self.booked_trades:
                continue
            self.booked_trades.add(key)
            fill = self._fill_of(order, trade, when)
            order.filled_qty += fill.qty
            self._fills.setdefault(order.symbol, []).append(fill)
        return bool(usable)

    def _fill_of(self, order: Order, trade: dict, when: int) -> Fill:
        """One exchange trade as a ledger fill, fees in the quote currency.
        A fee taken in the base asset shrinks what was bought (or adds to
        what was sold): the position and the cash then match the account."""
        base, quote = order.symbol.split("/")
        amount, price = float(trade["amount"]), float(trade["price"])
        fee = trade.get("fee") or {}
        cost, currency = float(fee.get("cost") or 0.0), fee.get("currency")
        ts = int(trade.get("timestamp") or when)
        qty, fee_quote = amount, 0.0
        if currency == quote:
            fee_quote = cost
        elif currency == base:
            qty = amount - cost if order.side is Side.BUY else amount + cost
            fee_quote = cost * price
        elif cost:
            self._event(
                ts, "fee_other_asset", f"fee of {cost:g} {currency} is outside the ledger", order, level="warning"
            )
        return Fill(order.id, order.symbol, order.side, qty, price, fee_quote, ts, trade_id=str(trade["id"]))

    # -- helpers -----------------------------------------------------------------

    def _reject(
        self, order: Order, kind: str, message: str, now_ms: int, status=OrderStatus.REJECTED, level: str = "warning"
    ) -> None:
        self.phase.pop(order.id, None)
        self.misses.pop(order.id, None)
        self.cancel_wanted.discard(order.id)
        self.held_back.discard(order.id)
        if order.id in self.open_orders:
            self.working.close(order, status, now_ms)
        self._event(now_ms, kind, message, order, level=level)

    def _try(self, call, order: Order, what: str) -> None:
        try:
            call()
        except ccxt.BaseError as exc:
            log.warning(f"{what}_failed", order_id=order.id, error=type(exc).__name__)

    def _event(self, ts: int, kind: str, message: str, order: Order, level: str = "info") -> None:
        self._events.append(
            Event(
                ts,
                kind,
                message,
                level=level,
                symbol=order.symbol,
                data={"order_id": order.id, "client_order_id": self.client_id(order)},
            )
        )
