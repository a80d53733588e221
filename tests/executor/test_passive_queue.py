"""Paper's passive fills: the queue model and the limit-order rules, on hand-checked ticks."""

from __future__ import annotations

from decimal import Decimal

import pytest

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
from services.executor.order_executor import OrderTerms, VenueEvent
from services.executor.paper import PaperOrderExecutor
from services.executor.passive_queue import INFINITE, displayed_size, join
from tests.factories import make_tick, make_trade
from venues.kraken.pairs import PairRules

MS = 1_000_000
T0 = 1_000_000_000_000
PAIRS = {
    "BTC/USD": PairRules(
        "BTC/USD", 1, 8, Decimal("0.1"), Decimal("0.0001"), Decimal("0.0001"), Decimal("0.5")
    )
}
POST_ONLY = OrderTerms(OrderType.LIMIT, 100.0, TimeInForce.GTC, post_only=True)


def quote(seq: int, t_ms: int, bid: float = 100.0, ask: float = 100.2, bid_size: float = 2.0):
    return make_tick(
        seq=seq,
        recv_ts_ns=T0 + t_ms * MS,
        exch_ts_ns=T0 + t_ms * MS,
        bid=bid,
        ask=ask,
        bid_size=bid_size,
        ask_size=1.0,
    )


def trade(seq: int, t_ms: int, price: float, size: float, aggressor: Side = Side.SELL):
    return make_trade(
        seq=seq,
        recv_ts_ns=T0 + t_ms * MS,
        exch_ts_ns=T0 + t_ms * MS,
        last=price,
        last_size=size,
        side=aggressor,
    )


def paper(latency_ms: float = 10.0) -> PaperOrderExecutor:
    return PaperOrderExecutor(PAIRS, latency_ms=latency_ms, taker_fee_bps=40, maker_fee_bps=25)


def resting_buy(
    venue: PaperOrderExecutor, qty: float = 1.0, terms: OrderTerms = POST_ONLY
) -> list[VenueEvent]:
    """A buy at 100.0 sent at t=0, arriving at 10 ms on a book with 2.0 bid there."""
    venue.on_tick(quote(1, 0))
    venue.submit("o-1", "t-1", "BTC/USD", Side.BUY, qty, T0, terms)
    return venue.on_tick(quote(2, 10))


def fills(events: list[VenueEvent]) -> list[Fill]:
    return [e for e in events if isinstance(e, Fill)]


def test_join_behind_the_displayed_size_or_first_when_improving() -> None:
    """An order joins behind the size shown at its price; improving the best, nobody is ahead."""
    book = quote(1, 0, bid=100.0, bid_size=2.0)
    assert join(book, Side.BUY, 100.0).ahead == 2.0
    assert join(book, Side.BUY, 100.1).ahead == 0.0
    assert join(book, Side.SELL, 100.2).ahead == 1.0
    assert displayed_size(book, Side.BUY, 99.9) is None  # deeper than a one-level book shows


def test_trade_at_the_price_reduces_the_queue_then_fills() -> None:
    """Trades at the price eat the 2.0 ahead first; only what is left reaches the order."""
    venue = paper()
    assert resting_buy(venue) == []
    assert venue.on_tick(trade(3, 20, 100.0, 1.5)) == []  # 0.5 still ahead
    got = fills(venue.on_tick(trade(4, 30, 100.0, 0.75)))
    assert [(f.qty, f.price, f.liquidity) for f in got] == [(0.25, 100.0, Liquidity.MAKER)]
    assert got[0].fee == 0.25 * 100.0 * 25 / 1e4  # the maker fee
    assert got[0].tick_seq == 4


def test_a_buy_aggressor_at_the_price_does_not_reach_a_resting_buy() -> None:
    """A trade that lifted the offer at our bid price took the other side: no fill, no queue."""
    venue = paper()
    resting_buy(venue)
    assert venue.on_tick(trade(3, 20, 100.0, 5.0, aggressor=Side.BUY)) == []
    assert venue.open_orders["o-1"].queue.ahead == 2.0  # type: ignore[union-attr]


def test_cancellations_reduce_the_queue_in_proportion() -> None:
    """A level that shrinks by more than traded there lost the rest to cancels, spread evenly."""
    venue = paper()
    resting_buy(venue)  # 2.0 ahead of us at 100.0
    queue = venue.open_orders["o-1"].queue
    assert queue is not None
    venue.on_tick(quote(3, 20, bid_size=3.0))  # 1.0 joined behind us: ahead unchanged
    assert queue.ahead == 2.0
    venue.on_tick(trade(4, 30, 100.0, 0.5))  # ahead 1.5; the level 2.5 after it
    venue.on_tick(quote(5, 40, bid_size=2.0))  # 0.5 more left: cancels, 1/5 of the level
    assert queue.ahead is not None and abs(queue.ahead - 1.5 * (1 - 0.5 / 2.5)) < 1e-12
    venue.on_tick(quote(6, 50, bid_size=1.0))  # half of the level cancelled
    assert abs(queue.ahead - 0.6) < 1e-12


def test_never_fills_before_the_queue_ahead_is_gone() -> None:
    """Trades at the price smaller than the queue ahead never reach the order, however many."""
    venue = paper()
    resting_buy(venue)
    for n in range(19):
        assert venue.on_tick(trade(3 + n, 20 + n, 100.0, 0.1)) == []
    got = fills(venue.on_tick(trade(30, 50, 100.0, 0.3)))  # 1.9 + 0.3: 0.2 past the queue
    assert [round(f.qty, 12) for f in got] == [0.2]


def test_trade_through_the_price_fills_the_whole_order() -> None:
    """A sell printing below our bid means our whole level traded: filled at our price."""
    venue = paper()
    resting_buy(venue)
    got = fills(venue.on_tick(trade(3, 20, 99.9, 0.01)))
    assert [(f.qty, f.price, f.liquidity) for f in got] == [(1.0, 100.0, Liquidity.MAKER)]
    assert "o-1" not in venue.open_orders
    assert join(quote(1, 0), Side.BUY, 100.0).on_trade(99.9, 0.01, Side.SELL) == INFINITE


def test_book_trading_through_fills_up_to_the_size_across_it() -> None:
    """An ask at or below our resting bid: we are filled from that displayed size, as maker."""
    venue = paper()
    resting_buy(venue)
    crossed = make_tick(seq=3, recv_ts_ns=T0 + 20 * MS, bid=99.8, ask=100.0, ask_size=0.4)
    got = fills(venue.on_tick(crossed))
    assert [(f.qty, f.price, f.liquidity) for f in got] == [(0.4, 100.0, Liquidity.MAKER)]
    assert venue.open_orders["o-1"].remaining == 0.6


def test_post_only_that_would_cross_on_arrival_is_rejected() -> None:
    """The ask fell to our price before we arrived: Kraken refuses a post-only that would take."""
    venue = paper()
    venue.on_tick(quote(1, 0))
    venue.submit("o-1", "t-1", "BTC/USD", Side.BUY, 1.0, T0, POST_ONLY)
    events = venue.on_tick(quote(2, 10, bid=99.9, ask=100.0))
    assert len(events) == 1 and isinstance(events[0], OrderRejected)
    assert events[0].reason is RejectReason.POST_ONLY and events[0].qty == 1.0
    assert "EOrder:Post only order" in events[0].detail
    assert venue.open_orders == {}


def test_limit_takes_the_crossing_part_then_rests() -> None:
    """A limit buy at 100.2 on an ask of 1.0 there: 1.0 taken (taker), 0.5 rests first in line."""
    venue = paper()
    venue.on_tick(quote(1, 0))
    terms = OrderTerms(OrderType.LIMIT, 100.2, TimeInForce.GTC)
    venue.submit("o-1", "t-1", "BTC/USD", Side.BUY, 1.5, T0, terms)
    got = fills(venue.on_tick(quote(2, 10)))
    assert [(f.qty, f.price, f.liquidity) for f in got] == [(1.0, 100.2, Liquidity.TAKER)]
    assert got[0].fee == pytest.approx(1.0 * 100.2 * 40 / 1e4)
    resting = venue.open_orders["o-1"]
    assert resting.remaining == 0.5 and resting.queue is not None and resting.queue.ahead == 0.0


def test_ioc_rest_is_cancelled_on_arrival() -> None:
    """An IOC buy takes what the book shows up to its price; the rest is cancelled `ioc`."""
    venue = paper()
    venue.on_tick(quote(1, 0))
    terms = OrderTerms(OrderType.LIMIT, 100.2, TimeInForce.IOC)
    venue.submit("o-1", "t-1", "BTC/USD", Side.BUY, 1.5, T0, terms)
    events = venue.on_tick(quote(2, 10))
    assert isinstance(events[0], Fill) and events[0].qty == 1.0
    assert isinstance(events[1], OrderCancelled)
    assert (events[1].reason, events[1].qty) == (CancelReason.IOC, 0.5)
    assert venue.open_orders == {}


def test_cancel_race_fills_before_the_cancel_arrives() -> None:
    """A cancel sent at 20 ms reaches the venue at 30 ms: a trade-through at 25 ms still fills."""
    venue = paper()
    resting_buy(venue)
    venue.cancel("o-1", T0 + 20 * MS, CancelReason.REQUOTE)
    got = fills(venue.on_tick(trade(3, 25, 99.9, 0.01)))
    assert [f.qty for f in got] == [1.0]
    assert venue.on_tick(quote(4, 40)) == []  # nothing left to cancel: no event


def test_cancel_takes_effect_when_it_arrives_and_no_fill_after() -> None:
    """After the cancel's arrival the unfilled rest is reported cancelled; later trades miss it."""
    venue = paper()
    resting_buy(venue)
    venue.cancel("o-1", T0 + 20 * MS, CancelReason.RETARGET)
    assert venue.on_tick(quote(3, 25)) == []  # not arrived yet
    events = venue.on_tick(trade(4, 30, 99.9, 0.01))
    assert len(events) == 1 and isinstance(events[0], OrderCancelled)
    assert (events[0].qty, events[0].reason, events[0].ts_ns) == (
        1.0,
        CancelReason.RETARGET,
        T0 + 30 * MS,
    )
    assert venue.on_tick(trade(5, 40, 99.0, 5.0)) == []


def test_same_ticks_same_fills() -> None:
    """Deterministic in event time: the same ticks give the same events, run after run."""

    def run() -> list[VenueEvent]:
        venue = paper()
        out = resting_buy(venue)
        for n, size in enumerate((0.7, 0.9, 0.8, 0.6)):
            out += venue.on_tick(trade(3 + n, 20 + n, 100.0, size))
        return out

    assert run() == run() and fills(run())


def test_the_worked_example_of_docs_execution() -> None:
    """docs/EXECUTION.md's worked example, step by step."""
    venue = paper()
    assert resting_buy(venue) == []
    queue = venue.open_orders["o-1"].queue
    assert queue is not None
    venue.on_tick(quote(3, 20, bid_size=3.0))
    venue.on_tick(trade(4, 30, 100.0, 0.5))
    venue.on_tick(quote(5, 40, bid_size=2.0))
    assert queue.ahead is not None and abs(queue.ahead - 1.2) < 1e-12
    assert venue.on_tick(trade(6, 50, 100.0, 1.0)) == []
    assert [round(f.qty, 12) for f in fills(venue.on_tick(trade(7, 60, 100.0, 0.7)))] == [0.5]
    (last,) = fills(venue.on_tick(trade(8, 70, 99.9, 0.01)))
    assert (round(last.qty, 12), last.price, last.fee) == (0.5, 100.0, pytest.approx(0.125))
