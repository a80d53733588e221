"""Each risk limit trips exactly at its boundary; the breaker blocks new risk."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.messages import (
    Fill,
    Liquidity,
    OrderRejected,
    OrderSubmitted,
    RejectReason,
    RiskEvent,
    Side,
    Tick,
)
from services.executor.engine import ExecutionEngine
from services.executor.order_executor import MARKET, OrderTerms, Refusal, conform_to_pair_rules
from services.executor.risk import Exposure, OrderIntent, RiskEngine, RiskLimits
from tests.executor.test_paper_and_positions import PAIRS, engine, quote, target

LIMITS = RiskLimits(
    max_order_notional=1000.0,
    max_position=2.0,
    max_loss=50.0,
    max_orders_per_minute=3,
    price_band_bps=100.0,
    stale_after_ms=2000,
)


def intent(
    qty: float,
    price: float = 100.0,
    before: float = 0.0,
    t_s: float = 0,
    open_buys: float = 0.0,
    open_sells: float = 0.0,
) -> OrderIntent:
    exposure = Exposure(before, open_buy_qty=open_buys, open_sell_qty=open_sells)
    return OrderIntent("BTC/USD", qty, price, exposure, int(t_s * 1e9))


def reason(risk: RiskEngine, order: OrderIntent, mid: float = 100.0, age_ms: float = 0.0):
    refusal = risk.check(order, mid, age_ms)
    return None if refusal is None else refusal[0]


def test_order_notional_passes_at_the_limit_and_fails_just_above() -> None:
    """1000 is allowed, 1000.01 is not."""
    assert reason(RiskEngine(LIMITS), intent(10.0, 100.0, before=-9.0)) is None
    assert reason(RiskEngine(LIMITS), intent(1.0, 1000.01, before=0.0), mid=1000.0) is (
        RejectReason.MAX_ORDER_NOTIONAL
    )


def test_position_limit_is_on_the_resulting_position() -> None:
    """From 1.5, +0.5 reaches 2.0 (allowed), +0.51 does not; reducing is always allowed."""
    assert reason(RiskEngine(LIMITS), intent(0.5, before=1.5)) is None
    assert reason(RiskEngine(LIMITS), intent(0.51, before=1.5)) is RejectReason.MAX_POSITION
    assert reason(RiskEngine(LIMITS), intent(-0.5, before=2.5)) is None


def test_open_buys_count_fully_against_the_long_side_and_open_sells_give_no_room() -> None:
    """Flat with 1.5 to buy: +0.5 fits, +0.51 not; an open sell of 1 does not make room for it."""
    assert reason(RiskEngine(LIMITS), intent(0.5, open_buys=1.5)) is None
    assert reason(RiskEngine(LIMITS), intent(0.51, open_buys=1.5)) is RejectReason.MAX_POSITION
    assert reason(RiskEngine(LIMITS), intent(0.51, before=1.5, open_sells=1.0)) is (
        RejectReason.MAX_POSITION
    )


def test_open_sells_count_fully_against_the_short_side_and_open_buys_give_no_room() -> None:
    """The same on the short side: -0.5 fits beside 1.5 to sell, -0.51 not, open buys or no."""
    assert reason(RiskEngine(LIMITS), intent(-0.5, open_sells=1.5)) is None
    assert reason(RiskEngine(LIMITS), intent(-0.51, open_sells=1.5)) is RejectReason.MAX_POSITION
    assert reason(RiskEngine(LIMITS), intent(-0.51, before=-1.5, open_buys=1.0)) is (
        RejectReason.MAX_POSITION
    )


def test_orders_reducing_a_position_beyond_the_limit_pass_armed_or_tripped() -> None:
    """Long 3 (limit 2) with 1 still to buy: selling 0.5 passes, and so does buying back a short."""
    for tripped in (False, True):
        risk = RiskEngine(LIMITS, tripped=tripped)
        assert reason(risk, intent(-0.5, before=3.0, open_buys=1.0)) is None
        assert reason(risk, intent(0.5, before=-3.0, open_sells=1.0)) is None
    # ... but not through the far side: from long 1, selling 3.01 may end at -2.01.
    assert reason(RiskEngine(LIMITS), intent(-3.01, before=1.0)) is RejectReason.MAX_POSITION


def test_tripped_breaker_counts_open_orders_in_what_reduces() -> None:
    """Flat with 1 to buy, the breaker tripped: a sell of 1 could end short 1, so it is refused."""
    risk = RiskEngine(LIMITS, tripped=True)
    assert reason(risk, intent(-1.0, open_buys=1.0)) is RejectReason.CIRCUIT_BREAKER
    assert reason(risk, intent(-1.0, before=1.0, open_buys=1.0)) is None


def test_position_room_is_what_the_worst_case_leaves_on_each_side() -> None:
    """Long 0.5 with 1.5 to buy and 0.25 to sell: no room to buy, 2.25 to sell."""
    exposure = Exposure(0.5, open_buy_qty=1.5, open_sell_qty=0.25)
    assert RiskEngine(LIMITS).position_room(exposure, buy=True) == pytest.approx(0.0, abs=1e-8)
    assert RiskEngine(LIMITS).position_room(exposure, buy=False) == pytest.approx(2.25)


def test_price_band_and_stale_market_boundaries() -> None:
    """100 bps from mid passes, 101 fails; 2000 ms old passes, 2001 ms fails."""
    assert reason(RiskEngine(LIMITS), intent(0.1, 101.0), mid=100.0) is None
    assert reason(RiskEngine(LIMITS), intent(0.1, 101.01), mid=100.0) is RejectReason.PRICE_BAND
    assert reason(RiskEngine(LIMITS), intent(0.1), age_ms=2000) is None
    assert reason(RiskEngine(LIMITS), intent(0.1), age_ms=2001) is RejectReason.STALE_MARKET
    assert reason(RiskEngine(LIMITS), intent(0.1), age_ms=None) is RejectReason.STALE_MARKET


def test_order_rate_limit_counts_a_sliding_minute_of_event_time() -> None:
    """Three orders a minute: the fourth inside the minute fails, one after it passes."""
    risk = RiskEngine(LIMITS)
    assert [reason(risk, intent(0.1, t_s=t)) for t in (0, 10, 20)] == [None] * 3
    assert reason(risk, intent(0.1, t_s=59)) is RejectReason.RATE_LIMIT
    assert reason(risk, intent(0.1, t_s=60.5)) is None


def test_breaker_trips_at_max_loss_exactly_and_reports_once() -> None:
    """Equity -49.99 is fine; -50 trips, with the numbers; no second event."""
    risk = RiskEngine(LIMITS)
    assert risk.on_equity(-49.99, 1) is None
    event = risk.on_equity(-50.0, 2)
    assert isinstance(event, RiskEvent) and event.kind == "circuit_breaker_tripped"
    assert event.values == {"equity": -50.0, "drawdown": 50.0, "max_loss": 50.0}
    assert risk.on_equity(-80.0, 3) is None
    assert risk.activations == 1


def test_tripped_breaker_refuses_new_risk_but_lets_risk_reduce() -> None:
    """After the trip: adding to a position is refused, cutting it is not."""
    risk = RiskEngine(LIMITS, tripped=True)
    assert reason(risk, intent(0.1, before=1.0)) is RejectReason.CIRCUIT_BREAKER
    assert reason(risk, intent(0.1, before=0.0)) is RejectReason.CIRCUIT_BREAKER
    assert reason(risk, intent(-0.5, before=1.0)) is None


def test_scripted_loss_trips_the_breaker_through_the_engine() -> None:
    """Buy 1 at 100.5, the market falls: at -50 equity the breaker trips and blocks buys."""
    limits = RiskLimits(
        max_order_notional=1e6,
        max_position=10.0,
        max_loss=50.0,
        max_orders_per_minute=100,
        price_band_bps=1e5,
        stale_after_ms=10**9,
    )
    ex = engine(latency_ms=0, fee_bps=0, limits=limits)
    ex.on_tick(quote(1, 0, 100.0, 100.5), now_ns=0)
    events = ex.on_target(target("buy", 1.0, 1, 0, ref=100.5), now_ns=0)
    assert any(isinstance(e, Fill) for e in events)
    assert not any(isinstance(e, RiskEvent) for e in ex.on_tick(quote(2, 10, 60.0, 60.5), now_ns=0))
    tripped = [
        e for e in ex.on_tick(quote(3, 20, 50.0, 50.5), now_ns=0) if isinstance(e, RiskEvent)
    ]
    assert len(tripped) == 1 and tripped[0].values["equity"] == pytest.approx(-50.25)
    [refused] = ex.on_target(target("more", 2.0, 3, 20, ref=50.5), now_ns=0)
    assert isinstance(refused, OrderRejected) and refused.reason is RejectReason.CIRCUIT_BREAKER
    cut = ex.on_target(target("cut", 0.0, 3, 20, ref=50.0), now_ns=0)
    assert isinstance(cut[0], OrderSubmitted)


TWO = RiskLimits(
    max_order_notional=1e6,
    max_position=2.0,
    max_loss=1e9,
    max_orders_per_minute=10_000,
    price_band_bps=1e6,
    stale_after_ms=10**9,
)


def test_sell_is_cut_so_an_open_buy_outrun_by_it_cannot_take_the_position_past_the_limit() -> None:
    """Long 0.5 with 1.5 still to buy, the target flips to -2: the sell is cut to 2.5, not 4."""
    ex = engine(latency_ms=0, fee_bps=0, limits=TWO)
    ex.on_tick(quote(1, 0, 100.0, 100.5, bid_size=10.0, ask_size=0.5), now_ns=0)
    ex.on_target(target("long", 2.0, 1, 0), now_ns=0)  # buy 2: 0.5 fills, 1.5 stays open
    assert ex.book("BTC/USD").position.qty == 0.5
    events = ex.on_target(target("short", -2.0, 1, 0), now_ns=0)
    [sell] = [e for e in events if isinstance(e, OrderSubmitted)]
    assert sell.qty == 2.5
    assert ex.book("BTC/USD").position.qty == -2.0
    ex.on_tick(quote(2, 10, 100.0, 100.5, bid_size=10.0, ask_size=10.0), now_ns=0)
    assert ex.book("BTC/USD").position.qty == -0.5  # the open buy's rest came in after all


@dataclass
class _VenueOrder:
    order_id: str
    target_id: str
    symbol: str
    side: Side
    remaining: float
    venue: ChoppyVenue


def fill_of(
    order: _VenueOrder, qty: float, price: float = 100.0, tick_seq: int = 1, ts_ns: int = 0
) -> Fill:
    """Take `qty` off the order's rest; the fill that says so."""
    order.remaining = round(order.remaining - qty, 8)
    if order.remaining <= 0:
        order.venue.open_orders.pop(order.order_id)
    return Fill(
        order_id=order.order_id,
        symbol=order.symbol,
        side=order.side,
        qty=qty,
        price=price,
        fee=0.0,
        liquidity=Liquidity.TAKER,
        tick_seq=tick_seq,
        ts_ns=ts_ns,
    )


class ChoppyVenue:
    """An `OrderExecutor` whose market fills all, part or none of each open order per
    tick, and whose venue cuts orders short (expiry, refusal of the rest), as told."""

    def __init__(self) -> None:
        # The share of each open order's rest the next tick fills, in turn (cycled).
        self.shares: list[float] = [0.0]
        self.open_orders: dict[str, _VenueOrder] = {}
        self.pairs = PAIRS

    def conform(self, symbol: str, qty: float, price: float) -> tuple[float, Refusal | None]:
        return conform_to_pair_rules(PAIRS, symbol, qty, price)

    def submit(
        self,
        order_id: str,
        target_id: str,
        symbol: str,
        side: Side,
        qty: float,
        event_ts_ns: int,
        terms: OrderTerms = MARKET,
    ) -> _VenueOrder:
        order = _VenueOrder(order_id, target_id, symbol, side, qty, self)
        self.open_orders[order_id] = order
        return order

    def on_tick(self, tick: Tick, only_order_id: str | None = None) -> list[Fill]:
        fills = []
        for turn, order in enumerate(list(self.open_orders.values())):
            if only_order_id is not None and order.order_id != only_order_id:
                continue
            share = self.shares[turn % len(self.shares)]
            qty = round(order.remaining * share, 8)
            if qty > 0:
                price = tick.ask if order.side is Side.BUY else tick.bid
                fills.append(fill_of(order, qty, price or 100.0, tick.seq, tick.recv_ts_ns))
        return fills

    def cut_short(self, pick: int) -> OrderRejected | None:
        """The venue ends one open order (chosen by `pick`) with its rest unfilled."""
        if not self.open_orders:
            return None
        order = list(self.open_orders.values())[pick % len(self.open_orders)]
        del self.open_orders[order.order_id]
        return OrderRejected(
            order_id=order.order_id,
            target_id=order.target_id,
            symbol=order.symbol,
            side=order.side,
            qty=order.remaining,
            reason=RejectReason.EXCHANGE_REJECTED,
            detail="expired with the rest unfilled",
            ts_ns=0,
        )


def test_cut_short_order_frees_its_room_only_once_the_venue_resolves_it() -> None:
    """Long 0.5 with 1.5 open, target 3: refused; the venue drops the 1.5: a buy of 1.5 (cut)."""
    venue = ChoppyVenue()
    ex = ExecutionEngine(RiskEngine(TWO), venue, order_prefix="o")
    ex.on_tick(quote(1, 0, 100.0, 100.5), now_ns=0)
    ex.on_target(target("long", 2.0, 1, 0), now_ns=0)
    ex.on_venue_report(fill_of(venue.open_orders["o-1"], 0.5))
    [refused] = ex.on_target(target("more", 3.0, 1, 0), now_ns=0)
    assert isinstance(refused, OrderRejected) and refused.reason is RejectReason.MAX_POSITION
    report = venue.cut_short(0)
    assert report is not None and report.qty == 1.5
    ex.on_venue_report(report)
    [cut] = ex.on_target(target("again", 3.0, 1, 0), now_ns=0)
    assert isinstance(cut, OrderSubmitted) and (cut.side, cut.qty) == (Side.BUY, 1.5)


def test_order_whose_room_is_below_the_pair_minimum_is_refused_whole() -> None:
    """Room of 0.00005 is under the 0.0001 minimum: the order is refused, not cut to dust."""
    venue = ChoppyVenue()
    ex = ExecutionEngine(RiskEngine(TWO), venue, order_prefix="o")
    ex.on_tick(quote(1, 0, 100.0, 100.5), now_ns=0)
    ex.on_target(target("near", 1.99995, 1, 0), now_ns=0)
    [refused] = ex.on_target(target("over", 2.5, 1, 0), now_ns=0)
    assert isinstance(refused, OrderRejected)
    assert (refused.reason, refused.qty) == (RejectReason.MAX_POSITION, 0.50005)


SHARE = st.sampled_from([0.0, 1.0]) | st.floats(0.0, 1.0)
STEPS = st.lists(
    st.one_of(
        # Targets past the limit too (the model clips them; the engine must not rely on it).
        st.tuples(
            st.just("target"),
            st.sampled_from([-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0]) | st.floats(-3.0, 3.0),
        ),
        st.tuples(st.just("tick"), st.lists(SHARE, min_size=1, max_size=3)),
        st.tuples(st.just("cut"), st.integers(0, 7)),
    ),
    max_size=40,
)


@settings(max_examples=500, deadline=None)
@given(steps=STEPS)
def test_filled_position_never_leaves_the_limit_whatever_happens_to_open_orders(
    steps: list[tuple[str, Any]],
) -> None:
    """Random targets, partial fills, expiries and venue refusals: |position| <= 2 at every step."""
    venue = ChoppyVenue()
    ex = ExecutionEngine(RiskEngine(TWO), venue, order_prefix="o")
    seq = 1
    ex.on_tick(quote(seq, 0, 100.0, 100.5), now_ns=0)
    for number, (kind, value) in enumerate(steps):
        if kind == "target":
            ex.on_target(target(f"t{number}", value, seq, seq), now_ns=0)
        elif kind == "tick":
            venue.shares = value
            seq += 1
            ex.on_tick(quote(seq, seq, 100.0, 100.5), now_ns=0)
        elif (report := venue.cut_short(int(value))) is not None:
            ex.on_venue_report(report)
        assert abs(ex.book("BTC/USD").position.qty) <= 2.0 + 1e-9
