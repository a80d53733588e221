"""`live_order`: what each venue reading of a live order means, without a venue."""

from __future__ import annotations

from decimal import Decimal

from common.messages import (
    CancelReason,
    Liquidity,
    OrderCancelled,
    OrderRejected,
    OrderType,
    RejectReason,
    Side,
    TimeInForce,
)
from services.executor.live_order import LiveOrder, limit_order_end, new_fill
from services.executor.order_executor import OrderTerms
from venues.order import VenueOrder

D = Decimal
GTC = OrderTerms(OrderType.LIMIT, 100.0, TimeInForce.GTC)


def _order(terms: OrderTerms = GTC) -> LiveOrder:
    return LiveOrder("o-1", "t-1", "BTC/USD", Side.BUY, D("1"), sent_ms=0, terms=terms)


def _state(
    status: str, executed: str, reason: str | None = None, post_only_refused: bool = False
) -> VenueOrder:
    qty = D(executed)
    return VenueOrder(
        "TX-1",
        "o-1",
        status,
        D("1"),
        qty,
        qty * 100,
        qty * D("0.25"),
        reason=reason,
        post_only_refused=post_only_refused,
    )


def test_each_reading_reports_only_what_it_adds() -> None:
    """Readings of 0.3 then 0.5 executed: fills of 0.3 and 0.2; the same reading again: none."""
    order = _order()
    order.reads = 2  # resting: later readings are maker
    first = new_fill(order, _state("open", "0.3"), 1)
    second = new_fill(order, _state("open", "0.5"), 2)
    assert first is not None and second is not None
    assert (first.qty, second.qty) == (0.3, 0.2) and second.liquidity is Liquidity.MAKER
    assert new_fill(order, _state("open", "0.5"), 3) is None


def test_a_plain_limits_fill_at_the_first_reading_is_taker_a_post_only_always_maker() -> None:
    """Kraken's Order does not say: a fill seen on arrival is taken as the dearer, taker."""
    plain = _order()
    plain.reads = 1
    assert (fill := new_fill(plain, _state("open", "0.1"), 1)) and fill.liquidity is Liquidity.TAKER
    post = _order(OrderTerms(OrderType.LIMIT, 100.0, TimeInForce.GTC, post_only=True))
    post.reads = 1
    assert (fill := new_fill(post, _state("open", "0.1"), 1)) and fill.liquidity is Liquidity.MAKER


def test_the_end_covers_only_what_the_venue_left_unfilled() -> None:
    """Cancelled after 0.7 filled: 0.3 cancelled, with the engine's reason; all filled: no end."""
    order = _order()
    order.cancel_reason = CancelReason.REQUOTE
    end = limit_order_end(order, _state("canceled", "0.7", reason="User requested"), 1)
    assert isinstance(end, OrderCancelled) and end.reason is CancelReason.REQUOTE
    assert end.qty == float(D("0.3"))
    assert limit_order_end(order, _state("closed", "1"), 1) is None
    assert limit_order_end(order, _state("open", "0.2"), 1) is None  # still working


def test_an_unasked_close_is_ioc_or_venue_and_a_refused_post_only_is_a_rejection() -> None:
    """No cancel asked: IOC's rest is `ioc`, a venue cancel `venue`; post-only: rejected."""
    ioc_order = _order(OrderTerms(OrderType.LIMIT, 100.0, TimeInForce.IOC))
    ioc = limit_order_end(ioc_order, _state("canceled", "0.4"), 1)
    assert isinstance(ioc, OrderCancelled) and ioc.reason is CancelReason.IOC
    venue = limit_order_end(_order(), _state("canceled", "0", reason="Dead man switch"), 1)
    assert isinstance(venue, OrderCancelled) and venue.reason is CancelReason.VENUE
    refused = limit_order_end(_order(), _state("canceled", "0", post_only_refused=True), 1)
    assert isinstance(refused, OrderRejected) and refused.reason is RejectReason.POST_ONLY
    assert refused.qty == 1.0
