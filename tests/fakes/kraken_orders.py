"""The fake Kraken account behind the fake REST API: its orders, balances and matching.

`FakeKrakenOrders` is the venue side of tests/fakes/kraken_rest.py (which
adds HTTP, signatures, nonces, faults and the dead-man switch): the private
order endpoints as Kraken answers them (AddOrder, CancelOrder, AmendOrder,
Open/Closed/QueryOrders, Balance, BalanceEx), with Kraken's Order objects
(docs/kraken-rest-live.md §3) and error strings.

Market orders fill at `mark_price` with Kraken's base taker fee;
`market_fill_fraction` below 1 leaves them open, partly filled, as a thin
book would. Given a `RecordedMarket` (tests/fakes/kraken_market.py), market
orders instead walk its current book (the one the fake WebSocket last sent,
when the market follows it), and what the book does not show stays open.

Limit orders (`price`, `oflags=post`, `timeinforce=IOC`) take what crosses
them on arrival (at the mark without a market) and rest with the rest; with
a market they then fill passively as tests/fakes/kraken_matching.py rules,
matched before every private call (or `match()`). A post-only order that
would take is cancelled with reason "Post only order"; an IOC order's rest
is cancelled. `AmendOrder` changes a resting order in place (same txid,
fills kept); `CancelOrder` of an order no longer open is "EOrder:Unknown
order". `fill(txid, qty)` fills a resting order by a test's hand.
Every method here runs under `_lock` (the HTTP side takes it per request).
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from tests.fakes.kraken_market import Level, RecordedMarket
from tests.fakes.kraken_matching import Resting, crossing_levels, passive_fill, rest

PAIRS = {
    "XXBTZUSD": {
        "altname": "XBTUSD",
        "wsname": "XBT/USD",
        "base": "XXBT",
        "quote": "ZUSD",
        "pair_decimals": 1,
        "lot_decimals": 8,
        "cost_decimals": 5,
        "ordermin": "0.00005",  # Kraken's, as in data/kraken_pairs.json (the engine's check)
        "costmin": "0.5",
        "tick_size": "0.1",
        "status": "online",
        "aclass_base": "currency",
        "aclass_quote": "currency",
        "lot": "unit",
        "lot_multiplier": 1,
        "fees": [[0, 0.4]],
        "fees_maker": [[0, 0.25]],
        "fee_volume_currency": "ZUSD",
        "margin_call": 80,
        "margin_stop": 40,
        "leverage_buy": [],
        "leverage_sell": [],
    }
}
WS_SYMBOLS = {"XXBTZUSD": "BTC/USD"}  # REST pair id -> the WS v2 symbol the market records

TAKER_FEE = Decimal("0.0040")  # Kraken spot's entry-tier taker fee, charged in the quote asset
MAKER_FEE = Decimal("0.0025")  # and its maker fee, for what rested before it filled
POST_ONLY_REASON: Final = "Post only order"  # Order.reason when post-only would have taken
CANCELLED_REASON: Final = "User requested"  # Order.reason after CancelOrder (docs §3)
# The `reason` of an IOC order's cancelled rest, and of an amend that cancels the rest
# (quantity at or below the filled volume): Kraken's exact strings are [unverified].
IOC_REASON: Final = "Immediate or cancel"
AMENDED_BELOW_FILLED_REASON: Final = "Order quantity amended below filled"

# AddOrder `deadline` refusals. Kraken documents the window (now + 2 s .. now + 60 s) but
# neither docs/kraken-rest-live.md nor the pages we could reach quote the strings
# [unverified]; the adapters treat any such refusal as a plain refusal of this order.
DEADLINE_ELAPSED: Final = "EOrder:Deadline elapsed"
DEADLINE_INVALID: Final = "EGeneral:Invalid arguments:deadline"
DEADLINE_MAX_AHEAD_S: Final = 60.0


class FakeKrakenOrders:
    """The account's orders and balances; the HTTP fake (`FakeKrakenRest`) derives from it."""

    def __init__(self, *, mark_price: str, market: RecordedMarket | None) -> None:
        self.mark_price = Decimal(mark_price)
        self.market = market
        self.market_fill_fraction = Decimal(1)
        self.balances = {"ZUSD": Decimal("10000"), "XXBT": Decimal("0")}
        self.orders: dict[str, dict[str, Any]] = {}
        self.clock_skew_s = 0.0  # the venue's clock minus this host's
        self._lock = threading.RLock()  # re-entered by a test's action that `fill`s
        self._resting: dict[str, Resting | None] = {}  # limit orders; None without a market
        self._next_txid = 0
        self._next_amend = 0

    def now_s(self) -> float:
        """The venue's clock: this host's, skewed by `clock_skew_s`."""
        return time.time() + self.clock_skew_s

    def fill_open_orders(self) -> None:
        """The book fills what market orders left open (a thin book refilled)."""
        with self._lock:
            for order in self.orders.values():
                if order["status"] == "open" and order["descr"]["ordertype"] == "market":
                    left = Decimal(order["vol"]) - Decimal(order["vol_exec"])
                    self._execute(order, self._market_levels(order, left))

    def match(self) -> None:
        """Fill resting limit orders as the recorded market has moved since (no market: none)."""
        with self._lock:
            if self.market is None:
                return
            for txid, resting in self._resting.items():
                order = self.orders[txid]
                if resting is None or order["status"] != "open":
                    continue
                left = Decimal(order["vol"]) - Decimal(order["vol_exec"])
                qty = passive_fill(resting, left, self.market)
                if qty > 0:
                    self._execute(order, [(resting.price, qty)], MAKER_FEE)

    def fill(self, txid: str, qty: Decimal | str) -> None:
        """Fill `qty` more of a resting limit order, at its price, as maker (a test's hand)."""
        with self._lock:
            order = self.orders[txid]
            left = Decimal(order["vol"]) - Decimal(order["vol_exec"])
            if order["status"] != "open" or not 0 < Decimal(qty) <= left:
                raise ValueError(f"cannot fill {qty} of {txid}: {order['status']}, {left} left")
            self._execute(order, [(Decimal(order["descr"]["price"]), Decimal(qty))], MAKER_FEE)

    def booked(self, client_id: str) -> list[dict[str, Any]]:
        """The orders booked under this client id (a resend would make two)."""
        return [o for o in self.orders.values() if o["cl_ord_id"] == client_id]

    def _private_AddOrder(self, p: dict[str, str]) -> dict[str, Any]:
        pair = next((k for k, v in PAIRS.items() if p.get("pair") in (k, v["altname"])), None)
        if pair is None:
            return {"error": ["EQuery:Unknown asset pair"]}
        if "cl_ord_id" in p and "userref" in p:
            return {"error": ["EGeneral:Invalid arguments"]}
        if "deadline" in p:
            problem = self._deadline_problem(p["deadline"])
            if problem:
                return {"error": [problem]}
        problem = _order_arguments_problem(p)
        if problem:
            return {"error": [problem]}
        volume = Decimal(p["volume"])
        side = p["type"]
        if p["ordertype"] == "limit":
            price = Decimal(p["price"])
        else:
            price = self._reference_price(pair, side)
        if volume < Decimal(PAIRS[pair]["ordermin"]):
            return {"error": ["EOrder:Order minimum not met"]}
        if volume * price < Decimal(PAIRS[pair]["costmin"]):
            return {"error": ["EOrder:Cost minimum not met"]}
        client_id = p.get("cl_ord_id")
        if client_id and any(
            o["cl_ord_id"] == client_id and o["status"] == "open" for o in self.orders.values()
        ):
            return {"error": ["EOrder:Duplicate order"]}
        if side == "buy" and volume * price > self.balances["ZUSD"]:
            return {"error": ["EOrder:Insufficient funds"]}
        if side == "sell" and volume > self.balances["XXBT"]:
            return {"error": ["EOrder:Insufficient funds"]}
        descr = f"{side} {volume:.8f} {PAIRS[pair]['altname']} @ {p['ordertype']}"
        if p.get("validate") in ("true", "True"):
            return {"error": [], "result": {"descr": {"order": descr}}}
        self._next_txid += 1
        txid = f"OFAKE{self._next_txid:02d}-AAAAA-BBBBBB"
        order = self.orders[txid] = {
            "cl_ord_id": client_id,
            "userref": int(p.get("userref", 0) or 0),
            "status": "open",
            "opentm": self.now_s(),
            "closetm": 0,
            "vol": f"{volume:.8f}",
            "vol_exec": f"{0:.8f}",
            "cost": f"{0:.5f}",
            "fee": f"{0:.5f}",
            "price": "0",
            "misc": "",
            "oflags": "",
            "reason": None,
            "descr": {
                "pair": PAIRS[pair]["altname"],
                "type": side,
                "ordertype": p["ordertype"],
                "price": p.get("price", "0"),
                "price2": "0",
                "leverage": "none",
                "order": descr,
                "close": "",
            },
        }
        if p["ordertype"] == "market":
            wanted = volume * self.market_fill_fraction
            self._execute(order, self._market_levels(order, wanted))
        else:
            order["oflags"] = p.get("oflags", "")
            immediate = p.get("timeinforce", "GTC").upper() == "IOC"
            self._place_limit(txid, order, WS_SYMBOLS[pair], price, immediate)
        return {"error": [], "result": {"descr": {"order": descr}, "txid": [txid]}}

    def _place_limit(
        self, txid: str, order: dict[str, Any], symbol: str, price: Decimal, immediate: bool
    ) -> None:
        """Take what crosses the order (or refuse it, post-only), then rest or cancel the rest."""
        side, volume = order["descr"]["type"], Decimal(order["vol"])
        post_only = "post" in order["oflags"].split(",")
        if self.market is None:
            crosses = price >= self.mark_price if side == "buy" else price <= self.mark_price
            taking = [(self.mark_price, volume)] if crosses else []
        else:
            bids, asks = self.market.book(symbol)
            crosses = bool(crossing_levels(side, price, bids, asks))
            taking = self.market.take(symbol, side, volume, limit=price) if crosses else []
        if post_only and crosses:  # Kraken books it, then cancels it rather than take
            return self._close(order, "canceled", POST_ONLY_REASON)
        self._execute(order, taking)
        if order["status"] != "open":
            return None
        if immediate:
            return self._close(order, "canceled", IOC_REASON)
        resting = None if self.market is None else rest(self.market, symbol, side, price)
        self._resting[txid] = resting
        return None

    def _market_levels(self, order: dict[str, Any], qty: Decimal) -> list[Level]:
        """Where a market order's `qty` executes: the recorded book's levels, or the mark."""
        if self.market is None:
            return [(self.mark_price, qty)] if qty > 0 else []
        symbol = WS_SYMBOLS[self._pair_id(order["descr"]["pair"])]
        return self.market.take(symbol, order["descr"]["type"], qty)

    def _reference_price(self, pair: str, side: str) -> Decimal:
        """What a market order is checked against (cost minimum, funds): the touch or mark."""
        if self.market is None:
            return self.mark_price
        bids, asks = self.market.book(WS_SYMBOLS[pair])
        touch = asks if side == "buy" else bids
        return touch[0][0] if touch else self.mark_price

    @staticmethod
    def _pair_id(name: str) -> str:
        return next(k for k, v in PAIRS.items() if name in (k, v["altname"]))

    def _close(self, order: dict[str, Any], status: str, reason: str) -> None:
        order["status"], order["reason"], order["closetm"] = status, reason, self.now_s()

    def _execute(
        self, order: dict[str, Any], levels: list[Level], fee_rate: Decimal = TAKER_FEE
    ) -> None:
        """Fill more of `order`: `qty` at `price` per level, the fee (quote) at `fee_rate`."""
        for price, qty in levels:
            executed = Decimal(order["vol_exec"]) + qty
            cost = Decimal(order["cost"]) + qty * price
            fee = Decimal(order["fee"]) + qty * price * fee_rate
            order["vol_exec"], order["cost"] = f"{executed:.8f}", f"{cost:.5f}"
            order["fee"] = f"{fee:.5f}"
            order["price"] = f"{cost / executed:.1f}"
            if executed == Decimal(order["vol"]):
                order["status"], order["closetm"] = "closed", self.now_s()
            sign = 1 if order["descr"]["type"] == "buy" else -1
            self.balances["XXBT"] += sign * qty
            self.balances["ZUSD"] -= sign * qty * price + qty * price * fee_rate

    def _deadline_problem(self, text: str) -> str | None:
        """Kraken's engine drops an order that reaches it after its `deadline`."""
        try:
            deadline_s = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return DEADLINE_INVALID
        now_s = self.now_s()
        if deadline_s <= now_s:
            return DEADLINE_ELAPSED
        if deadline_s > now_s + DEADLINE_MAX_AHEAD_S:
            return DEADLINE_INVALID
        return None

    def _matching(self, p: dict[str, str], status: set[str]) -> dict[str, Any]:
        client_id = p.get("cl_ord_id")
        return {
            txid: order
            for txid, order in self.orders.items()
            if order["status"] in status and (client_id is None or order["cl_ord_id"] == client_id)
        }

    def _private_OpenOrders(self, p: dict[str, str]) -> dict[str, Any]:
        return {"error": [], "result": {"open": self._matching(p, {"open", "pending"})}}

    def _private_ClosedOrders(self, p: dict[str, str]) -> dict[str, Any]:
        closed = self._matching(p, {"closed", "canceled", "expired"})
        return {"error": [], "result": {"closed": closed, "count": len(closed)}}

    def _private_QueryOrders(self, p: dict[str, str]) -> dict[str, Any]:
        ids = p.get("txid", "").split(",")
        return {"error": [], "result": {t: self.orders[t] for t in ids if t in self.orders}}

    def _open_order(self, p: dict[str, str]) -> tuple[str, dict[str, Any]] | None:
        wanted = p.get("txid") or p.get("cl_ord_id")
        for txid, order in self.orders.items():
            if wanted in (txid, order["cl_ord_id"]) and order["status"] == "open":
                return txid, order
        return None

    def _private_CancelOrder(self, p: dict[str, str]) -> dict[str, Any]:
        found = self._open_order(p)
        if found is None:  # never placed, or filled / cancelled already
            return {"error": ["EOrder:Unknown order"]}
        self._close(found[1], "canceled", CANCELLED_REASON)
        return {"error": [], "result": {"count": 1}}

    def _private_AmendOrder(self, p: dict[str, str]) -> dict[str, Any]:
        """In place (Kraken's atomic amend): same txid, fills kept; a new price re-queues it."""
        found = self._open_order(p)
        if found is None:
            return {"error": ["EOrder:Unknown order"]}
        txid, order = found
        if order["descr"]["ordertype"] != "limit":
            return {"error": ["EGeneral:Invalid arguments"]}  # [unverified]: limit orders here
        old_qty, old_price = Decimal(order["vol"]), Decimal(order["descr"]["price"])
        qty = Decimal(p.get("order_qty", order["vol"]))
        price = Decimal(p.get("limit_price", order["descr"]["price"]))
        side = order["descr"]["type"]
        post_only = "post" in order["oflags"].split(",") or p.get("post_only") in ("true", "True")
        symbol = WS_SYMBOLS[self._pair_id(order["descr"]["pair"])]
        if self.market is None:
            crosses = price >= self.mark_price if side == "buy" else price <= self.mark_price
        else:
            bids, asks = self.market.book(symbol)
            crosses = bool(crossing_levels(side, price, bids, asks))
        if post_only and crosses and price != old_price:
            return {"error": [f"EOrder:{POST_ONLY_REASON}"]}  # the string is [unverified]
        self._next_amend += 1
        amend_id = f"TAMEND{self._next_amend:02d}-CCCCC-DDDDDD"
        if qty <= Decimal(order["vol_exec"]):  # Kraken: the remaining quantity is cancelled
            self._close(order, "canceled", AMENDED_BELOW_FILLED_REASON)
            return {"error": [], "result": {"amend_id": amend_id}}
        order["vol"] = f"{qty:.8f}"
        order["descr"]["price"] = f"{price}"
        order["descr"]["order"] = f"{side} {qty:.8f} {order['descr']['pair']} @ limit {price}"
        if price != old_price or qty > old_qty:  # priority is kept only for a smaller size
            if crosses:
                left = qty - Decimal(order["vol_exec"])
                if self.market is None:
                    self._execute(order, [(self.mark_price, left)])
                else:
                    self._execute(order, self.market.take(symbol, side, left, limit=price))
            if order["status"] == "open" and self.market is not None:
                self._resting[txid] = rest(self.market, symbol, side, price)
        return {"error": [], "result": {"amend_id": amend_id}}

    def _private_Balance(self, p: dict[str, str]) -> dict[str, Any]:
        return {"error": [], "result": {k: f"{v:.4f}" for k, v in self.balances.items()}}

    def _private_BalanceEx(self, p: dict[str, str]) -> dict[str, Any]:
        result = {
            k: {"balance": f"{v:.4f}", "hold_trade": "0.0000"} for k, v in self.balances.items()
        }
        return {"error": [], "result": result}


def _order_arguments_problem(p: dict[str, str]) -> str | None:
    """Kraken's `EGeneral:Invalid arguments[:field]` for what an AddOrder must carry."""
    if p.get("type") not in ("buy", "sell"):
        return "EGeneral:Invalid arguments:type"
    if p.get("ordertype") not in ("market", "limit"):  # the fake's subset of Kraken's types
        return "EGeneral:Invalid arguments:ordertype"
    for field in ("volume", "price") if p["ordertype"] == "limit" else ("volume",):
        try:
            if Decimal(p[field]) <= 0:
                return f"EGeneral:Invalid arguments:{field}"
        except (KeyError, ArithmeticError):  # missing, or not a number
            return f"EGeneral:Invalid arguments:{field}"
    if p.get("timeinforce", "GTC").upper() not in ("GTC", "IOC", "GTD"):
        return "EGeneral:Invalid arguments:timeinforce"
    return None
