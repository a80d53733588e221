"""Paper throttles orders the way Kraken's counters would (venues/kraken/rate_limits.py)."""

from __future__ import annotations

import pytest

from common.journal import JournalState, OrderProgress
from common.messages import Fill, OrderRejected, OrderSubmitted, RejectReason, Target
from services.executor.__main__ import restored_rate_limits
from services.executor.engine import ExecutionEngine
from services.executor.executor_config import ExecutorConfig
from services.executor.paper import PaperOrderExecutor
from services.executor.risk import RiskEngine, RiskLimits
from tests.factories import make_order, make_tick
from venues.kraken.pairs import load_pairs
from venues.kraken.rate_limits import KrakenRateLimits, RateLimitTier

S = 1_000_000_000
T0 = 1_700_000_000 * S
LOOSE = RiskLimits(
    max_order_notional=1e9,
    max_position=1e6,
    max_loss=1e9,
    max_orders_per_minute=10_000,
    price_band_bps=1e6,
    stale_after_ms=10**9,
)
STEP = 0.001  # BTC per tick: every target wants more, so every tick makes an order


def order_every_tick(ticks: int, gap_s: float, tier: RateLimitTier | None) -> list[object]:
    """A strategy that asks for a bigger position on every tick; the engine's answers."""
    limits = None if tier is None else KrakenRateLimits(tier)
    engine = ExecutionEngine(
        RiskEngine(LOOSE),
        PaperOrderExecutor(load_pairs(), latency_ms=0, taker_fee_bps=40),
        order_prefix="o",
        rate_limits=limits,
    )
    events: list[object] = []
    for i in range(ticks):
        ts_ns = T0 + int(i * gap_s * S)
        tick = make_tick(seq=i + 1, recv_ts_ns=ts_ns, exch_ts_ns=ts_ns, bid=60_000.0, ask=60_000.1)
        engine.on_tick(tick, now_ns=ts_ns)
        target = Target(
            id=f"t{i}",
            symbol="BTC/USD",
            target_position=STEP * (i + 1),
            ref_price=60_000.1,
            tick_seq=i + 1,
            tick_ts_ns=ts_ns,
            created_ns=ts_ns,
            ttl_ms=10**6,
        )
        events += engine.on_target(target, now_ns=ts_ns)
    return events


def starter_by_hand(ticks: int, gap_s: float) -> list[int]:
    """The ticks whose order Starter takes: each costs one QueryOrders on a counter
    of at most 15 that leaks 0.33 per second (Kraken's documented numbers)."""
    level, taken = 0.0, []
    for i in range(ticks):
        level = max(0.0, level - (0.33 * gap_s if i else 0.0))
        if level + 1 <= 15 + 1e-9:
            level += 1
            taken.append(i)
    return taken


def test_paper_throttles_an_order_every_tick_as_kraken_starter_would() -> None:
    events = order_every_tick(120, 1.0, RateLimitTier.STARTER)
    sent = [int(e.order_id.split("-")[1]) for e in events if isinstance(e, OrderSubmitted)]
    refused = [e for e in events if isinstance(e, OrderRejected)]
    taken = starter_by_hand(120, 1.0)
    # Every tick made one order; they were numbered in tick order.
    assert len(sent) + len(refused) == 120
    assert [number - 1 for number in sent] == taken
    assert taken[:21] == list(range(21)) and 21 not in taken  # the burst, then the counter is full
    assert len(taken) == 54  # 21 in the burst, then about one per 3 s
    assert {e.reason for e in refused} == {RejectReason.RATE_LIMIT}
    assert "Kraken starter REST call counter" in refused[0].detail
    assert sum(isinstance(e, Fill) for e in events) == len(taken)


def test_without_rate_limits_every_order_goes_out() -> None:
    events = order_every_tick(120, 1.0, None)
    assert sum(isinstance(e, OrderSubmitted) for e in events) == 120


def test_pro_takes_what_starter_refuses() -> None:
    starter = order_every_tick(60, 0.5, RateLimitTier.STARTER)
    pro = order_every_tick(60, 0.5, RateLimitTier.PRO)
    assert sum(isinstance(e, OrderSubmitted) for e in starter) < sum(
        isinstance(e, OrderSubmitted) for e in pro
    )


@pytest.mark.parametrize(
    ("argv", "environ", "tier"),
    [
        ([], {}, RateLimitTier.STARTER),
        (["--rate-limit-tier", "pro"], {}, RateLimitTier.PRO),
        ([], {"PLR_RATE_LIMIT_TIER": "Intermediate"}, RateLimitTier.INTERMEDIATE),
        (["--rate-limit-tier", "off"], {}, None),
    ],
)
def test_the_tier_is_a_setting(
    argv: list[str], environ: dict[str, str], tier: RateLimitTier | None
) -> None:
    assert ExecutorConfig.from_args(argv, environ).rate_limit_tier == tier


def test_an_unknown_tier_fails_fast() -> None:
    with pytest.raises(ValueError, match="--rate-limit-tier: expected one of starter"):
        ExecutorConfig.from_args(["--rate-limit-tier", "gold"], {})


def test_a_restarted_executor_counts_the_journal_s_orders_again() -> None:
    """16 orders journaled in one second: after a restart, Starter's REST counter is full."""
    state = JournalState()
    for number in range(16):
        order = make_order(number, qty=0.001, ref_price=60_000.0, ts_ns=T0 + number * 50_000_000)
        state.progress[order.order_id] = OrderProgress(order)
    limits = restored_rate_limits(RateLimitTier.STARTER, state)
    assert "REST call counter" in (limits.order_refusal("BTC/USD", T0 + S) or "")
    assert (
        restored_rate_limits(RateLimitTier.STARTER, JournalState()).order_refusal("BTC/USD", T0 + S)
        is None
    )
