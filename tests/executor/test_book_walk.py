"""Paper fills walk the book as it stands when the order arrives; trades fill trade-only replays."""

from __future__ import annotations

import pytest

from common.messages import Fill, OrderRejected, RejectReason, Side, Tick
from services.executor.book_walk import WalkedBook, sweep_price
from services.executor.engine import ExecutionEngine
from services.executor.latency import LatencyModel
from services.executor.paper import PaperOrderExecutor
from services.executor.risk import RiskEngine
from tests.executor.test_paper_and_positions import LOOSE, MS, PAIRS, T0, quote, target
from tests.factories import make_tick, make_trade, replace

ASKS = [(100.5, 0.2), (101.0, 0.3), (102.0, 1.0)]
BIDS = [(100.0, 0.5), (99.5, 0.5)]


def book(seq: int, t_ms: int, asks: list[tuple[float, float]] = ASKS) -> Tick:
    (bid, bid_size), (ask, ask_size) = BIDS[0], asks[0]
    return replace(quote(seq, t_ms, bid, ask, bid_size, ask_size), bids=BIDS, asks=asks)


def engine(latency_ms: float = 0, jitter_ms: float = 0, seed: int = 0) -> ExecutionEngine:
    executor = PaperOrderExecutor(
        PAIRS,
        latency_ms=latency_ms,
        taker_fee_bps=0,
        latency_jitter_ms=jitter_ms,
        latency_seed=seed,
    )
    return ExecutionEngine(RiskEngine(LOOSE), executor, order_prefix="o")


def fills(events: list[object]) -> list[tuple[float, float]]:
    return [(e.qty, e.price) for e in events if isinstance(e, Fill)]


def test_a_market_order_walks_the_levels_one_fill_per_level() -> None:
    """0.6 to buy on asks 0.2@100.5, 0.3@101, 1@102: three fills, on the one book."""
    ex = engine()
    ex.on_tick(book(1, 0), now_ns=0)
    got = fills(ex.on_target(target("a", 0.6, 1, 0), now_ns=0))
    assert got == [(0.2, 100.5), (0.3, 101.0), (pytest.approx(0.1), 102.0)]
    assert sum(q * p for q, p in got) / 0.6 == pytest.approx(sweep_price(book(1, 0), Side.BUY, 0.6))


def test_what_paper_took_stays_taken_until_its_level_refreshes() -> None:
    """An unchanged level still lacks what paper took; a level shown anew is whole again."""
    walked = WalkedBook()
    walked.refresh(book(1, 0))
    assert walked.take(Side.BUY, 0.3) == [(100.5, 0.2), (101.0, pytest.approx(0.1))]
    walked.refresh(book(2, 10))  # the same levels: nothing of ours was given back
    assert walked.take(Side.BUY, 0.3) == [(101.0, pytest.approx(0.2)), (102.0, pytest.approx(0.1))]
    refreshed = [(100.5, 0.2), (101.0, 0.4), (102.0, 1.0)]  # 100.5 unchanged, 101 anew
    walked.refresh(book(3, 20, asks=refreshed))
    assert walked.take(Side.BUY, 0.5) == [(101.0, 0.4), (102.0, pytest.approx(0.1))]


def test_a_late_target_fills_at_the_ask_on_arrival_not_the_old_price() -> None:
    """Computed at 101.00, delivered 2 s later when the ask is 120.50: it pays 120.50."""
    ex = engine(latency_ms=50)
    ex.on_tick(quote(1, 0, 100.5, 101.0), now_ns=0)
    ex.on_tick(quote(2, 1000, 110.0, 110.5), now_ns=0)
    ex.on_tick(quote(3, 2000, 120.0, 120.5), now_ns=0)
    late = replace(target("late", 0.5, 1, 0), ttl_ms=5000)
    assert fills(ex.on_target(late, now_ns=0)) == []  # arrives at 2,050 ms: no book yet
    assert fills(ex.on_tick(quote(4, 2040, 120.0, 120.5), now_ns=0)) == []  # before arrival
    events = ex.on_tick(quote(5, 2060, 120.0, 120.5), now_ns=0)
    [fill] = [e for e in events if isinstance(e, Fill)]
    assert (fill.price, fill.tick_seq) == (120.5, 5)


def test_a_target_later_than_its_ttl_is_rejected_not_filled() -> None:
    ex = engine(latency_ms=50)
    ex.on_tick(quote(1, 0, 100.5, 101.0), now_ns=0)
    ex.on_tick(quote(2, 2000, 120.0, 120.5), now_ns=0)
    [rejected] = ex.on_target(replace(target("late", 0.5, 1, 0), ttl_ms=1000), now_ns=0)
    assert isinstance(rejected, OrderRejected) and rejected.reason is RejectReason.EXPIRED_TARGET
    assert fills(ex.on_tick(quote(3, 2100, 120.0, 120.5), now_ns=0)) == []


def test_latency_jitter_is_seeded_above_its_floor_and_decides_the_arrival() -> None:
    """Same seed, same draws; never under the fixed part; the order waits for its own draw."""
    model = LatencyModel(50, 10, seed=3)
    many = [model.draw_ns() for _ in range(2000)]
    assert many[:3] == [LatencyModel(50, 10, seed=3).draw_ns() for _ in range(1)] + many[1:3]
    assert min(many) >= 50 * MS
    assert sum(many) / len(many) / MS == pytest.approx(60, abs=1.5)  # 50 + mean jitter 10
    assert [LatencyModel(50, 10, seed=4).draw_ns() for _ in range(3)] != many[:3]
    arrival_ns = T0 + many[0]
    ex = engine(latency_ms=50, jitter_ms=10, seed=3)
    ex.on_tick(quote(1, 0, 100.0, 100.5), now_ns=0)
    ex.on_target(target("a", 0.5, 1, 0), now_ns=0)
    early = replace(quote(2, 0, 100.0, 100.5), recv_ts_ns=arrival_ns - 1)
    assert fills(ex.on_tick(early, now_ns=0)) == []
    on_time = replace(quote(3, 0, 100.0, 100.5), recv_ts_ns=arrival_ns)
    assert fills(ex.on_tick(on_time, now_ns=0)) == [(0.5, 100.5)]


def trade(seq: int, t_ms: int, price: float, size: float, side: Side) -> Tick:
    return make_trade(
        seq=seq,
        recv_ts_ns=T0 + t_ms * MS,
        exch_ts_ns=T0 + t_ms * MS,
        last=price,
        last_size=size,
        side=side,
    )


def test_trades_alone_fill_at_their_price_up_to_their_size_on_the_aggressor_side() -> None:
    """No book seen: a buy fills on buy-aggressor trades after its arrival, up to their size."""
    ex = engine(latency_ms=50)
    ex.on_tick(trade(1, 0, 100.0, 0.1, Side.BUY), now_ns=0)
    assert fills(ex.on_target(target("a", 0.5, 1, 0), now_ns=0)) == []
    assert fills(ex.on_tick(trade(2, 30, 100.5, 1.0, Side.BUY), now_ns=0)) == []  # not arrived
    assert fills(ex.on_tick(trade(3, 60, 99.0, 1.0, Side.SELL), now_ns=0)) == []  # a sell's print
    assert fills(ex.on_tick(trade(4, 70, 101.0, 0.2, Side.BUY), now_ns=0)) == [(0.2, 101.0)]
    assert fills(ex.on_tick(trade(5, 80, 101.5, 1.0, Side.BUY), now_ns=0)) == [
        (pytest.approx(0.3), 101.5)
    ]
    assert ex.book("BTC/USD").position.qty == pytest.approx(0.5)


def test_once_a_book_is_seen_trades_fill_nothing() -> None:
    ex = engine(latency_ms=50)
    ex.on_tick(quote(1, 0, 100.0, 100.5, ask_size=0.1), now_ns=0)
    ex.on_target(target("a", 0.5, 1, 0), now_ns=0)
    assert fills(ex.on_tick(trade(2, 60, 100.5, 1.0, Side.BUY), now_ns=0)) == []
    assert fills(ex.on_tick(quote(3, 70, 100.0, 100.5, ask_size=1.0), now_ns=0)) == [(0.5, 100.5)]


def test_a_tick_without_levels_is_a_one_level_book() -> None:
    """Version-1 ticks and bookTicker imports: the top and its size, as before."""
    tick = make_tick(ask=100.5, ask_size=0.25)
    assert sweep_price(tick, Side.BUY, 0.25) == 100.5
    assert sweep_price(tick, Side.BUY, 0.3) is None
