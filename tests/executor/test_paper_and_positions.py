"""Paper fills and position arithmetic on hand-checkable tick sequences."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from common.messages import Fill, Liquidity, OrderRejected, OrderType, RejectReason, Side, Target
from services.executor.engine import ExecutionEngine
from services.executor.order_executor import NEVER, OrderTerms
from services.executor.paper import PaperOrderExecutor
from services.executor.positions import PositionState
from services.executor.risk import RiskEngine, RiskLimits
from tests.factories import make_tick
from venues.kraken.pairs import PairRules

MS = 1_000_000
T0 = 1_000_000_000_000
PAIRS = {
    "BTC/USD": PairRules(
        "BTC/USD", 1, 8, Decimal("0.1"), Decimal("0.00000001"), Decimal("0.0001"), Decimal("0.5")
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


def quote(
    seq: int, t_ms: int, bid: float, ask: float, bid_size: float = 1.0, ask_size: float = 1.0
):
    return make_tick(
        seq=seq,
        recv_ts_ns=T0 + t_ms * MS,
        exch_ts_ns=T0 + t_ms * MS,
        bid=bid,
        ask=ask,
        bid_size=bid_size,
        ask_size=ask_size,
    )


def target(id_: str, position: float, seq: int, t_ms: int, ref: float = 100.0) -> Target:
    return Target(
        id=id_,
        symbol="BTC/USD",
        target_position=position,
        ref_price=ref,
        tick_seq=seq,
        tick_ts_ns=T0 + t_ms * MS,
        created_ns=0,
        ttl_ms=10**9,
    )


def engine(
    latency_ms: float = 50, fee_bps: float = 40, limits: RiskLimits = LOOSE
) -> ExecutionEngine:
    paper = PaperOrderExecutor(PAIRS, latency_ms=latency_ms, taker_fee_bps=fee_bps)
    return ExecutionEngine(RiskEngine(limits), paper, order_prefix="o")


def fills(events: list[object]) -> list[Fill]:
    return [e for e in events if isinstance(e, Fill)]


def test_fill_waits_for_the_latency_and_takes_the_ask_then() -> None:
    """Submitted at t=0 with 50 ms latency: the 30 ms tick is too early, the 60 ms one fills."""
    ex = engine()
    ex.on_tick(quote(1, 0, 100.0, 100.5), now_ns=0)
    assert fills(ex.on_target(target("a", 0.5, 1, 0), now_ns=0)) == []
    assert fills(ex.on_tick(quote(2, 30, 101.0, 101.5), now_ns=0)) == []
    [fill] = fills(ex.on_tick(quote(3, 60, 102.0, 102.5), now_ns=0))
    assert (fill.side, fill.qty, fill.price, fill.tick_seq) == (Side.BUY, 0.5, 102.5, 3)
    assert fill.fee == pytest.approx(0.5 * 102.5 * 0.004)
    assert fill.liquidity is Liquidity.TAKER


def test_order_larger_than_the_top_fills_partially_over_ticks() -> None:
    """2.0 to buy, 0.75 then 1.0 then 0.25 shown at the ask: three fills at three prices."""
    ex = engine(latency_ms=0)
    ex.on_tick(quote(1, 0, 100.0, 100.5, ask_size=0.75), now_ns=0)
    events = ex.on_target(target("a", 2.0, 1, 0), now_ns=0)
    got = fills(events)
    got += fills(ex.on_tick(quote(2, 10, 100.0, 101.0, ask_size=1.0), now_ns=0))
    got += fills(ex.on_tick(quote(3, 20, 100.0, 102.0, ask_size=5.0), now_ns=0))
    assert [(f.qty, f.price) for f in got] == [(0.75, 100.5), (1.0, 101.0), (0.25, 102.0)]
    assert ex.book("BTC/USD").position.qty == pytest.approx(2.0)


def test_average_cost_realized_and_unrealized_pnl_by_hand() -> None:
    """Buy 1 @100, buy 1 @110 (avg 105), sell 1.5 @120: realized 22.5; flip, then mark."""
    position = PositionState("BTC/USD")
    for side, qty, price in [(Side.BUY, 1, 100), (Side.BUY, 1, 110), (Side.SELL, 1.5, 120)]:
        position.apply(
            Fill(
                order_id="x",
                symbol="BTC/USD",
                side=side,
                qty=qty,
                price=price,
                fee=1.0,
                liquidity=Liquidity.TAKER,
                tick_seq=1,
                ts_ns=1,
            )
        )
    assert (position.qty, position.avg_price) == (0.5, 105.0)
    assert position.realized_pnl == pytest.approx(22.5)
    position.apply(
        Fill(
            order_id="x",
            symbol="BTC/USD",
            side=Side.SELL,
            qty=1.0,
            price=130,
            fee=1.0,
            liquidity=Liquidity.TAKER,
            tick_seq=1,
            ts_ns=1,
        )
    )
    assert (position.qty, position.avg_price) == (-0.5, 130.0)  # through zero: opens at 130
    assert position.realized_pnl == pytest.approx(22.5 + 12.5)
    position.mark_price = 120.0
    assert position.unrealized_pnl == pytest.approx(5.0)
    assert position.equity == pytest.approx(35.0 + 5.0 - 4.0)


@pytest.mark.parametrize(
    ("position", "ref", "reason"),
    [
        (0.00005, 100.0, RejectReason.MIN_ORDER_SIZE),  # below Kraken's 0.0001 BTC
        (0.001, 100.0, RejectReason.MIN_COST),
    ],  # 0.1 USD < 0.5 USD minimum cost
)
def test_kraken_pair_rules_reject_what_kraken_would(
    position: float, ref: float, reason: RejectReason
) -> None:
    """Minimum size and minimum cost are rejections with their reason code."""
    ex = engine()
    ex.on_tick(quote(1, 0, 99.5, 100.0), now_ns=0)
    [rejected] = ex.on_target(target("a", position, 1, 0, ref=ref), now_ns=0)
    assert isinstance(rejected, OrderRejected) and rejected.reason is reason


def test_a_move_smaller_than_one_lot_is_no_order_at_all() -> None:
    """Already at the target to Kraken's lot size: nothing to send, nothing to reject."""
    ex = engine()
    ex.on_tick(quote(1, 0, 99.5, 100.0), now_ns=0)
    assert ex.on_target(target("a", 0.000000004, 1, 0), now_ns=0) == []


def test_quantity_is_cut_to_the_lot_size() -> None:
    """Kraken's lot is 1e-8 BTC: 0.123456789 becomes 0.12345678."""
    paper = PaperOrderExecutor(PAIRS, latency_ms=0, taker_fee_bps=0)
    qty, refusal = paper.conform("BTC/USD", 0.123456789, 60_000.0)
    assert refusal is None and qty == 0.12345678


def test_same_ticks_and_targets_give_the_same_fills_in_any_arrival_order() -> None:
    """Shuffle how the two streams interleave, targets early or on time: the fills do not change.

    A target that arrives after later ticks is priced on the market at its
    arrival (tests/executor/test_book_walk.py); a replay's watermark keeps
    targets on time, which is what makes replays repeat.
    """
    rng = random.Random(7)
    ticks = [
        quote(i, i * 20, 100 + (i % 7) * 0.5, 100.5 + (i % 7) * 0.5, ask_size=0.3, bid_size=0.3)
        for i in range(1, 200)
    ]
    targets = [
        target(f"t{i}", [0.5, -0.4, 0.9, 0.0][i % 4], seq, seq * 20)
        for i, seq in enumerate(range(5, 190, 9))
    ]
    reference = None
    for trial in range(6):
        ex = engine(latency_ms=45)
        pending_targets = list(targets)
        got: list[Fill] = []
        for tick in ticks:
            got += fills(ex.on_tick(tick, now_ns=0))
            while pending_targets and rng.random() < 0.5 and trial > 0:
                got += fills(ex.on_target(pending_targets.pop(0), now_ns=0))
            while pending_targets and pending_targets[0].tick_seq <= tick.seq:
                got += fills(ex.on_target(pending_targets.pop(0), now_ns=0))
        assert pending_targets == []  # none late: each went at its tick at the latest
        signature = [(f.side, f.qty, f.price, f.tick_seq) for f in got]
        if reference is None:
            reference = signature
        assert sorted(signature, key=lambda s: (s[3], s[0], s[1])) == sorted(
            reference, key=lambda s: (s[3], s[0], s[1])
        )
    assert reference


def test_round_trip_of_inexact_float_sums_ends_at_exactly_zero() -> None:
    """Buy 0.01771045 then 0.04811139, then target 0: flat exactly (floats left 1e-8 BTC)."""
    ex = engine(latency_ms=0, fee_bps=40)
    done = []
    for seq, wanted in enumerate((0.01771045, 0.06582184, 0.0), start=1):
        done += fills(ex.on_tick(quote(seq, seq, 100.0, 100.5), now_ns=0))
        done += fills(ex.on_target(target(f"t{seq}", wanted, seq, seq), now_ns=0))
    assert [(f.side, f.qty) for f in done] == [
        (Side.BUY, 0.01771045),
        (Side.BUY, 0.04811139),
        (Side.SELL, 0.06582184),
    ]
    assert ex.book("BTC/USD").position.qty == 0.0


def test_fills_off_the_lot_grid_are_journaled_on_it_with_fees_rounded() -> None:
    """What one order leaves of a quote's size (0.3 - 0.1 in floats) fills as 0.2 exactly."""
    ex = engine(latency_ms=0, fee_bps=40)
    ex.on_tick(quote(1, 0, 100.0, 100.3, ask_size=0.3), now_ns=0)
    done = fills(ex.on_target(target("a", 0.1, 1, 0), now_ns=0))
    done += fills(ex.on_target(target("b", 0.5, 1, 0), now_ns=0))
    assert [f.qty for f in done] == [0.1, 0.2]
    assert [f.fee for f in done] == [0.04012, 0.08024]
    assert ex.book("BTC/USD").position.qty == 0.3


def test_fee_and_realized_totals_carry_no_binary_residue() -> None:
    """Fees 0.1 + 0.2 total 0.3 (floats say 0.30000000000000004); PnL at 8 decimals."""
    position = PositionState("BTC/USD")
    for side, price, fee in ((Side.BUY, 100.0, 0.1), (Side.SELL, 100.1, 0.2)):
        position.apply(
            Fill(
                order_id="o",
                symbol="BTC/USD",
                side=side,
                qty=0.3,
                price=price,
                fee=fee,
                liquidity=Liquidity.TAKER,
                tick_seq=1,
                ts_ns=1,
            )
        )
    assert position.fees == 0.3
    assert position.realized_pnl == 0.03  # 0.3 x 0.1; floats say 0.029999999999998295
    assert position.qty == 0.0


def test_a_symbol_is_quiet_until_its_first_market_order_reaches_the_venue() -> None:
    """`quiet_until`: a market order fills at no tick before its arrival (`due_ns`);
    a limit order (it rests and may fill on any tick) leaves no tick quiet."""
    paper = PaperOrderExecutor(PAIRS, latency_ms=20, taker_fee_bps=0)
    assert paper.quiet_until("BTC/USD") == NEVER
    paper.submit("m1", "t1", "BTC/USD", Side.BUY, 0.1, T0)  # due at T0 + 20 ms
    paper.submit("m2", "t2", "BTC/USD", Side.BUY, 0.1, T0 + 5 * MS)
    assert paper.quiet_until("BTC/USD") == T0 + 20 * MS
    assert paper.on_tick(quote(1, 19, 99.0, 101.0)) == []  # what makes it true
    assert paper.quiet_until("ETH/USD") == NEVER  # another symbol's orders
    paper.submit("l1", "t3", "BTC/USD", Side.BUY, 0.1, T0, OrderTerms(OrderType.LIMIT, 99.0))
    assert paper.quiet_until("BTC/USD") is None


def test_a_symbol_whose_book_paper_took_from_is_not_quiet_until_the_level_shows_anew() -> None:
    """Every refresh matters while paper remembers a taking: no tick is quiet until then."""
    paper = PaperOrderExecutor(PAIRS, latency_ms=0, taker_fee_bps=0)
    paper.submit("m1", "t1", "BTC/USD", Side.BUY, 0.1, T0)
    assert len(paper.on_tick(quote(1, 1, 99.0, 101.0, ask_size=1.0))) == 1  # 0.1 of 1.0 taken
    assert paper.quiet_until("BTC/USD") == 0  # no tick is quiet: each refresh must be seen
    paper.on_tick(quote(2, 2, 99.0, 101.0, ask_size=0.7))  # the venue's news about that level
    assert paper.quiet_until("BTC/USD") == NEVER
