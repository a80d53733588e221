"""`CcxtVenue`: Kraken spot through ccxt, behind the `Venue` protocol.

ccxt raises on every non-empty Kraken `error` (warnings too) and folds several
Kraken strings into plain `ExchangeError`, so the decision is made from the
Kraken string in the exception text, and only then from ccxt's class
(docs/kraken-rest-live.md §4, §6). Exception texts are never passed on: they
quote URLs and bodies; a `VenueError` carries only Kraken's string or a class
name. `verbose` stays off because it prints the signed headers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import ccxt

from common.config import Secret
from common.messages import Side
from venues.errors import VenueError, VenueErrorKind
from venues.kraken.rest.classify import classify_kraken_error, kraken_errors_in
from venues.kraken.rest.orders import kraken_deadline, parse_kraken_order
from venues.order import VenueOrder

log = logging.getLogger(__name__)
T = TypeVar("T")


class CcxtVenue:
    provider = "ccxt"

    def __init__(
        self,
        base_url: str,
        api_key: Secret,
        api_secret: Secret,
        *,
        timeout_s: float,
        rate_limit_ms: int | None = None,
    ) -> None:
        options: dict[str, Any] = {
            "apiKey": api_key.reveal(),
            "secret": api_secret.reveal(),
            "timeout": int(timeout_s * 1000),
            "verbose": False,
        }
        if rate_limit_ms is not None:  # ccxt's own throttle; its default is 1 s per call
            options["rateLimit"] = rate_limit_ms
        self.client = ccxt.kraken(options)
        # Both public and private: load_markets() goes through the public URL.
        self.client.urls["api"] = {"public": base_url, "private": base_url}
        self.client.urls["zendesk"] = base_url

    def place_market(
        self,
        symbol: str,
        side: Side,
        qty: Decimal,
        client_id: str,
        deadline_s: float,
        venue_now_s: float,
    ) -> str:
        params = {"clientOrderId": client_id, "deadline": kraken_deadline(venue_now_s, deadline_s)}
        return self._create(symbol, "market", side, qty, None, params)

    def place_limit(
        self,
        symbol: str,
        side: Side,
        qty: Decimal,
        price: Decimal,
        client_id: str,
        deadline_s: float,
        venue_now_s: float,
        *,
        post_only: bool,
        immediate_or_cancel: bool,
    ) -> str:
        params: dict[str, Any] = {
            "clientOrderId": client_id,
            "deadline": kraken_deadline(venue_now_s, deadline_s),
        }
        if post_only:
            params["postOnly"] = True  # ccxt sends oflags=post
        if immediate_or_cancel:
            params["timeInForce"] = "IOC"  # passed through as timeinforce=IOC
        return self._create(symbol, "limit", side, qty, price, params)

    def amend(self, symbol: str, txid: str, qty: Decimal, price: Decimal) -> None:
        # ccxt's edit_order is Kraken's AmendOrder (txid, order_qty, limit_price): the
        # order keeps its txid and fills; the legacy EditOrder would make a new one.
        self._call(self.client.edit_order, txid, symbol, "limit", "buy", float(qty), float(price))

    def _create(
        self,
        symbol: str,
        kind: str,
        side: Side,
        qty: Decimal,
        price: Decimal | None,
        params: dict[str, Any],
    ) -> str:
        """AddOrder through ccxt; the txid, also of an order booked with a Kraken warning."""
        limit = None if price is None else float(price)
        try:
            order = self.client.create_order(symbol, kind, side.value, float(qty), limit, params)
        except ccxt.ExchangeError as e:
            txid = self._txid_despite_warning(e)
            if txid is None:
                raise _venue_error(e) from None
            return txid
        except ccxt.BaseError as e:
            raise _venue_error(e) from None
        return str(order["id"])

    def _txid_despite_warning(self, error: ccxt.ExchangeError) -> str | None:
        # ccxt raises on a `W...` warning even when Kraken booked the order (§4).
        reply = self.client.last_json_response
        texts = kraken_errors_in(str(error))
        if not texts or any(t.startswith("E") for t in texts) or not isinstance(reply, dict):
            return None
        txids = (reply.get("result") or {}).get("txid") or []
        if txids:
            log.warning("order booked with a Kraken warning: %s", "; ".join(texts))
            return str(txids[0])
        return None

    def find(self, client_id: str, since_ms: int) -> VenueOrder | None:
        params = {"clientOrderId": client_id}
        for order in self._call(self.client.fetch_open_orders, None, None, None, params):
            return _parse(order)
        closed = self._call(self.client.fetch_closed_orders, None, since_ms, None, params)
        return _parse(closed[0]) if closed else None

    def query(self, txid: str) -> VenueOrder:
        return _parse(self._call(self.client.fetch_order, txid))

    def query_many(self, txids: list[str]) -> dict[str, VenueOrder]:
        orders = self._call(self.client.fetch_orders_by_ids, txids)  # QueryOrders, a list
        return {str(order["id"]): _parse(order) for order in orders}

    def cancel(self, txid: str) -> None:
        self._call(self.client.cancel_order, txid)

    def base_balance(self, symbol: str) -> Decimal:
        self._call(self.client.load_markets)
        base = self.client.market(symbol)["base"]
        balance = self._call(self.client.fetch_balance)
        return Decimal(str((balance.get("total") or {}).get(base) or 0))

    def open_orders(self) -> list[VenueOrder]:
        return [_parse(order) for order in self._call(self.client.fetch_open_orders)]

    def server_time_s(self) -> float:
        return self._call(self.client.fetch_time) / 1000  # GET public/Time, in ms

    def cancel_all_after(self, timeout_s: int) -> None:
        # The implicit API method: ccxt's cancel_all_orders_after takes milliseconds
        # and loads markets first; this is the plain CancelAllOrdersAfter call.
        self._call(self.client.privatePostCancelAllOrdersAfter, {"timeout": timeout_s})

    @staticmethod
    def _call(method: Callable[..., T], *args: Any) -> T:
        try:
            return method(*args)
        except ccxt.BaseError as e:
            raise _venue_error(e) from None


def _parse(order: dict[str, Any]) -> VenueOrder:
    return parse_kraken_order(str(order["id"]), order["info"])


def _venue_error(error: ccxt.BaseError) -> VenueError:
    """Kraken's string decides; ccxt's class only when there is none (HTTP, timeouts)."""
    texts = [t for t in kraken_errors_in(str(error)) if t.startswith("E")]
    if texts:
        return VenueError(classify_kraken_error(texts[0]), texts[0])
    if isinstance(error, (ccxt.DDoSProtection, ccxt.RateLimitExceeded)):
        kind = VenueErrorKind.RETRY
    elif isinstance(error, ccxt.AuthenticationError):
        kind = VenueErrorKind.HALT
    elif isinstance(error, ccxt.NetworkError):  # timeouts, 5xx, dropped connections
        kind = VenueErrorKind.UNKNOWN_OUTCOME
    else:
        kind = VenueErrorKind.REFUSED
    return VenueError(kind, type(error).__name__)
