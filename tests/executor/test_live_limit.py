"""`LiveOrderExecutor` with limit, post-only and IOC orders, against the matching fake Kraken.

The worker places the order under the engine's order id, follows it while it
rests, and reports each fill and how the rest ended: cancelled (the engine's
reason, `ioc`, `stop`), or refused as post-only. A cancel that races a fill
reports the fill and cancels only what was left.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
import zmq
from websockets.sync.client import ClientConnection, connect

from common import wire
from common.journal import OrderProgress
from common.messages import (
    CancelReason,
    Fill,
    Liquidity,
    OrderCancelled,
    OrderRejected,
    OrderSubmitted,
    OrderType,
    RejectReason,
    Side,
    TimeInForce,
)
from services.executor.live import LiveOrderExecutor, Report
from services.executor.live_order import LiveOrder
from services.executor.order_executor import OrderTerms
from tests.conftest import scaled, wait_until
from tests.executor.test_live import FAST, KEY, PAIRS, PROVIDERS, SECRET, make_venue
from tests.fakes.kraken_market import RecordedMarket
from tests.fakes.kraken_rest import FakeKrakenRest
from tests.fakes.kraken_ws import FakeKrakenServer, load_book_fixture

D = Decimal
RESTING = OrderTerms(OrderType.LIMIT, 29420.0, TimeInForce.GTC, post_only=True)


@pytest.fixture
def fake() -> Iterator[FakeKrakenRest]:
    init, updates = load_book_fixture()
    market = RecordedMarket({"BTC/USD": (init, updates)})
    with FakeKrakenRest(KEY, SECRET, mark_price="29430.0", market=market) as server:
        yield server


@pytest.fixture
def live(
    request: pytest.FixtureRequest, fake: FakeKrakenRest, zmq_ctx: zmq.Context
) -> Iterator[LiveOrderExecutor]:
    executor = LiveOrderExecutor(make_venue(request.param, fake.url), PAIRS, zmq_ctx, FAST)
    executor.start()
    try:
        yield executor
    finally:
        executor.close(scaled(10))
        executor.reports.close()


def _submit(live: LiveOrderExecutor, order_id: str, qty: float, terms: OrderTerms) -> None:
    live.submit(order_id, "t-" + order_id, "BTC/USD", Side.BUY, qty, 0, terms)
    live.send_staged()


def _next(live: LiveOrderExecutor) -> Report:
    assert live.reports.poll(int(scaled(10) * 1000)), "no report from the worker"
    report = wire.decode(live.reports.recv())
    assert isinstance(report, (Fill, OrderRejected, OrderCancelled))
    return report


def _txid(fake: FakeKrakenRest, order_id: str) -> str:
    wait_until(lambda: fake.booked(order_id), scaled(10), f"{order_id} booked")
    [txid] = [t for t, o in fake.orders.items() if o["cl_ord_id"] == order_id]
    return txid


def _rest_of(live: LiveOrderExecutor) -> list[Report]:
    """Every report still to come once the worker stopped (a clean stop)."""
    assert live.close(scaled(10))
    reports = []
    while live.reports.poll(0):
        reports.append(wire.decode(live.reports.recv()))
    return reports


@pytest.mark.parametrize("live", PROVIDERS, indirect=True)
def test_a_resting_order_fills_partly_as_maker_then_its_cancel_covers_the_rest(
    live: LiveOrderExecutor, fake: FakeKrakenRest
) -> None:
    """Post-only at 29420 rests; 0.004 fills passively; the engine's cancel ends 0.006."""
    _submit(live, "lim-1", 0.01, RESTING)
    txid = _txid(fake, "lim-1")
    assert fake.orders[txid]["oflags"] == "post"
    fake.fill(txid, "0.004")
    fill = _next(live)
    assert isinstance(fill, Fill) and fill.liquidity is Liquidity.MAKER
    assert (fill.qty, fill.price) == (pytest.approx(0.004), pytest.approx(29420.0))
    live.cancel("lim-1", 0, CancelReason.RETARGET)
    cancelled = _next(live)
    assert isinstance(cancelled, OrderCancelled) and cancelled.reason is CancelReason.RETARGET
    assert cancelled.qty == pytest.approx(0.006)
    assert fake.orders[txid]["status"] == "canceled"
    assert _rest_of(live) == []


@pytest.mark.parametrize("live", PROVIDERS, indirect=True)
def test_a_cancel_racing_a_fill_reports_the_fill_and_cancels_only_what_was_left(
    live: LiveOrderExecutor, fake: FakeKrakenRest
) -> None:
    """The fill lands between the worker's last read and its cancel: no double count."""
    _submit(live, "race-1", 0.01, RESTING)
    txid = _txid(fake, "race-1")
    fake.fill(txid, "0.003")
    assert isinstance(first := _next(live), Fill) and first.qty == pytest.approx(0.003)
    fake.before_next("CancelOrder", lambda: fake.fill(txid, "0.007"))  # the rest fills first
    live.cancel("race-1", 0, CancelReason.REQUOTE)
    second = _next(live)
    assert isinstance(second, Fill) and second.qty == pytest.approx(0.007)
    assert _rest_of(live) == []  # the cancel found nothing left: no OrderCancelled
    assert fake.orders[txid]["status"] == "closed"


@pytest.mark.parametrize("live", ["krakenex"], indirect=True)
def test_a_fill_landing_just_before_a_cancel_that_succeeds_shrinks_what_is_cancelled(
    live: LiveOrderExecutor, fake: FakeKrakenRest
) -> None:
    """0.004 fills between the last read and the cancel: 0.004 filled, 0.006 cancelled."""
    _submit(live, "race-2", 0.01, RESTING)
    txid = _txid(fake, "race-2")
    fake.before_next("CancelOrder", lambda: fake.fill(txid, "0.004"))
    live.cancel("race-2", 0, CancelReason.RETARGET)
    fill, cancelled = _next(live), _next(live)
    assert isinstance(fill, Fill) and fill.qty == pytest.approx(0.004)
    assert isinstance(cancelled, OrderCancelled) and cancelled.qty == pytest.approx(0.006)
    assert _rest_of(live) == []


@pytest.mark.parametrize("live", ["ccxt"], indirect=True)
def test_resting_orders_are_followed_with_one_query_per_poll(
    live: LiveOrderExecutor, fake: FakeKrakenRest
) -> None:
    """Two resting orders, one QueryOrders naming both: polls spend the REST counter once."""
    _submit(live, "two-1", 0.01, RESTING)
    _submit(live, "two-2", 0.01, RESTING)
    first, second = _txid(fake, "two-1"), _txid(fake, "two-2")

    def both_in_one_query() -> bool:
        bodies = [e["body"] for e in fake.log if e["method"] == "QueryOrders"]
        return any(first in body and second in body for body in bodies)

    wait_until(both_in_one_query, scaled(10), "one QueryOrders naming both orders")
    fake.fill(second, "0.01")
    fill = _next(live)
    assert isinstance(fill, Fill) and fill.order_id == "two-2"


@pytest.mark.parametrize("live", PROVIDERS, indirect=True)
def test_a_post_only_order_that_would_take_is_rejected_as_post_only(
    live: LiveOrderExecutor, fake: FakeKrakenRest
) -> None:
    """At the best ask, Kraken cancels it ("Post only order"): rejected, reason post_only."""
    terms = OrderTerms(OrderType.LIMIT, 29430.3, TimeInForce.GTC, post_only=True)
    _submit(live, "post-1", 0.01, terms)
    rejected = _next(live)
    assert isinstance(rejected, OrderRejected) and rejected.reason is RejectReason.POST_ONLY
    assert rejected.qty == pytest.approx(0.01)


@pytest.mark.parametrize("live", ["krakenex"], indirect=True)
def test_an_ioc_order_reports_what_crossed_as_taker_and_cancels_the_rest(
    live: LiveOrderExecutor, fake: FakeKrakenRest
) -> None:
    """IOC at the best ask for more than it shows: a taker fill, then `ioc` for the rest."""
    fake.balances["ZUSD"] = D("1000000")
    _submit(live, "ioc-1", 10.0, OrderTerms(OrderType.LIMIT, 29430.3, TimeInForce.IOC))
    fill, cancelled = _next(live), _next(live)
    assert isinstance(fill, Fill) and fill.liquidity is Liquidity.TAKER
    assert fill.qty == pytest.approx(8.25215653) and fill.price == pytest.approx(29430.3)
    assert isinstance(cancelled, OrderCancelled) and cancelled.reason is CancelReason.IOC
    assert cancelled.qty == pytest.approx(10 - 8.25215653)


@pytest.mark.parametrize("live", ["ccxt"], indirect=True)
def test_a_clean_stop_cancels_what_still_rests(
    live: LiveOrderExecutor, fake: FakeKrakenRest
) -> None:
    """Nothing is left resting at the venue by a clean stop: its cancel reason is `stop`."""
    _submit(live, "stop-1", 0.01, RESTING)
    txid = _txid(fake, "stop-1")
    [cancelled] = _rest_of(live)
    assert isinstance(cancelled, OrderCancelled) and cancelled.reason is CancelReason.STOP
    assert cancelled.qty == pytest.approx(0.01) and fake.orders[txid]["status"] == "canceled"
    assert fake.dead_man_calls[-1] == 0  # nothing working: the switch is disarmed


def test_a_resting_order_fills_as_the_fake_feed_plays_the_book_through_its_price(
    fake_feed: FakeKrakenServer, zmq_ctx: zmq.Context
) -> None:
    """One clock: the venue's book is the one the feed last sent, update by update.

    A post-only sell rests at 29430.4; update 456 of the recording shows a bid
    of 0.035 there. Only once a feed client has read that update does the
    venue fill 0.035, passively, at the limit; the engine's cancel ends the rest.
    """
    market = RecordedMarket.following(fake_feed)
    with FakeKrakenRest(KEY, SECRET, market=market) as venue_fake:
        venue_fake.balances["XXBT"] = D("1")
        live = LiveOrderExecutor(make_venue("krakenex", venue_fake.url), PAIRS, zmq_ctx, FAST)
        live.start()
        try:
            terms = OrderTerms(OrderType.LIMIT, 29430.4, TimeInForce.GTC, post_only=True)
            live.submit("feed-1", "t-feed-1", "BTC/USD", Side.SELL, 0.05, 0, terms)
            live.send_staged()
            _txid(venue_fake, "feed-1")
            with connect(fake_feed.url) as feed:
                feed.send(json.dumps(BOOK_SUBSCRIBE))
                _read_updates(feed, fake_feed, 455)
                assert not live.reports.poll(int(FAST.poll_s * 4 * 1000))  # not yet
                _read_updates(feed, fake_feed, 1)
                fill = _next(live)
            assert isinstance(fill, Fill) and fill.liquidity is Liquidity.MAKER
            assert (fill.qty, fill.price) == (pytest.approx(0.035), pytest.approx(29430.4))
            live.cancel("feed-1", 0, CancelReason.REQUOTE)
            cancelled = _next(live)
            assert isinstance(cancelled, OrderCancelled)
            assert cancelled.qty == pytest.approx(0.015)
        finally:
            live.close(scaled(10))
            live.reports.close()


BOOK_SUBSCRIBE = {
    "method": "subscribe",
    "params": {"channel": "book", "symbol": ["BTC/USD"], "depth": 10},
}


@pytest.fixture
def fake_feed() -> Iterator[FakeKrakenServer]:
    with FakeKrakenServer(paced=True) as server:
        yield server


def _read_updates(feed: ClientConnection, server: FakeKrakenServer, count: int) -> None:
    """Let `count` more book updates out and read them, as the feed service would."""
    wanted = server.sent_updates + count  # exact: the last call waited for its count
    server.allow(count)
    read = 0
    while read < count:
        message = json.loads(feed.recv(timeout=scaled(10)))
        read += message.get("type") == "update" and message.get("channel") == "book"
    wait_until(lambda: server.sent_updates >= wanted, scaled(10), "the server's count")


def test_a_resting_order_a_previous_run_left_is_settled_and_cancelled_at_start(
    fake: FakeKrakenRest, zmq_ctx: zmq.Context
) -> None:
    """Journaled with 0.002 filled; at the venue 0.005: 0.003 is reported, 0.005 cancelled."""
    venue = make_venue("krakenex", fake.url)
    txid = venue.place_limit(
        "BTC/USD",
        Side.BUY,
        D("0.01"),
        D("29420"),
        "old-1",
        10.0,
        fake.now_s(),
        post_only=True,
        immediate_or_cancel=False,
    )
    fake.fill(txid, "0.005")
    submitted = OrderSubmitted(
        order_id="old-1",
        target_id="t-old-1",
        symbol="BTC/USD",
        side=Side.BUY,
        qty=0.01,
        ref_price=29430.0,
        tick_seq=1,
        ts_ns=time.time_ns(),
        order_type=OrderType.LIMIT,
        limit_price=29420.0,
        post_only=True,
    )
    progress = OrderProgress(
        submitted, filled=0.002, cost=0.002 * 29420, fee=0.002 * 29420 * 0.0025
    )
    live = LiveOrderExecutor(venue, PAIRS, zmq_ctx, FAST)
    try:
        fill, cancelled = live.settle_resumed([LiveOrder.from_journal(progress)])
    finally:
        live.reports.close()
    assert isinstance(fill, Fill) and fill.qty == pytest.approx(0.003)
    assert fill.price == pytest.approx(29420.0)
    assert isinstance(cancelled, OrderCancelled) and cancelled.reason is CancelReason.STOP
    assert cancelled.qty == pytest.approx(0.005)
    assert fake.orders[txid]["status"] == "canceled"
