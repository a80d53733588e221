"""`KrakenexVenue`: Kraken spot through krakenex, behind the `Venue` protocol.

krakenex returns Kraken's errors instead of raising them, raises
`requests.HTTPError` for any status but 200-202, and waits forever unless given
a timeout; its nonce is bare Unix milliseconds, so two calls in one
millisecond collide (docs/kraken-rest-live.md §5). This adapter checks every
`error` list itself, always passes `timeout=`, and makes the nonce strictly
increasing. Exception texts are never passed on (they carry URLs).
"""

from __future__ import annotations

import logging
import threading
import time
from decimal import Decimal
from typing import Any

import krakenex
import requests

from common.config import Secret
from common.messages import Side
from venues.errors import VenueError, VenueErrorKind
from venues.kraken.pairs import PairRules
from venues.kraken.rest.classify import classify_http_status, classify_kraken_error
from venues.kraken.rest.orders import kraken_deadline, parse_kraken_order
from venues.order import VenueOrder

log = logging.getLogger(__name__)


class MonotonicNonce:
    """Unix milliseconds, but always one more than the last if the clock has not moved on."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            self._last = max(self._last + 1, time.time_ns() // 1_000_000)
            return self._last


class KrakenexVenue:
    provider = "krakenex"

    def __init__(
        self,
        base_url: str,
        api_key: Secret,
        api_secret: Secret,
        *,
        timeout_s: float,
        pairs: dict[str, PairRules],
    ) -> None:
        self.api = krakenex.API(api_key.reveal(), api_secret.reveal())
        self.api.uri = base_url
        self.api._nonce = MonotonicNonce()  # type: ignore[method-assign]
        self.timeout_s = timeout_s
        self.pairs = pairs

    def place_market(
        self,
        symbol: str,
        side: Side,
        qty: Decimal,
        client_id: str,
        deadline_s: float,
        venue_now_s: float,
    ) -> str:
        result = self._private(
            "AddOrder",
            {
                "pair": self._rest_pair(symbol),
                "type": side.value,
                "ordertype": "market",
                "volume": format(qty, "f"),
                "cl_ord_id": client_id,
                "deadline": kraken_deadline(venue_now_s, deadline_s),
            },
        )
        return str(result["txid"][0])

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
        data = {
            "pair": self._rest_pair(symbol),
            "type": side.value,
            "ordertype": "limit",
            "price": format(price, "f"),
            "volume": format(qty, "f"),
            "cl_ord_id": client_id,
            "deadline": kraken_deadline(venue_now_s, deadline_s),
        }
        if post_only:
            data["oflags"] = "post"
        if immediate_or_cancel:
            data["timeinforce"] = "IOC"
        return str(self._private("AddOrder", data)["txid"][0])

    def amend(self, symbol: str, txid: str, qty: Decimal, price: Decimal) -> None:
        # AmendOrder, as ccxt's edit_order: in place, same txid, fills kept.
        self._rest_pair(symbol)  # an unknown symbol is refused here, as everywhere
        self._private(
            "AmendOrder",
            {"txid": txid, "order_qty": format(qty, "f"), "limit_price": format(price, "f")},
        )

    def find(self, client_id: str, since_ms: int) -> VenueOrder | None:
        opened = self._private("OpenOrders", {"cl_ord_id": client_id})["open"]
        for txid, raw in opened.items():
            return parse_kraken_order(txid, raw)
        closed = self._private(
            "ClosedOrders", {"cl_ord_id": client_id, "start": str(since_ms // 1000)}
        )["closed"]
        for txid, raw in closed.items():
            return parse_kraken_order(txid, raw)
        return None

    def query(self, txid: str) -> VenueOrder:
        found = self._private("QueryOrders", {"txid": txid})
        if txid not in found:
            raise VenueError(VenueErrorKind.REFUSED, "EOrder:Unknown order")
        return parse_kraken_order(txid, found[txid])

    def query_many(self, txids: list[str]) -> dict[str, VenueOrder]:
        found = self._private("QueryOrders", {"txid": ",".join(txids)})
        return {txid: parse_kraken_order(txid, raw) for txid, raw in found.items()}

    def cancel(self, txid: str) -> None:
        self._private("CancelOrder", {"txid": txid})

    def base_balance(self, symbol: str) -> Decimal:
        rest_pair = self._rest_pair(symbol)
        pairs = self._public("AssetPairs", {"pair": rest_pair})
        base = next((p["base"] for p in pairs.values() if p.get("altname") == rest_pair), None)
        if base is None:
            raise VenueError(VenueErrorKind.REFUSED, "EQuery:Unknown asset pair")
        return Decimal(str(self._private("Balance", {}).get(base) or "0"))

    def open_orders(self) -> list[VenueOrder]:
        opened = self._private("OpenOrders", {})["open"]
        return [parse_kraken_order(txid, raw) for txid, raw in opened.items()]

    def server_time_s(self) -> float:
        return float(self._public("Time", {})["unixtime"])

    def cancel_all_after(self, timeout_s: int) -> None:
        self._private("CancelAllOrdersAfter", {"timeout": str(timeout_s)})

    def _rest_pair(self, symbol: str) -> str:
        rules = self.pairs.get(symbol)
        if rules is None or rules.rest_pair is None:
            raise VenueError(VenueErrorKind.REFUSED, f"no Kraken REST pair for {symbol}")
        return rules.rest_pair

    def _private(self, method: str, data: dict[str, str]) -> dict[str, Any]:
        return self._checked(lambda: self.api.query_private(method, data, timeout=self.timeout_s))

    def _public(self, method: str, data: dict[str, str]) -> dict[str, Any]:
        return self._checked(lambda: self.api.query_public(method, data, timeout=self.timeout_s))

    @staticmethod
    def _checked(call: Any) -> dict[str, Any]:
        try:
            reply = call()
        except requests.HTTPError as e:
            status = e.response.status_code if e.response is not None else 0
            raise VenueError(classify_http_status(status), f"HTTP {status}") from None
        except (requests.RequestException, ValueError) as e:  # timeouts, drops, bad JSON
            raise VenueError(VenueErrorKind.UNKNOWN_OUTCOME, type(e).__name__) from None
        messages = reply.get("error") or []
        errors = [m for m in messages if m.startswith("E")]
        if errors:
            raise VenueError(classify_kraken_error(errors[0]), errors[0])
        if messages:
            log.warning("Kraken warning: %s", "; ".join(messages))
        result: dict[str, Any] = reply.get("result") or {}
        return result
