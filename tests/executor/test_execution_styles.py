"""Execution styles: limit prices on the grid, and the engine's cancel/replace of resting orders."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from fractions import Fraction

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
    Target,
    TimeInForce,
)
from services.executor.engine import Event, ExecutionEngine
from services.executor.execution_style import ExecutionKind, ExecutionStyle
from services.executor.order_executor import MARKET
from services.executor.paper import PaperOrderExecutor
from services.executor.risk import RiskEngine, RiskLimits
from tests.factories import make_tick, make_trade
from venues.kraken.pairs import PairRules
from venues.kraken.rate_limits import KrakenRateLimits, RateLimitTier, TierLimits

MS = 1_000_000
T0 = 1_000_000_000_000
TICK = Decimal("0.1")
PAIRS = {
    "BTC/USD": PairRules(
        "BTC/USD", 1, 8, TICK, Decimal("0.0001"), Decimal("0.0001"), Decimal("0.5")
    )
}
LOOSE = RiskLimits(
    max_order_notional=1e9,
    max_position=100.0,
    max_loss=1e9,
    max_orders_per_minute=10_000,
    price_band_bps=1e6,
    stale_after_ms=10**9,
)
POST_ONLY = ExecutionStyle(ExecutionKind.POST_ONLY, requote_bps=5.0)


def quote(seq: int, t_ms: int, bid: float = 100.0, ask: float = 100.2):
    at = T0 + t_ms * MS
    return make_tick(seq=seq, recv_ts_ns=at, exch_ts_ns=at, bid=bid, ask=ask, bid_size=2.0)


def target(id_: str, position: float, seq: int, t_ms: int) -> Target:
    return Target(
        id=id_,
        symbol="BTC/USD",
        target_position=position,
        ref_price=100.1,
        tick_seq=seq,
        tick_ts_ns=T0 + t_ms * MS,
        created_ns=0,
        ttl_ms=10**9,
    )


def engine(
    style: ExecutionStyle = POST_ONLY, rate_limits: KrakenRateLimits | None = None
) -> ExecutionEngine:
    paper = PaperOrderExecutor(PAIRS, latency_ms=10, taker_fee_bps=40, maker_fee_bps=25)
    return ExecutionEngine(
        RiskEngine(LOOSE), paper, order_prefix="e", rate_limits=rate_limits, style=style
    )


def of(events: list[Event], kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def test_passive_and_ioc_prices_sit_on_the_grid_away_from_worse() -> None:
    """Passive: bid - offset (buy, rounded down), ask + offset (sell, up); IOC: into the book."""
    book = quote(1, 0, bid=100.0, ask=100.2)
    bps = ExecutionStyle(ExecutionKind.LIMIT, offset_bps=15.0)
    assert bps.price(Side.BUY, book, TICK) == 99.8  # 100 - 0.15 = 99.85, down to 99.8
    assert bps.price(Side.SELL, book, TICK) == 100.4  # 100.2 + 0.1503 = 100.3503, up to 100.4
    ticks = ExecutionStyle(ExecutionKind.IOC, offset_ticks=2)
    terms = ticks.terms(Side.BUY, book, TICK)
    assert terms is not None and terms.limit_price == 100.4
    assert terms.time_in_force is TimeInForce.IOC and not terms.post_only
    assert ExecutionStyle().terms(Side.BUY, book, TICK) is MARKET
    assert POST_ONLY.terms(Side.BUY, None, TICK) is None  # no touch: no price


def test_post_only_order_carries_its_terms() -> None:
    """A post-only style sends a GTC post-only limit at the bid, on the grid."""
    eng = engine()
    eng.on_tick(quote(1, 0), 0)
    events = eng.on_target(target("t-1", 1.0, 1, 0), 0)
    (order,) = of(events, OrderSubmitted)
    assert (order.order_type, order.limit_price, order.post_only, order.replaces) == (
        OrderType.LIMIT,
        100.0,
        True,
        None,
    )
    assert eng.resting is not None and eng.resting.working["BTC/USD"].order_id == order.order_id


def test_new_target_cancels_then_replaces_once_the_cancel_is_confirmed() -> None:
    """Never two orders at once: the replacement goes out only after the venue's cancel."""
    eng = engine()
    eng.on_tick(quote(1, 0), 0)
    (first,) = of(eng.on_target(target("t-1", 1.0, 1, 0), 0), OrderSubmitted)
    eng.on_tick(quote(2, 12), 0)  # it arrived and rests
    assert eng.on_target(target("t-2", 2.0, 2, 12), 0) == []  # a cancel is on its way
    assert eng.cancels_sent == 1
    events = eng.on_tick(quote(3, 30), 0)  # the cancel arrived at 22 ms
    (cancelled,) = of(events, OrderCancelled)
    assert (cancelled.order_id, cancelled.reason, cancelled.qty) == (
        first.order_id,
        CancelReason.RETARGET,
        1.0,
    )
    (replacement,) = of(events, OrderSubmitted)
    assert replacement.replaces == first.order_id and replacement.target_id == "t-2"
    assert replacement.qty == 2.0  # nothing filled: the whole target
    assert list(eng.book("BTC/USD").open_orders) == [replacement.order_id]


def test_touch_moving_past_the_requote_distance_replaces_at_the_new_touch() -> None:
    """The bid rising 10 bps (past 5) re-quotes: cancel, then a new order at the new bid."""
    eng = engine()
    eng.on_tick(quote(1, 0), 0)
    (first,) = of(eng.on_target(target("t-1", 1.0, 1, 0), 0), OrderSubmitted)
    eng.on_tick(quote(2, 12), 0)  # it arrived and rests
    eng.on_tick(quote(3, 20, bid=100.1, ask=100.3), 0)  # 10 bps: a cancel goes
    assert eng.cancels_sent == 1
    events = eng.on_tick(quote(4, 40, bid=100.1, ask=100.3), 0)
    assert of(events, OrderCancelled)[0].reason is CancelReason.REQUOTE
    (replacement,) = of(events, OrderSubmitted)
    assert replacement.limit_price == 100.1 and replacement.replaces == first.order_id
    assert replacement.target_id == "t-1"  # the same target, worked at the new touch


def test_fill_before_the_cancel_arrives_counts_and_the_replacement_covers_the_rest() -> None:
    """The cancel race: a trade-through fills part before the cancel; the new order is smaller."""
    eng = engine()
    eng.on_tick(quote(1, 0), 0)
    eng.on_target(target("t-1", 1.0, 1, 0), 0)
    eng.on_tick(quote(2, 12), 0)
    eng.on_target(target("t-2", 2.0, 2, 12), 0)  # cancel due at 22 ms
    at = T0 + 15 * MS
    trade = make_trade(seq=3, recv_ts_ns=at, exch_ts_ns=at, last=99.9, last_size=0.1)
    events = eng.on_tick(trade, 0)
    (fill,) = of(events, Fill)
    assert (fill.qty, fill.liquidity) == (1.0, Liquidity.MAKER)
    # Filled whole: nothing is left to cancel, so the newest target is worked at once.
    (replacement,) = of(events, OrderSubmitted)
    assert replacement.qty == 1.0  # 2.0 wanted, 1.0 already held
    assert of(eng.on_tick(quote(4, 30), 0), OrderCancelled) == []  # the cancel found nothing


def test_a_target_waiting_for_a_cancel_is_superseded_by_a_newer_one() -> None:
    """Two targets while a cancel is out: the older is refused as superseded, the newer worked."""
    eng = engine()
    eng.on_tick(quote(1, 0), 0)
    eng.on_target(target("t-1", 1.0, 1, 0), 0)
    eng.on_tick(quote(2, 12), 0)
    eng.on_target(target("t-2", 2.0, 2, 12), 0)
    (refused,) = eng.on_target(target("t-3", 3.0, 2, 12), 0)
    assert isinstance(refused, OrderRejected) and refused.target_id == "t-2"
    assert refused.reason is RejectReason.SUPERSEDED_TARGET
    assert eng.cancels_sent == 1  # one cancel for the one working order
    (replacement,) = of(eng.on_tick(quote(3, 30), 0), OrderSubmitted)
    assert (replacement.target_id, replacement.qty) == ("t-3", 3.0)


def test_post_only_refused_by_the_venue_frees_its_room_and_quotes_again() -> None:
    """The ask fell onto our bid before arrival: refused `post_only`, then re-quoted below it."""
    eng = engine()
    eng.on_tick(quote(1, 0), 0)
    eng.on_target(target("t-1", 1.0, 1, 0), 0)
    events = eng.on_tick(quote(2, 12, bid=99.9, ask=100.0), 0)
    (refused,) = of(events, OrderRejected)
    assert refused.reason is RejectReason.POST_ONLY
    (again,) = of(events, OrderSubmitted)
    assert again.limit_price == 99.9 and again.qty == 1.0


def test_requote_waits_when_kraken_would_not_take_the_cancel() -> None:
    """A young order's cancel costs 8 on the matching-engine counter: over it, no re-quote yet."""
    tight = TierLimits(Fraction(15), Fraction("0.33"), Fraction(9), Fraction(1))
    eng = engine(rate_limits=KrakenRateLimits(RateLimitTier.STARTER, tight))
    eng.on_tick(quote(1, 0), 0)
    eng.on_target(target("t-1", 1.0, 1, 0), 0)  # counter at 1 of 9
    eng.on_tick(quote(2, 12), 0)
    eng.on_tick(quote(3, 20, bid=100.1, ask=100.3), 0)  # cancel 8 + replace 1 > 9 - 1
    assert (eng.cancels_sent, eng.cancels_deferred) == (0, 1)
    eng.on_tick(quote(4, 1_500, bid=100.1, ask=100.3), 0)  # leaked 1.5: now it fits
    assert eng.cancels_sent == 1


def test_market_style_sends_market_orders_as_before() -> None:
    """The default style: a market order with no terms, filled on arrival as a taker."""
    eng = engine(ExecutionStyle())
    eng.on_tick(quote(1, 0), 0)
    (order,) = of(eng.on_target(target("t-1", 1.0, 1, 0), 0), OrderSubmitted)
    assert (order.order_type, order.limit_price) == (OrderType.MARKET, None)
    (fill,) = of(eng.on_tick(quote(2, 12), 0), Fill)
    assert (fill.price, fill.liquidity) == (100.2, Liquidity.TAKER)


def test_retarget_cancel_held_back_by_rate_limits_goes_once_it_fits() -> None:
    """A new target whose cancel does not fit yet is not lost: the cancel goes on a later tick."""
    tight = TierLimits(Fraction(15), Fraction("0.33"), Fraction(9), Fraction(1))
    eng = engine(rate_limits=KrakenRateLimits(RateLimitTier.STARTER, tight))
    eng.on_tick(quote(1, 0), 0)
    eng.on_target(target("t-1", 1.0, 1, 0), 0)
    eng.on_tick(quote(2, 12), 0)
    assert eng.on_target(target("t-2", 2.0, 2, 12), 0) == []
    assert eng.cancels_sent == 0
    eng.on_tick(quote(3, 1_500), 0)
    assert eng.cancels_sent == 1
    (replacement,) = of(eng.on_tick(quote(4, 1_600), 0), OrderSubmitted)
    assert (replacement.target_id, replacement.qty) == ("t-2", 2.0)


def test_ioc_style_takes_up_to_its_price_and_the_rest_frees_its_room() -> None:
    """IOC at the ask: the 1.5 shown there fills as taker, the other 0.5 is cancelled `ioc`."""
    eng = engine(ExecutionStyle(ExecutionKind.IOC))
    eng.on_tick(quote(1, 0), 0)
    (order,) = of(eng.on_target(target("t-1", 2.0, 1, 0), 0), OrderSubmitted)
    assert (order.limit_price, order.time_in_force) == (100.2, TimeInForce.IOC)
    events = eng.on_tick(quote(2, 12), 0)
    (fill,) = of(events, Fill)
    (cancelled,) = of(events, OrderCancelled)
    assert (fill.qty, fill.liquidity) == (1.5, Liquidity.TAKER)
    assert (cancelled.reason, cancelled.qty) == (CancelReason.IOC, 0.5)
    assert eng.book("BTC/USD").open_orders == {}
    assert eng.book("BTC/USD").exposure().working == 1.5


def test_breaker_trip_cancels_a_resting_order_that_adds_and_refuses_its_replacement() -> None:
    """Long 1 and bidding for 1 more when the breaker trips: the bid is cancelled (`risk`),
    and the target it worked is refused by the breaker, not left on the book to fill."""
    paper = PaperOrderExecutor(PAIRS, latency_ms=10, taker_fee_bps=40, maker_fee_bps=25)
    risk = RiskEngine(dataclasses.replace(LOOSE, max_loss=3.0))
    eng = ExecutionEngine(risk, paper, order_prefix="e", style=POST_ONLY)
    eng.on_tick(quote(1, 0), 0)
    eng.on_target(target("t-1", 1.0, 1, 0), 0)
    eng.on_tick(quote(2, 12), 0)  # it arrived and rests at 100.0
    at = T0 + 15 * MS
    eng.on_tick(make_trade(seq=3, recv_ts_ns=at, exch_ts_ns=at, last=99.9, last_size=1.0), 0)
    assert eng.book("BTC/USD").position.qty == 1.0
    (adding,) = of(eng.on_target(target("t-2", 2.0, 3, 15), 0), OrderSubmitted)
    eng.on_tick(quote(4, 30), 0)  # it arrived and rests at 100.0
    tripped = eng.on_tick(quote(5, 40, bid=90.0, ask=100.2), 0)  # mid 95.1: 4.9 down
    assert any(getattr(e, "kind", None) == "circuit_breaker_tripped" for e in tripped)
    assert eng.cancels_sent == 1
    events = eng.on_tick(quote(6, 60, bid=90.0, ask=100.2), 0)  # the cancel arrived at 50 ms
    (cancelled,) = of(events, OrderCancelled)
    assert (cancelled.order_id, cancelled.reason) == (adding.order_id, CancelReason.RISK)
    (refused,) = of(events, OrderRejected)
    assert (refused.target_id, refused.reason) == ("t-2", RejectReason.CIRCUIT_BREAKER)
    assert eng.book("BTC/USD").open_orders == {}


def test_post_only_refused_by_a_live_venue_report_quotes_again_as_paper_does() -> None:
    """A live venue's `post_only` refusal comes as a report, not from a tick: re-quoted too."""
    eng = engine()
    eng.on_tick(quote(1, 0), 0)
    (order,) = of(eng.on_target(target("t-1", 1.0, 1, 0), 0), OrderSubmitted)
    refusal = OrderRejected(
        order_id=order.order_id,
        target_id="t-1",
        symbol="BTC/USD",
        side=Side.BUY,
        qty=1.0,
        reason=RejectReason.POST_ONLY,
        detail="EOrder:Post only order",
        ts_ns=T0 + 5 * MS,
    )
    assert eng.on_venue_report(refusal) == [refusal]
    eng.executor.open_orders.clear()  # type: ignore[attr-defined]  # the venue's side: gone
    (again,) = of(eng.on_tick(quote(2, 12, bid=99.9, ask=100.0), 0), OrderSubmitted)
    assert (again.limit_price, again.qty, again.replaces) == (99.9, 1.0, None)
