"""The live executor paces its REST calls with the same model paper throttles with.

Real ccxt client, fake Kraken REST on 127.0.0.1. The venue is wrapped to
note when each counted call went out; replaying Kraken's REST counter over
those times shows whether Kraken would have answered `EAPI:Rate limit exceeded`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import pytest
import zmq

from common import wire
from common.messages import Fill, Side
from services.executor.live import LiveOrderExecutor
from tests.conftest import scaled
from tests.executor.test_live import FAST, KEY, PAIRS, SECRET, make_venue
from tests.fakes.kraken_rest import FakeKrakenRest
from venues.kraken.rate_limits import KrakenRateLimits, LeakyCounter, RateLimitTier, TierLimits

# A small, fast-leaking counter (Kraken's shape, quicker numbers): 4 calls, 20 leak per s.
QUICK = TierLimits(Fraction(4), Fraction(20), Fraction(60), Fraction(1))
COUNTED = {"query": "QueryOrders", "find": "OpenOrders", "cancel_all_after": "CancelAllOrdersAfter"}


@pytest.fixture
def fake() -> Iterator[FakeKrakenRest]:
    with FakeKrakenRest(KEY, SECRET) as server:
        yield server


class TimedVenue:
    """The real venue client, noting the monotonic time of every counted REST call."""

    def __init__(self, venue: Any) -> None:
        self._venue = venue
        self.provider = venue.provider
        self.calls: list[tuple[str, int]] = []

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._venue, name)
        if name not in COUNTED:
            return call

        def timed(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, time.monotonic_ns()))
            return call(*args, **kwargs)

        return timed


def peak_counter(calls: list[tuple[str, int]]) -> Fraction:
    """The highest Kraken's REST counter (QUICK's numbers) reached over these calls."""
    counter, peak = LeakyCounter(QUICK.rest_max, QUICK.rest_decay_per_s), Fraction(0)
    for name, at_ns in calls:
        counter.charge(2 if name == "find" else 1, at_ns)  # find = OpenOrders + ClosedOrders
        peak = max(peak, counter.level(at_ns))
    return peak


def run(zmq_ctx: zmq.Context, fake: FakeKrakenRest, pacer: KrakenRateLimits | None) -> TimedVenue:
    venue = TimedVenue(make_venue("ccxt", fake.url))
    live = LiveOrderExecutor(venue, PAIRS, zmq_ctx, FAST, pacer)  # type: ignore[arg-type]
    live.start()
    for number in range(8):
        live.submit(f"p-{number}", f"t-{number}", "BTC/USD", Side.BUY, 0.001, 0)
    live.send_staged()
    fills = 0
    try:
        while fills < 8:
            assert live.reports.poll(int(scaled(15) * 1000)), f"only {fills} fills"
            fills += isinstance(wire.decode(live.reports.recv()), Fill)
    finally:
        assert live.close(scaled(10))
        live.reports.close()
    return venue


def test_live_pacing_keeps_kraken_s_rest_counter_within_its_maximum(
    fake: FakeKrakenRest, zmq_ctx: zmq.Context
) -> None:
    paced = run(zmq_ctx, fake, KrakenRateLimits(RateLimitTier.STARTER, QUICK))
    assert sum(name == "query" for name, _ in paced.calls) >= 8  # QueryOrders polls count
    assert peak_counter(paced.calls) <= QUICK.rest_max


def test_unpaced_the_same_orders_would_overrun_it(
    fake: FakeKrakenRest, zmq_ctx: zmq.Context
) -> None:
    """The check above can fail: without the pacer, 8 quick orders pass the maximum."""
    unpaced = run(zmq_ctx, fake, None)
    assert peak_counter(unpaced.calls) > QUICK.rest_max
