"""What the engine needs from an order executor, paper or live, and the pair rules both apply.

`PaperOrderExecutor` fills from ticks; `LiveOrderExecutor` sends to a venue
and reports back later. The engine sizes, risk-checks and numbers the orders;
an executor only conforms, carries out and (paper) fills them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Final, Protocol

from common.messages import (
    CancelReason,
    Fill,
    OrderCancelled,
    OrderRejected,
    OrderSubmitted,
    OrderType,
    RejectReason,
    Side,
    Tick,
    TimeInForce,
)
from services.executor.quantities import floor_lots
from venues.kraken.pairs import ONLINE, PairRules

Refusal = tuple[RejectReason, str]
# What a paper venue reports from a tick: fills, cancelled remainders, post-only refusals.
VenueEvent = Fill | OrderCancelled | OrderRejected


@dataclass(frozen=True)
class OrderTerms:
    """How an order is to be worked; the default is a market order (`MARKET`)."""

    order_type: OrderType = OrderType.MARKET
    limit_price: float | None = None  # on the pair's price grid (PairRules.price_increment)
    time_in_force: TimeInForce = TimeInForce.GTC
    post_only: bool = False

    @classmethod
    def of(cls, order: OrderSubmitted) -> OrderTerms:
        """The terms a journaled or published order was sent with."""
        return cls(order.order_type, order.limit_price, order.time_in_force, order.post_only)


MARKET = OrderTerms()


class OrderExecutor(Protocol):
    pairs: dict[str, PairRules]  # the venue's pair rules: fills are kept on their lot grid

    def conform(self, symbol: str, qty: float, price: float) -> tuple[float, Refusal | None]:
        """Cut `qty` to what the venue accepts, or say why it would refuse it."""
        ...

    def submit(
        self,
        order_id: str,
        target_id: str,
        symbol: str,
        side: Side,
        qty: float,
        event_ts_ns: int,
        terms: OrderTerms = MARKET,
    ) -> object: ...

    def cancel(self, order_id: str, event_ts_ns: int, reason: CancelReason) -> None:
        """Ask the venue to cancel; the order may still fill until the cancel arrives.

        The outcome comes back as an `OrderCancelled` (paper: from `on_tick`;
        live: a report).
        """
        ...

    def on_tick(self, tick: Tick, only_order_id: str | None = None) -> list[VenueEvent]:
        """What this tick makes happen (paper); a live venue's reports come another way."""
        ...


NEVER: Final = sys.maxsize  # `QuietRuns.quiet_until` with no order on its way


class QuietRuns(Protocol):
    """An executor a replay's ticks may reach a quiet run at a time (paper's)."""

    def quiet_until(self, symbol: str) -> int | None:
        """Until when (event time, ns) no tick of `symbol` can fill or matter later;
        None while no tick can be quiet (a resting order)."""
        ...

    def refresh_book(self, last_quote: Tick) -> None:
        """A quiet run's last quote becomes its symbol's book."""
        ...


def conform_to_pair_rules(
    pairs: dict[str, PairRules], symbol: str, qty: float, price: float
) -> tuple[float, Refusal | None]:
    """Cut `qty` to the pair's lot size and check Kraken's minimum size and cost.

    A pair Kraken has not `online` (cancel_only, post_only, ...) takes no market order.
    """
    rules = pairs.get(symbol)
    if rules is None:
        return 0.0, (RejectReason.UNKNOWN_SYMBOL, f"no pair rules for {symbol}")
    if rules.status != ONLINE:  # cancel_only, post_only, ...: Kraken takes no market order
        return 0.0, (RejectReason.EXCHANGE_REJECTED, f"EService:Market in {rules.status} mode")
    conformed = floor_lots(qty, rules.qty_increment)
    qty_min, cost_min = rules.minimums
    if conformed < qty_min:
        return conformed, (RejectReason.MIN_ORDER_SIZE, f"{conformed} < minimum {rules.qty_min}")
    if conformed * price < cost_min:
        cost = conformed * price
        return conformed, (RejectReason.MIN_COST, f"cost {cost:.4f} < minimum {rules.cost_min}")
    return conformed, None
