"""Each risk limit trips exactly at its boundary; the breaker blocks new risk."""

from __future__ import annotations

import pytest

from common.messages import Fill, OrderRejected, OrderSubmitted, RejectReason, RiskEvent
from services.executor.risk import OrderIntent, RiskEngine, RiskLimits
from tests.executor.test_paper_and_positions import engine, quote, target

LIMITS = RiskLimits(
    max_order_notional=1000.0,
    max_position=2.0,
    max_loss=50.0,
    max_orders_per_minute=3,
    price_band_bps=100.0,
    stale_after_ms=2000,
)


def intent(qty: float, price: float = 100.0, before: float = 0.0, t_s: float = 0) -> OrderIntent:
    return OrderIntent("BTC/USD", qty, price, before, int(t_s * 1e9))


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
