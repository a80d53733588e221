"""Kraken's REST call counter and per-pair matching-engine counter, by the documented numbers."""

from __future__ import annotations

from fractions import Fraction

import pytest

from venues.kraken.rate_limits import (
    KrakenRateLimits,
    LeakyCounter,
    RateLimitTier,
    cancel_penalty,
    rest_cost,
)

S = 1_000_000_000


def test_starter_takes_a_burst_of_15_rest_calls_then_one_per_3_03_s() -> None:
    limits = KrakenRateLimits(RateLimitTier.STARTER)
    for _ in range(15):
        assert limits.rest_wait_ns("QueryOrders", 0) == 0
        limits.charge_rest("QueryOrders", 0)
    # The 16th waits for 1 call to leak away at 0.33/s: 1/0.33 s, rounded up to the ns.
    assert limits.rest_wait_ns("QueryOrders", 0) == 3_030_303_031
    assert limits.rest_wait_ns("QueryOrders", 3_030_303_031) == 0


@pytest.mark.parametrize(
    ("tier", "rest_max", "decay", "threshold", "order_decay"),
    [
        (RateLimitTier.STARTER, 15, "0.33", 60, "1"),
        (RateLimitTier.INTERMEDIATE, 20, "0.5", 125, "2.34"),
        (RateLimitTier.PRO, 20, "1", 180, "3.75"),
    ],
)
def test_each_tier_has_kraken_s_documented_numbers(
    tier: RateLimitTier, rest_max: int, decay: str, threshold: int, order_decay: str
) -> None:
    limits = KrakenRateLimits(tier)
    assert (limits.rest.maximum, limits.rest.decay_per_s) == (rest_max, Fraction(decay))
    engine = limits.order_counter("BTC/USD")
    assert (engine.maximum, engine.decay_per_s) == (threshold, Fraction(order_decay))


def test_costs_of_calls_and_cancels() -> None:
    costs = [rest_cost(method) for method in ("QueryOrders", "TradesHistory", "AddOrder")]
    assert costs == [1, 2, 0]
    ages = [0.0, 4.9, 5.0, 9.9, 14.9, 44.9, 89.9, 299.9, 300.0]
    assert [cancel_penalty(age) for age in ages] == [8, 8, 6, 6, 5, 4, 2, 1, 0]


def test_the_matching_engine_counter_is_per_pair() -> None:
    """60 orders fill BTC/USD's Starter counter; ETH/USD's is untouched."""
    limits = KrakenRateLimits(RateLimitTier.STARTER)
    counter = limits.order_counter("BTC/USD")
    for _ in range(60):
        counter.charge(1, 0)
    assert limits.order_refusal("BTC/USD", 0) is not None
    assert "matching-engine" in (limits.order_refusal("BTC/USD", 0) or "")
    assert limits.order_refusal("ETH/USD", 0) is None
    assert limits.order_refusal("BTC/USD", S) is None  # 1 s later one has leaked away


def test_a_counter_never_leaks_below_zero_and_ignores_time_running_back() -> None:
    counter = LeakyCounter(Fraction(15), Fraction("0.33"))
    counter.charge(2, 10 * S)
    assert counter.level(100 * S) == 0
    counter.charge(5, 100 * S)
    assert counter.level(99 * S) == 5  # an older event time: nothing leaked, nothing added


def test_a_counter_s_calls_as_a_float_are_its_exact_level_converted() -> None:
    # A refusal's text reads `calls`: it must be the float of the exact level.
    counter = LeakyCounter(Fraction(60), Fraction(1))
    at_ns = 0
    for step in range(2_000):
        counter.charge(1 + step % 3, at_ns)
        at_ns += 7_919 * step % 1_000_003  # leaks odd amounts, some steps none
        assert counter.calls(at_ns) == float(counter.level(at_ns))
