"""One order on a live venue, and what each of the venue's readings of it means (pure).

`LiveOrder` is what the live worker (`live.py`) knows of an order: its terms,
its txid, how much of it has been reported. Each reading of the venue's
order (`VenueOrder`) becomes at most one new `Fill` (the increase since the
last report, so a fill is never counted twice) and, once the venue closed
the order, at most one end for the unfilled rest: `OrderCancelled` (the
engine's cancel reason, `ioc`, or `venue` when the venue cancelled it
unasked) or `OrderRejected(post_only)`. What is left is always the order's
size less what the venue executed: never negative, never counted twice.
No I/O and no clock reads here: the caller passes `now_ns`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from common.journal import OrderProgress
from common.messages import (
    CancelReason,
    Fill,
    Liquidity,
    OrderCancelled,
    OrderRejected,
    OrderType,
    RejectReason,
    Side,
    TimeInForce,
)
from services.executor.order_executor import MARKET, OrderTerms
from services.executor.quantities import exact
from venues.order import VenueOrder


class UnresolvedOrder(Exception):
    """The venue would not tell us what became of an order: the worker halts."""


@dataclass
class LiveOrder:
    """An order the worker owns, with what has been reported of it so far."""

    order_id: str
    target_id: str
    symbol: str
    side: Side
    qty: Decimal
    sent_ms: int  # wall clock when it was (or may have been) sent
    reported_qty: Decimal = Decimal(0)
    reported_cost: Decimal = Decimal(0)
    reported_fee: Decimal = Decimal(0)
    resumed: bool = False  # from the journal after a restart: it may be at the venue already
    deadline_at_s: float | None = None  # venue time its last AddOrder is void after
    terms: OrderTerms = MARKET
    txid: str | None = None  # once the venue booked it
    reads: int = 0  # venue readings of it so far (a fill at the first came on arrival)
    cancel_reason: CancelReason | None = None  # why it is being cancelled, once it is
    cancel_attempts: int = 0

    @classmethod
    def from_journal(cls, progress: OrderProgress) -> LiveOrder:
        """An order a previous run sent, with what its journal already holds of its fills."""
        order = progress.order
        return cls(
            order.order_id,
            order.target_id,
            order.symbol,
            order.side,
            exact(order.qty),
            sent_ms=order.ts_ns // 1_000_000,
            reported_qty=exact(progress.filled),
            reported_cost=exact(progress.cost),
            reported_fee=exact(progress.fee),
            resumed=True,
            terms=OrderTerms.of(order),
        )


@dataclass(frozen=True)
class CancelRequest:
    """The engine's cancel of a working order, queued behind everything sent before it."""

    order_id: str
    reason: CancelReason
    event_ts_ns: int


def new_fill(order: LiveOrder, state: VenueOrder, now_ns: int) -> Fill | None:
    """The fill this reading adds to what was reported (and now counts as reported).

    Raises:
        UnresolvedOrder: the venue reports executed volume without a cost.
    """
    qty = state.executed - order.reported_qty
    if qty <= 0:
        return None
    cost = state.cost - order.reported_cost
    if cost <= 0:
        raise UnresolvedOrder(f"order {order.order_id}: executed volume without a cost")
    fill = Fill(
        order_id=order.order_id,
        symbol=order.symbol,
        side=order.side,
        qty=float(qty),
        price=float(cost / qty),
        fee=float(state.fee - order.reported_fee),
        liquidity=liquidity(order),
        tick_seq=0,  # the engine stamps the last tick it has seen
        ts_ns=now_ns,
    )
    order.reported_qty, order.reported_cost = state.executed, state.cost
    order.reported_fee = state.fee
    return fill


def limit_order_end(
    order: LiveOrder, state: VenueOrder, now_ns: int
) -> OrderCancelled | OrderRejected | None:
    """How a limit order the venue closed ended for its unfilled rest; None if all filled."""
    unfilled = order.qty - state.executed
    if not state.done or unfilled <= 0:
        return None
    if state.post_only_refused:
        detail = f"venue {state.status} it: {state.reason or 'post-only would take'}"
        return rejection(order, RejectReason.POST_ONLY, detail, unfilled, now_ns)
    reason = order.cancel_reason
    if reason is None:
        ioc = order.terms.time_in_force is TimeInForce.IOC
        reason = CancelReason.IOC if ioc else CancelReason.VENUE
    detail = f"venue {state.status} it with {unfilled} unfilled"
    if state.reason:
        detail += f" ({state.reason})"
    return OrderCancelled(
        order_id=order.order_id,
        symbol=order.symbol,
        side=order.side,
        qty=float(unfilled),
        reason=reason,
        detail=detail,
        ts_ns=now_ns,
    )


def rejection(
    order: LiveOrder, reason: RejectReason, detail: str, qty: Decimal | None, now_ns: int
) -> OrderRejected:
    """The order's refusal; `qty` defaults to all that has not been reported filled."""
    return OrderRejected(
        order_id=order.order_id,
        target_id=order.target_id,
        symbol=order.symbol,
        side=order.side,
        qty=float(order.qty - order.reported_qty if qty is None else qty),
        reason=reason,
        detail=detail,
        ts_ns=now_ns,
    )


def liquidity(order: LiveOrder) -> Liquidity:
    """Maker or taker, by the order's terms (Kraken's Order object does not say).

    A plain limit order's fill seen by the first reading after placing counts
    as taker: it most likely crossed on arrival, and taker is the dearer guess.
    """
    terms = order.terms
    if terms.order_type is OrderType.MARKET or terms.time_in_force is TimeInForce.IOC:
        return Liquidity.TAKER
    if terms.post_only:
        return Liquidity.MAKER
    return Liquidity.TAKER if order.reads <= 1 else Liquidity.MAKER
